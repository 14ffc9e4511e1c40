package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its stdout, stderr and exit
// status.
func runCLI(t *testing.T, environ []string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, environ)
	code := exitCode(err, &stderr)
	var ee exitError
	if err != nil && !errors.As(err, &ee) && code == 0 {
		t.Fatalf("error %v mapped to status 0", err)
	}
	return stdout.String(), stderr.String(), code
}

// cliRunner returns a function that runs the CLI against environ and
// fails the test unless it exits with want; it returns stdout and stderr.
func cliRunner(t *testing.T, environ []string) func(want int, args ...string) string {
	return func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, environ, args...)
		if code != want {
			t.Fatalf("docket %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}
}

func TestJobValidateAcceptsExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.hcl")
	if len(files) < 3 {
		t.Fatalf("found %d example job files, want at least 3", len(files))
	}
	out, errOut, code := runCLI(t, nil, append([]string{"job", "validate"}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	if got := strings.Count(out, ": ok ("); got != len(files) {
		t.Errorf("got %d ok lines, want %d:\n%s", got, len(files), out)
	}
}

// TestJobValidateRejectsInvalid runs `docket job validate` over every
// invalid job file of the specs golden tests and expects exactly the golden
// diagnostics and exit status 1. The files' "#@" lines become flags.
func TestJobValidateRejectsInvalid(t *testing.T) {
	t.Chdir("../../specs")
	files, _ := filepath.Glob("testdata/invalid/*.hcl")
	if len(files) < 20 {
		t.Fatalf("found %d invalid inputs, want at least 20", len(files))
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			golden, err := os.ReadFile(strings.TrimSuffix(name, ".hcl") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"job", "validate"}
			var environ []string
			for _, line := range strings.Split(string(src), "\n") {
				directive, ok := strings.CutPrefix(line, "#@ ")
				if !ok {
					continue
				}
				verb, arg, _ := strings.Cut(directive, " ")
				switch verb {
				case "var":
					args = append(args, "-var", arg)
				case "var-file":
					args = append(args, "-var-file", arg)
				case "env":
					environ = append(environ, arg)
				case "queue-exists":
					args = append(args, "--existing-queue", arg)
				default:
					t.Fatalf("unknown directive %q", line)
				}
			}
			out, errOut, code := runCLI(t, environ, append(args, name)...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (stderr %q)", code, errOut)
			}
			if out != string(golden) {
				t.Errorf("got diagnostics:\n%s\nwant:\n%s", out, golden)
			}
		})
	}
}

func TestFmtRoundTrip(t *testing.T) {
	inputs, _ := filepath.Glob("../../specs/testdata/fmt/*.input")
	if len(inputs) == 0 {
		t.Fatal("no fmt inputs")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, _ := os.ReadFile(in)
			want, err := os.ReadFile(strings.TrimSuffix(in, ".input") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "job.hcl")
			if err := os.WriteFile(path, src, 0o640); err != nil {
				t.Fatal(err)
			}
			if out, _, code := runCLI(t, nil, "fmt", "-check", path); code != 1 || strings.TrimSpace(out) != path {
				t.Fatalf("fmt -check on a messy file: exit %d, output %q; want 1 and the file's name", code, out)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, src) {
				t.Fatal("fmt -check changed the file")
			}
			if _, errOut, code := runCLI(t, nil, "fmt", path); code != 0 {
				t.Fatalf("fmt: exit %d: %s", code, errOut)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, want) {
				t.Fatalf("formatted:\n%s\nwant:\n%s", got, want)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Errorf("fmt changed the mode to %v", fi.Mode().Perm())
			}
			if out, _, code := runCLI(t, nil, "fmt", "-check", path); code != 0 || out != "" {
				t.Fatalf("fmt -check after fmt: exit %d, output %q; want 0 and nothing", code, out)
			}
		})
	}
}

func TestFmtRefusesBrokenInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.hcl")
	src := []byte("job \"x\" {\n  type = \n")
	os.WriteFile(path, src, 0o644)
	_, errOut, code := runCLI(t, nil, "fmt", path)
	if code != 1 || !strings.Contains(errOut, path+":") {
		t.Fatalf("exit %d, stderr %q; want 1 and a diagnostic naming the file", code, errOut)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, src) {
		t.Fatal("fmt rewrote a file that does not parse")
	}
}

func TestSingleDashLongFlags(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "job", "validate", "-var", "greeting=hi", "../../examples/hello.hcl")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("-var with one dash: exit %d, %q %q", code, out, errOut)
	}
	_, _, code = runCLI(t, nil, "job", "validate", "-var", "nope=1", "../../examples/hello.hcl")
	if code != 1 {
		t.Fatalf("undeclared -var: exit %d, want 1", code)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "docket dev") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}
