// Package logdriver is the log driver containerd's shim runs for each task
// Docket starts: it copies the task's stdout and stderr into rotated files
// in the task's log directory. It is a separate process, a child of the
// shim, so task output keeps flowing while the agent is down, and the task
// never blocks on its output. It imports only the standard library, so the
// small docket-logger executable that runs it starts in about a
// millisecond: the shim waits for it before every container start.
package logdriver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The log driver's protocol, set by containerd's shim (see containerd's
// runtime/v2/logging): the task's stdout and stderr arrive on these file
// descriptors, and closing the last one tells the shim the driver is
// ready, after which the shim starts the task.
const (
	loggerStdoutFD = 3
	loggerStderrFD = 4
	loggerReadyFD  = 5
)

// drainTimeout is how long the logger keeps copying after the shim asks it
// to stop (SIGTERM, when the task is deleted): the shim has closed its ends
// of the pipes by then, so what is left is only what the pipes still hold.
const drainTimeout = 2 * time.Second

// copyBufferSize is the most the logger reads from a pipe at once.
const copyBufferSize = 32 << 10

// Log file names in a task's log directory; rotated files get ".1" (the
// newest) to ".N".
const (
	StdoutLog = "stdout.log"
	StderrLog = "stderr.log"
)

// Options are what the log driver needs to know of a task.
type Options struct {
	Dir      string // where stdout.log and stderr.log go
	MaxBytes int64  // rotate a file before it exceeds this size; 0 never
	MaxFiles int    // rotated files kept per stream
}

// Encode returns the options as the log driver's one argument, a URL query
// such as "dir=%2Fvar%2Flog%2Fx&max-bytes=1048576&max-files=3": the shim
// passes it through a binary:// URI, whose query carries it.
func (o Options) Encode() string {
	return url.Values{
		"dir":       {o.Dir},
		"max-bytes": {strconv.FormatInt(o.MaxBytes, 10)},
		"max-files": {strconv.Itoa(o.MaxFiles)},
	}.Encode()
}

// parseOptions reads the log driver's arguments: exactly one, as
// encode makes it.
func parseOptions(args []string) (Options, error) {
	if len(args) != 1 {
		return Options{}, fmt.Errorf("logger: got %d arguments, want one (dir=DIR&max-bytes=N&max-files=N)", len(args))
	}
	q, err := url.ParseQuery(args[0])
	if err != nil {
		return Options{}, fmt.Errorf("logger: %w", err)
	}
	o := Options{Dir: q.Get("dir")}
	if o.Dir == "" || !filepath.IsAbs(o.Dir) {
		return Options{}, fmt.Errorf("logger: dir %q is not an absolute path", o.Dir)
	}
	if v := q.Get("max-bytes"); v != "" {
		if o.MaxBytes, err = strconv.ParseInt(v, 10, 64); err != nil || o.MaxBytes < 0 {
			return Options{}, fmt.Errorf("logger: max-bytes %q is not a size", v)
		}
	}
	if v := q.Get("max-files"); v != "" {
		if o.MaxFiles, err = strconv.Atoi(v); err != nil || o.MaxFiles < 0 {
			return Options{}, fmt.Errorf("logger: max-files %q is not a count", v)
		}
	}
	return o, nil
}

// Run is the log driver containerd's shim runs for each task, as
// "BINARY KEY OPTIONS" (see agent/containerd's Config): docket-logger and
// the hidden "docket logger" command call it with OPTIONS. It
// writes the task's stdout and stderr, which it reads from file
// descriptors 3 and 4, to stdout.log and stderr.log in the directory
// OPTIONS names, rotating them by size, and returns when both streams end,
// which is when the shim deletes the task. It never stops reading, so the
// task never blocks on its output, even when the disk is full.
func Run(args []string) error {
	opts, err := parseOptions(args)
	if err != nil {
		return err
	}
	stdout := os.NewFile(loggerStdoutFD, "stdout")
	stderr := os.NewFile(loggerStderrFD, "stderr")
	ready := os.NewFile(loggerReadyFD, "ready")
	if stdout == nil || stderr == nil || ready == nil {
		return errors.New("logger: not started by a containerd shim (no file descriptors 3, 4 and 5)")
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	defer signal.Stop(term)
	return copyLogs(opts, stdout, stderr, ready.Close, term, drainTimeout)
}

// copyLogs copies stdout and stderr into their log files until both end, or
// until drain has passed since stop delivered. It calls ready once the
// files are open.
func copyLogs(opts Options, stdout, stderr io.Reader, ready func() error, stop <-chan os.Signal, drain time.Duration) error {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	var files []*rotatingFile
	defer func() {
		for _, f := range files {
			f.close()
		}
	}()
	for _, name := range []string{StdoutLog, StderrLog} {
		f, err := openRotating(filepath.Join(opts.Dir, name), opts.MaxBytes, opts.MaxFiles)
		if err != nil {
			return fmt.Errorf("logger: %w", err)
		}
		files = append(files, f)
	}
	if err := ready(); err != nil {
		return fmt.Errorf("logger: signal ready: %w", err)
	}

	var wg sync.WaitGroup
	for i, r := range []io.Reader{stdout, stderr} {
		wg.Go(func() { files[i].copyFrom(r) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-stop:
	}
	select {
	case <-done:
	case <-time.After(drain):
		// What is still blocked on a read has nothing more to write; what
		// was written is on disk, as nothing is buffered.
	}
	return nil
}

// rotatingFile is one stream's log file. When it has reached maxBytes, it
// renames path to path.1, path.1 to path.2 and so on, dropping
// path.maxFiles, and starts an empty path. It rotates between lines: a
// write that would take the file past maxBytes is split after its last
// line that fits, and a line the task wrote in pieces is finished in the
// file it began in, which may take that file past maxBytes by less than a
// line. A line longer than maxBytes is cut into pieces of maxBytes.
type rotatingFile struct {
	path     string
	maxBytes int64 // 0: no rotation
	maxFiles int
	f        *os.File
	size     int64
	// lineLen is the length of the unfinished line the file ends with.
	lineLen int64
	// failed holds the last write error, for tests; the logger cannot
	// report it (its output goes nowhere) and does not stop for it.
	failed error
}

// openRotating opens path for appending: a task started again with the
// same log directory continues its files.
func openRotating(path string, maxBytes int64, maxFiles int) (*rotatingFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rotatingFile{path: path, maxBytes: maxBytes, maxFiles: maxFiles, f: f, size: info.Size()}, nil
}

// copyFrom writes everything read from r until r ends or fails.
func (rf *rotatingFile) copyFrom(r io.Reader) {
	buf := make([]byte, copyBufferSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			rf.write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// write writes p, rotating as needed. Errors drop the data, so that the
// pipe keeps draining; a failed rotation lets the file grow past its limit
// rather than lose output.
func (rf *rotatingFile) write(p []byte) {
	if rf.maxBytes == 0 {
		rf.put(p)
		return
	}
	for len(p) > 0 {
		room := rf.maxBytes - rf.size
		var n int
		if rf.lineLen > 0 {
			// Finish the file's last line here, unless the line is longer
			// than a file.
			rest := len(p)
			if i := bytes.IndexByte(p, '\n'); i >= 0 {
				rest = i + 1
			}
			switch {
			case rf.lineLen+int64(rest) <= rf.maxBytes:
				n = rest
			case room > 0:
				n = int(min(room, int64(rest)))
			default:
				if !rf.rotate() {
					n = len(p)
				}
			}
		} else {
			switch {
			case int64(len(p)) <= room:
				n = len(p)
			case room > 0 && bytes.LastIndexByte(p[:room], '\n') >= 0:
				n = bytes.LastIndexByte(p[:room], '\n') + 1 // the lines that fit
			case rf.size > 0:
				if !rf.rotate() { // the next line starts a file
					n = len(p)
				}
			default:
				n = int(min(rf.maxBytes, int64(len(p)))) // a line longer than a file
			}
		}
		if n == 0 {
			continue // rotated
		}
		rf.put(p[:n])
		p = p[n:]
		if rf.size >= rf.maxBytes && rf.lineLen == 0 {
			rf.rotate()
		}
	}
}

// put writes p to the file and keeps count.
func (rf *rotatingFile) put(p []byte) {
	written, err := rf.f.Write(p)
	if err != nil {
		rf.failed = err
	}
	rf.size += int64(written)
	if i := bytes.LastIndexByte(p[:written], '\n'); i >= 0 {
		rf.lineLen = int64(written - i - 1)
	} else {
		rf.lineLen += int64(written)
	}
}

// rotate shifts the rotated files by one and starts path afresh, or
// empties path when no rotated files are kept. It reports whether path is
// now empty.
func (rf *rotatingFile) rotate() bool {
	if rf.maxFiles == 0 {
		if err := rf.f.Truncate(0); err != nil {
			rf.failed = err
			return false
		}
		rf.size, rf.lineLen = 0, 0
		return true
	}
	os.Remove(rf.path + "." + strconv.Itoa(rf.maxFiles))
	for i := rf.maxFiles - 1; i >= 1; i-- {
		old := rf.path + "." + strconv.Itoa(i)
		if err := os.Rename(old, rf.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			rf.failed = err
		}
	}
	if err := os.Rename(rf.path, rf.path+".1"); err != nil {
		rf.failed = err
		return false
	}
	f, err := os.OpenFile(rf.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		// Keep writing to the renamed file rather than lose output.
		rf.failed = err
		return false
	}
	rf.f.Close()
	rf.f, rf.size, rf.lineLen = f, 0, 0
	return true
}

func (rf *rotatingFile) close() { rf.f.Close() }
