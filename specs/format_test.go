package specs

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestFormatRoundTrip checks that formatting is stable and changes nothing
// a job file means.
func TestFormatRoundTrip(t *testing.T) {
	for _, name := range validInputs(t) {
		t.Run(name, func(t *testing.T) {
			src := readFileTB(t, name)
			once := Format(src)
			if twice := Format(once); !bytes.Equal(twice, once) {
				t.Errorf("Format is not idempotent: got\n%s\nafter\n%s", twice, once)
			}
			opts := testOptions(t, src)
			want := parseTB(t, string(src), opts)
			got := parseTB(t, string(once), opts)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(Format(src)) got\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
			}
		})
	}
}

// TestFormatGolden formats every testdata/fmt/*.input and compares the
// result with the .golden file beside it.
func TestFormatGolden(t *testing.T) {
	for _, name := range globTB(t, "testdata/fmt/*.input") {
		t.Run(name, func(t *testing.T) {
			got := Format(readFileTB(t, name))
			compareGolden(t, strings.TrimSuffix(name, ".input")+".golden", got)
		})
	}
}

func TestFormatDiagnostic(t *testing.T) {
	at := func(file string, line, col int) *hcl.Range {
		p := hcl.Pos{Line: line, Column: col}
		return &hcl.Range{Filename: file, Start: p, End: p}
	}
	tests := []struct {
		name string
		diag hcl.Diagnostic
		want string
	}{
		{
			name: "full",
			diag: hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate job", Detail: "A job named \"x\" is already defined.", Subject: at("a.hcl", 12, 5)},
			want: `a.hcl:12:5: Duplicate job; A job named "x" is already defined.`,
		},
		{
			name: "no detail",
			diag: hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Broken", Subject: at("a.hcl", 1, 1)},
			want: "a.hcl:1:1: Broken",
		},
		{
			name: "file without position",
			diag: hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Broken", Detail: "Badly.", Subject: &hcl.Range{Filename: "a.hcl"}},
			want: "a.hcl: Broken; Badly.",
		},
		{
			name: "no subject",
			diag: hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable", Detail: "Nope."},
			want: "Undeclared variable; Nope.",
		},
		{
			name: "multi-line detail",
			diag: hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Broken", Detail: "First line.\n\n  Second line.\n"},
			want: "Broken; First line. Second line.",
		},
		{
			name: "warning",
			diag: hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Deprecated", Subject: at("a.hcl", 2, 3)},
			want: "a.hcl:2:3: warning: Deprecated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatDiagnostic(&tt.diag); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
