package imagetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/ocibuild"
)

func TestGoBinaryIsStaticAndCached(t *testing.T) {
	bin := TestProg(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("open binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a dynamic loader; want a static binary", bin)
		}
	}

	info, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	again, built, err := goBinary("./testprog") // the same package by another name
	if err != nil {
		t.Fatal(err)
	}
	if built || again != bin {
		t.Errorf("second build: got %s (built %v), want the cached %s", again, built, bin)
	}
	if info2, err := os.Stat(again); err != nil || !os.SameFile(info, info2) || !info2.ModTime().Equal(info.ModTime()) {
		t.Errorf("cached binary was rewritten")
	}
}

func TestGoBinaryKeyFollowsSources(t *testing.T) {
	// A throwaway module of its own, so the test writes nothing into the
	// source tree.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.test/keytest\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(msg string) {
		t.Helper()
		src := "package main\n\nfunc main() { println(\"" + msg + "\") }\n"
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "CGO_ENABLED=0")
	key := func() string {
		t.Helper()
		k, name, err := cacheKey(env, dir, ".")
		if err != nil {
			t.Fatal(err)
		}
		if name != "keytest" {
			t.Errorf("got binary name %q, want keytest", name)
		}
		return k
	}
	write("one")
	first := key()
	if again := key(); again != first {
		t.Errorf("same sources: got keys %s and %s", first, again)
	}
	write("two")
	if changed := key(); changed == first {
		t.Errorf("changed source kept key %s", first)
	}

	if _, _, err := cacheKey(env, "", "../ocibuild"); err == nil || !strings.Contains(err.Error(), "not a main package") {
		t.Errorf("library package: got error %v, want \"not a main package\"", err)
	}
}

func TestTestProg(t *testing.T) {
	bin := TestProg(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("file content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.txt")

	for _, tc := range []struct {
		name       string
		args       []string
		env        []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "echo", args: []string{"echo", "hello", "from", "docket"}, wantStdout: "hello from docket\n"},
		{name: "stderr and exit", args: []string{"stderr", "boom", ";", "exit", "3"}, wantCode: 3, wantStderr: "boom\n"},
		{name: "steps stop at exit", args: []string{"exit", "0", ";", "echo", "unreached"}},
		{name: "env", args: []string{"env"}, env: []string{"B=2", "A=1"}, wantStdout: "A=1\nB=2\n"},
		{name: "cat", args: []string{"cat", in, in}, wantStdout: "file content\nfile content\n"},
		{name: "write then cat", args: []string{"write", out, "x", "y", ";", "cat", out}, wantStdout: "x y\n"},
		{name: "sleep", args: []string{"sleep", "10ms", ";", "echo", "woke"}, wantStdout: "woke\n"},
		{name: "alloc-mem", args: []string{"alloc-mem", "8"}, wantStdout: "allocated 8 MiB\n"},
		{name: "spin", args: []string{"spin", "20ms", ";", "echo", "done"}, wantStdout: "done\n"},
		{name: "pwd", args: []string{"pwd"}, wantStdout: dir + "\n"},
		{name: "id", args: []string{"id"}, wantStdout: "uid=" + strconv.Itoa(os.Getuid()) + " gid=" + strconv.Itoa(os.Getgid()) + "\n"},
		{name: "unknown step", args: []string{"frobnicate"}, wantCode: 1, wantStderr: "testprog: frobnicate: unknown step\n"},
		{name: "missing file", args: []string{"cat", filepath.Join(dir, "nope")}, wantCode: 1,
			wantStderr: "testprog: cat: open " + filepath.Join(dir, "nope") + ": no such file or directory\n"},
		{name: "no arguments", wantCode: 2,
			wantStderr: "testprog: usage: testprog STEP [ARGS] [; STEP [ARGS]]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir = dir
			cmd.Env = tc.env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("got exit code %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			if got := stdout.String(); got != tc.wantStdout {
				t.Errorf("got stdout %q, want %q", got, tc.wantStdout)
			}
			if got := stderr.String(); got != tc.wantStderr {
				t.Errorf("got stderr %q, want %q", got, tc.wantStderr)
			}
		})
	}
}

