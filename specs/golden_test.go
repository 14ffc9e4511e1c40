package specs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// update rewrites golden files instead of comparing with them:
// go test ./specs -run Golden -update
var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenInvalid parses every testdata/invalid/*.hcl and compares its
// diagnostics, one per line in FormatDiagnostic form, with the .golden file
// beside it.
func TestGoldenInvalid(t *testing.T) {
	files := globTB(t, "testdata/invalid/*.hcl")
	if len(files) < 25 {
		t.Errorf("got %d invalid inputs, want at least 25", len(files))
	}
	for _, name := range files {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".hcl"), func(t *testing.T) {
			src := readFileTB(t, name)
			f, diags := Parse(name, src, testOptions(t, src))
			if !diags.HasErrors() {
				t.Fatalf("got no errors, want some")
			}
			if f != nil {
				t.Errorf("got a model with errors, want nil")
			}
			for _, d := range diags {
				if d.Subject == nil && !bytes.Contains(src, []byte("#@ var ")) {
					t.Errorf("diagnostic %q has no subject", FormatDiagnostic(d))
				}
			}
			compareGolden(t, strings.TrimSuffix(name, ".hcl")+".golden", []byte(formatDiagnostics(diags)))
		})
	}
}

// TestGoldenValid parses every testdata/valid/*.hcl and compares the model,
// as indented JSON, with the .json file beside it, which pins the JSON field
// names the API carries.
func TestGoldenValid(t *testing.T) {
	for _, name := range globTB(t, "testdata/valid/*.hcl") {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".hcl"), func(t *testing.T) {
			src := readFileTB(t, name)
			f, diags := Parse(name, src, testOptions(t, src))
			if len(diags) > 0 {
				t.Fatalf("got diagnostics:\n%s", formatDiagnostics(diags))
			}
			got, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, strings.TrimSuffix(name, ".hcl")+".json", append(got, '\n'))
		})
	}
}

// testOptions reads the ParseOptions a test file asks for in comment lines:
//
//	#@ var name=value
//	#@ env DOCKET_VAR_name=value
//	#@ var-file testdata/invalid/some.vars
//	#@ queue-exists name
func testOptions(tb testing.TB, src []byte) ParseOptions {
	tb.Helper()
	var opts ParseOptions
	var existing []string
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		directive, ok := strings.CutPrefix(sc.Text(), "#@ ")
		if !ok {
			continue
		}
		verb, arg, _ := strings.Cut(directive, " ")
		switch verb {
		case "var":
			k, v, _ := strings.Cut(arg, "=")
			if opts.Vars == nil {
				opts.Vars = make(map[string]string)
			}
			opts.Vars[k] = v
		case "env":
			opts.Env = append(opts.Env, arg)
		case "var-file":
			opts.VarFiles = append(opts.VarFiles, Source{Filename: arg, Src: readFileTB(tb, arg)})
		case "queue-exists":
			existing = append(existing, arg)
		default:
			tb.Fatalf("unknown test directive %q", directive)
		}
	}
	if existing != nil {
		opts.QueueExists = func(name string) bool { return slices.Contains(existing, name) }
	}
	return opts
}

func formatDiagnostics(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(FormatDiagnostic(d))
		b.WriteByte('\n')
	}
	return b.String()
}

// compareGolden compares got with the golden file, or rewrites the file
// under -update.
func compareGolden(tb testing.TB, golden string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want := readFileTB(tb, golden)
	if !bytes.Equal(got, want) {
		tb.Errorf("%s: got\n%s\nwant\n%s", golden, got, want)
	}
}

func readFileTB(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func globTB(tb testing.TB, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no files match %s", pattern)
	}
	return files
}
