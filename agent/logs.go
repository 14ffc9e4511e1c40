package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/docketd/docket/scheduler/api"
)

// Handler serves the agent's own HTTP API: health and metrics. Task logs
// are not served here: they go to the server on the node's channel
// (relayLogs), where the caller's token is checked.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Health{Status: "ok"})
	})
	mux.HandleFunc("GET /metrics", a.serveMetrics)
	if a.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	jsonEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, api.ErrorResponse{Error: api.Error{Code: code, Message: fmt.Sprintf(format, args...)}})
}

// followPoll is how often a followed log is checked for new output.
const followPoll = 100 * time.Millisecond

// logs serves a task's stdout or stderr: the last ?tail lines (default
// all), and with ?follow=true what it writes from then on, until the
// allocation ends or the client goes away.
func (a *Agent) logs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	allocDir := filepath.Join(a.cfg.DataDir, "allocs", id)
	if !cleanID.MatchString(id) {
		writeError(w, http.StatusBadRequest, "invalid_allocation", "allocation id %q is not valid", id)
		return
	}
	task := q.Get("task")
	if task == "" {
		entries, err := os.ReadDir(allocDir)
		var dirs []string
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, e.Name())
			}
		}
		switch {
		case err != nil || len(dirs) == 0:
			writeError(w, http.StatusNotFound, "logs_not_found", "no logs for allocation %s on this node", id)
			return
		case len(dirs) > 1:
			writeError(w, http.StatusBadRequest, "task_required", "allocation %s has several tasks %v: name one with ?task=", id, dirs)
			return
		}
		task = dirs[0]
	}
	stream := q.Get("stream")
	if stream == "" {
		stream = "stdout"
	}
	if stream != "stdout" && stream != "stderr" {
		writeError(w, http.StatusBadRequest, "invalid_stream", "stream %q: use stdout or stderr", stream)
		return
	}
	if !cleanID.MatchString(task) {
		writeError(w, http.StatusBadRequest, "invalid_task", "task %q is not valid", task)
		return
	}
	tail := -1
	if v := q.Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid_tail", "tail %q is not a number of lines", v)
			return
		}
		tail = n
	}
	path := filepath.Join(allocDir, task, stream+".log")
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			writeError(w, http.StatusNotFound, "logs_not_found", "no %s log for task %s of allocation %s on this node", stream, task, id)
			return
		}
		writeError(w, http.StatusInternalServerError, "internal", "%v", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if tail >= 0 {
		if err := writeTail(w, path, a.cfg.LogMaxFiles, tail); err != nil {
			f.Close()
			return
		}
		f.Seek(0, io.SeekEnd)
	} else {
		if err := writeRotated(w, path, a.cfg.LogMaxFiles); err != nil {
			f.Close()
			return
		}
		if _, err := io.Copy(w, f); err != nil {
			f.Close()
			return
		}
	}
	if q.Get("follow") != "true" {
		f.Close()
		return
	}
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	a.follow(r, w, flusher, f, path, filepath.Join(allocDir, finishedFile))
}

// follow streams what is appended to the log, reopening it when it is
// rotated, until the allocation has finished and the log is drained. It
// closes f.
func (a *Agent) follow(r *http.Request, w io.Writer, flusher http.Flusher, f *os.File, path, finished string) {
	defer func() { f.Close() }()
	for {
		n, err := io.Copy(w, f)
		if err != nil {
			return
		}
		if n > 0 && flusher != nil {
			flusher.Flush()
		}
		if fi, err := os.Stat(path); err == nil {
			if cur, err := f.Stat(); err == nil && !os.SameFile(fi, cur) {
				// Rotated: drain the old file, then go on with the new one.
				io.Copy(w, f)
				nf, err := os.Open(path)
				if err != nil {
					return
				}
				f.Close()
				f = nf
				continue
			}
		}
		if n == 0 {
			if _, err := os.Stat(finished); err == nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(followPoll):
		}
	}
}

// writeRotated writes the rotated files of a log, oldest first.
func writeRotated(w io.Writer, path string, keep int) error {
	for i := keep; i >= 1; i-- {
		f, err := os.Open(path + "." + strconv.Itoa(i))
		if err != nil {
			continue
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeTail writes the last n lines of a log and its rotated files.
func writeTail(w io.Writer, path string, keep, n int) error {
	if n == 0 {
		return nil
	}
	var lines [][]byte
	files := []string{path}
	for i := 1; i <= keep; i++ {
		files = append(files, path+"."+strconv.Itoa(i))
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		var these [][]byte
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			these = append(these, append(append([]byte(nil), sc.Bytes()...), '\n'))
		}
		lines = append(these, lines...)
		if len(lines) >= n {
			break
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		if _, err := w.Write(l); err != nil {
			return err
		}
	}
	return nil
}
