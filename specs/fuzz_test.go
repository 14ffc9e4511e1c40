package specs

import (
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// FuzzParse checks Parse's contract on any input: it never panics, every
// diagnostic has a position and fits on one line, and it returns either
// errors and no model, or a model that Validate accepts unchanged and that
// survives the JSON round trip the API puts it through. It runs with the
// goroutine stack limited to 16 MiB, eight times what the deepest source
// Limits allow takes, so that a source the nesting checks let through to
// recurse deeply crashes the fuzzer instead of slipping by.
func FuzzParse(f *testing.F) {
	old := debug.SetMaxStack(16 << 20)
	f.Cleanup(func() { debug.SetMaxStack(old) })
	for _, pattern := range []string{
		"testdata/valid/*.hcl",
		"testdata/invalid/*.hcl",
		"testdata/invalid/*.vars",
		"testdata/fmt/*.input",
		"../examples/*.hcl",
	} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			f.Add(readFileTB(f, name))
		}
	}
	// Sources that once crashed the parser or kept it busy for minutes,
	// cut short: two thousand brackets are as deep as a hundred thousand.
	for _, h := range hostileSources {
		f.Add([]byte(h.src[:min(len(h.src), 2000)]))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		// A parse that does not finish is a denial of service for the
		// server, which parses job files sent over the API: fail with the
		// input instead of hanging the fuzzer.
		type parsed struct {
			file  *File
			diags hcl.Diagnostics
		}
		done := make(chan parsed, 1)
		go func() {
			f, d := Parse("fuzz.hcl", src, ParseOptions{})
			done <- parsed{f, d}
		}()
		var file *File
		var diags hcl.Diagnostics
		select {
		case p := <-done:
			file, diags = p.file, p.diags
		case <-time.After(10 * time.Second):
			t.Fatalf("Parse did not finish in 10s on %q", src)
		}
		for _, d := range diags {
			line := FormatDiagnostic(d)
			if d.Subject == nil || d.Subject.Filename != "fuzz.hcl" {
				t.Errorf("diagnostic without a position in the file: %s", line)
			}
			if strings.Contains(line, "\n") {
				t.Errorf("diagnostic on several lines: %q", line)
			}
		}
		if diags.HasErrors() {
			if file != nil {
				t.Fatalf("got a model along with errors:\n%s", formatDiagnostics(diags))
			}
			return
		}
		if file == nil {
			t.Fatal("got neither a model nor errors")
		}
		back := jsonRoundTrip(t, file)
		if err := back.Validate(ValidateOptions{}); err != nil {
			t.Fatalf("Validate after a JSON round trip: got %v, want nil", err)
		}
		if !reflect.DeepEqual(back, file) {
			t.Fatalf("after a JSON round trip and Validate got\n%s\nwant\n%s", mustJSON(t, back), mustJSON(t, file))
		}
	})
}
