package logdriver

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLoggerOptions(t *testing.T) {
	want := Options{Dir: "/var/lib/docket/logs/a b&c=d%", MaxBytes: 10 << 20, MaxFiles: 3}
	got, err := parseOptions([]string{want.Encode()})
	if err != nil || got != want {
		t.Errorf("round trip: got %+v, %v, want %+v", got, err, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"none", nil, "want one"},
		{"two", []string{"dir=/x", "max-bytes=1"}, "want one"},
		{"no dir", []string{"max-bytes=1"}, "not an absolute path"},
		{"relative dir", []string{"dir=logs"}, "not an absolute path"},
		{"bad size", []string{"dir=/x&max-bytes=ten"}, "not a size"},
		{"negative size", []string{"dir=/x&max-bytes=-1"}, "not a size"},
		{"bad count", []string{"dir=/x&max-files=-2"}, "not a count"},
		{"bad query", []string{"dir=%zz"}, "invalid URL escape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseOptions(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// lines returns n numbered lines of 8 bytes: "line 00\n".
func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %02d\n", i)
	}
	return b.String()
}

func TestRotatingFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxBytes int64
		maxFiles int
		existing string // stdout.log before
		writes   []string
		want     map[string]string // file name → content
	}{
		{
			name:   "no limit",
			writes: []string{lines(0, 10)},
			want:   map[string]string{"stdout.log": lines(0, 10)},
		},
		{
			name:     "appends to an existing file",
			maxBytes: 100,
			maxFiles: 1,
			existing: lines(0, 2),
			writes:   []string{lines(2, 4)},
			want:     map[string]string{"stdout.log": lines(0, 4)},
		},
		{
			name:     "rotates keeping two, one write",
			maxBytes: 20, // two lines fit, not three
			maxFiles: 2,
			writes:   []string{lines(0, 10)},
			want: map[string]string{
				"stdout.log":   lines(8, 10),
				"stdout.log.1": lines(6, 8),
				"stdout.log.2": lines(4, 6),
			},
		},
		{
			name:     "rotates keeping two, line by line",
			maxBytes: 20,
			maxFiles: 2,
			writes:   strings.SplitAfter(lines(0, 10), "\n"),
			want: map[string]string{
				"stdout.log":   lines(8, 10),
				"stdout.log.1": lines(6, 8),
				"stdout.log.2": lines(4, 6),
			},
		},
		{
			name:     "lines split across writes stay whole",
			maxBytes: 20,
			maxFiles: 5,
			writes:   []string{"line 00\nli", "ne 01\nline", " 02\nline 03\n"},
			want: map[string]string{
				// The file ended in "line" when full: line 02 is finished
				// there.
				"stdout.log":   lines(3, 4),
				"stdout.log.1": lines(0, 3),
			},
		},
		{
			name:     "a full file rotates at once",
			maxBytes: 16,
			maxFiles: 1,
			writes:   []string{lines(0, 2)},
			want: map[string]string{
				"stdout.log":   "",
				"stdout.log.1": lines(0, 2),
			},
		},
		{
			name:     "no rotated files kept",
			maxBytes: 20,
			maxFiles: 0,
			writes:   []string{lines(0, 5)},
			want:     map[string]string{"stdout.log": lines(4, 5)},
		},
		{
			name:     "a line longer than a file is cut",
			maxBytes: 10,
			maxFiles: 3,
			writes:   []string{strings.Repeat("a", 25) + "\n"},
			want: map[string]string{
				"stdout.log":   "aaaaa\n",
				"stdout.log.1": "aaaaaaaaaa",
				"stdout.log.2": "aaaaaaaaaa",
			},
		},
		{
			name:     "an existing file past the limit rotates first",
			maxBytes: 20,
			maxFiles: 1,
			existing: lines(0, 4),
			writes:   []string{lines(4, 5)},
			want: map[string]string{
				"stdout.log":   lines(4, 5),
				"stdout.log.1": lines(0, 4),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "stdout.log")
			if tc.existing != "" {
				if err := os.WriteFile(path, []byte(tc.existing), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			rf, err := openRotating(path, tc.maxBytes, tc.maxFiles)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.writes {
				rf.write([]byte(w))
			}
			rf.close()
			if rf.failed != nil {
				t.Errorf("write error: %v", rf.failed)
			}
			if got := readDir(t, dir); !maps.Equal(got, tc.want) {
				t.Errorf("got files %q, want %q", got, tc.want)
			}
		})
	}
}

// readDir returns the files of dir by name.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func TestCopyLogs(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool // stop the logger with the write ends still open
	}{
		{name: "until both streams end"},
		{name: "stopped while a stream stays open", stop: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "made", "by", "the", "logger")
			outR, outW := pipe(t)
			errR, errW := pipe(t)
			readyC := make(chan struct{})
			stop := make(chan os.Signal, 1)
			done := make(chan error, 1)
			go func() {
				ready := func() error { close(readyC); return nil }
				done <- copyLogs(Options{Dir: dir}, outR, errR, ready, stop, 10*time.Millisecond)
			}()
			select {
			case <-readyC:
			case err := <-done:
				t.Fatalf("logger returned before it was ready: %v", err)
			}
			io.WriteString(outW, "to stdout\n")
			io.WriteString(errW, "to stderr\n")
			if tc.stop {
				waitFile(t, filepath.Join(dir, StdoutLog), "to stdout\n")
				waitFile(t, filepath.Join(dir, StderrLog), "to stderr\n")
				stop <- syscall.SIGTERM
			} else {
				outW.Close()
				errW.Close()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("logger: %v", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("logger still running")
			}
			want := map[string]string{StdoutLog: "to stdout\n", StderrLog: "to stderr\n"}
			if got := readDir(t, dir); !maps.Equal(got, want) {
				t.Errorf("got files %q, want %q", got, want)
			}
		})
	}
}

// TestRunProtocol runs the test binary as the shim runs the log
// driver: the streams on file descriptors 3 and 4, readiness on 5.
func TestRunProtocol(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	outR, outW := pipe(t)
	errR, errW := pipe(t)
	readyR, readyW := pipe(t)
	opts := Options{Dir: dir, MaxBytes: 16, MaxFiles: 1}
	cmd := exec.Command(exe, testLoggerArg, opts.Encode())
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for _, f := range []*os.File{outR, errR, readyW} {
		f.Close() // the logger's now
	}
	// Ready is the end of the pipe, once the logger closes its end.
	if n, err := readyR.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("ready pipe: got %d bytes, %v, want EOF", n, err)
	}
	io.WriteString(outW, lines(0, 3))
	io.WriteString(errW, "oops\n")
	outW.Close()
	errW.Close()
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("logger: %v; stderr %q", waitErr, stderr.String())
		}
	case <-time.After(testTimeout):
		t.Fatal("logger still running after its streams ended")
	}
	want := map[string]string{"stdout.log": lines(2, 3), "stdout.log.1": lines(0, 2), "stderr.log": "oops\n"}
	if got := readDir(t, dir); !maps.Equal(got, want) {
		t.Errorf("got files %q, want %q", got, want)
	}
}

func TestRunWithoutShim(t *testing.T) {
	err := Run([]string{"dir=relative"})
	if err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("got %v, want an error about the directory", err)
	}
}

// pipe returns a pipe closed when t ends.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// waitFile polls until the file at path holds want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %s %q, want %q", filepath.Base(path), b, want)
		}
		<-tick.C
	}
}

// testLoggerArg makes the test binary the log driver for TestRunProtocol.
const testLoggerArg = "docket-test-logger"

const testTimeout = time.Minute

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == testLoggerArg {
		if err := Run(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
