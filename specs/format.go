package specs

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical HCL layout: the output of "docket fmt".
// It only lays out tokens, so it works on files that do not validate, but a
// file with syntax errors may come back only partly formatted.
func Format(src []byte) []byte {
	return hclwrite.Format(src)
}

// FormatDiagnostic renders d on one line as "file:line:col: summary; detail".
// The "; detail" part is left out when there is no detail, the position is
// just "file: " when d names a file but no line, and there is no prefix at
// all when d has no subject. Line breaks in the text become spaces, so every
// diagnostic is one line.
func FormatDiagnostic(d *hcl.Diagnostic) string {
	var b strings.Builder
	if s := d.Subject; s != nil {
		switch {
		case s.Start.Line > 0:
			fmt.Fprintf(&b, "%s:%d:%d: ", s.Filename, s.Start.Line, s.Start.Column)
		case s.Filename != "":
			fmt.Fprintf(&b, "%s: ", s.Filename)
		}
	}
	if d.Severity == hcl.DiagWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(oneLine(d.Summary))
	if detail := oneLine(d.Detail); detail != "" {
		b.WriteString("; ")
		b.WriteString(detail)
	}
	return b.String()
}

// oneLine joins the non-blank lines of s with spaces.
func oneLine(s string) string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, " ")
}