func TestTestProgSignals(t *testing.T) {
	const running = -1
	for _, tc := range []struct {
		name string
		args []string
		// script is played in order: a string is the next line expected on
		// stdout, a signal is sent.
		script   []any
		wantCode int // once the script has played, or running
	}{
		{
			name:     "trap-term goes on after one",
			args:     []string{"trap-term", ";", "echo", "after"},
			script:   []any{"ready", syscall.SIGTERM, "got SIGTERM", "after"},
			wantCode: 0,
		},
		{
			name:     "ignore-term keeps running",
			args:     []string{"ignore-term", ";", "echo", "after"},
			script:   []any{"ready", syscall.SIGTERM, "got SIGTERM", syscall.SIGTERM, "got SIGTERM"},
			wantCode: running,
		},
		{
			name:     "SIGTERM ends a sleep with 143",
			args:     []string{"echo", "up", ";", "sleep", "1h"},
			script:   []any{"up", syscall.SIGTERM},
			wantCode: 143,
		},
		{
			name:     "SIGINT ends a sleep with 130",
			args:     []string{"echo", "up", ";", "sleep", "1h"},
			script:   []any{"up", syscall.SIGINT},
			wantCode: 130,
		},
		{
			name:     "SIGTERM after trap-term is fatal",
			args:     []string{"trap-term", ";", "echo", "after", ";", "sleep", "1h"},
			script:   []any{"ready", syscall.SIGTERM, "got SIGTERM", "after", syscall.SIGTERM},
			wantCode: 143,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Our own pipe rather than StdoutPipe: Wait closes that one,
			// possibly before the last line has been read.
			stdout, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdout.Close()
			cmd := exec.Command(TestProg(t), tc.args...)
			cmd.Stdout = w
			err = cmd.Start()
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() {
				cmd.Wait()
				close(exited)
			}()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})

			lines := bufio.NewScanner(stdout)
			for _, step := range tc.script {
				switch step := step.(type) {
				case string:
					if !lines.Scan() {
						t.Fatalf("got end of output, want %q", step)
					}
					if lines.Text() != step {
						t.Fatalf("got line %q, want %q", lines.Text(), step)
					}
				case syscall.Signal:
					if err := cmd.Process.Signal(step); err != nil {
						t.Fatal(err)
					}
				}
			}

			if tc.wantCode == running {
				select {
				case <-exited:
					t.Fatalf("exited with %d, want it to keep running", cmd.ProcessState.ExitCode())
				default:
				}
				return
			}
			select {
			case <-exited:
				if got := cmd.ProcessState.ExitCode(); got != tc.wantCode {
					t.Errorf("got exit code %d (%v), want %d", got, cmd.ProcessState, tc.wantCode)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10s after the script")
			}
		})
	}
}

func TestArchive(t *testing.T) {
	path := Archive(t, "docket.test/testprog:v1", map[string]string{
		"/testprog":         TestProg(t),
		"/usr/bin/testprog": TestProg(t),
	}, "/testprog", "echo")

	entries := readTar(t, path)
	var index struct {
		Manifests []struct {
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(entries["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("got %d manifests, want 1", len(index.Manifests))
	}
	ann := index.Manifests[0].Annotations
	if got := ann[ocibuild.AnnotationImageName]; got != "docket.test/testprog:v1" {
		t.Errorf("got image name %q, want docket.test/testprog:v1", got)
	}
	if got := ann[ocibuild.AnnotationRefName]; got != "v1" {
		t.Errorf("got ref name %q, want v1", got)
	}
	if filepath.Base(path) != "docket.test_testprog_v1.tar" {
		t.Errorf("got archive name %s", filepath.Base(path))
	}
}

// readTar returns the regular files of a tar archive by name.
func readTar(t testing.TB, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := make(map[string][]byte)
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
}
