package specs

import (
	"context"
	"fmt"
	"math/big"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// hostileTask is a job file whose task's args are expr.
func hostileTask(expr string) string {
	return "job \"j\" {\n  task \"t\" {\n    image = \"i\"\n    args  = " + expr + "\n  }\n}\n"
}

// hostileSources are job files that once took a parser down or kept it
// busy for minutes, with what refuses each: a Refused reason (or "" for an
// ordinary error) and the start of the diagnostic in FormatDiagnostic form.
var hostileSources = []struct {
	name   string
	src    string
	opts   ParseOptions
	reason string
	want   string
}{
	{name: "brackets", src: "x = " + strings.Repeat("[", 100_000),
		reason: RefusedShape, want: "h.hcl:1:69: Nesting too deep"},
	{name: "braces", src: "x = " + strings.Repeat("{", 100_000),
		reason: RefusedShape, want: "h.hcl:1:69: Nesting too deep"},
	{name: "parentheses", src: "x = " + strings.Repeat("(", 100_000),
		reason: RefusedShape, want: "h.hcl:1:69: Nesting too deep"},
	{name: "interpolations", src: "x = " + strings.Repeat(`"${`, 50_000),
		reason: RefusedShape, want: "h.hcl:1:101: Nesting too deep"},
	{name: "unary operators", src: "x = " + strings.Repeat("-", 100_000) + "1",
		reason: RefusedShape, want: "h.hcl:1:69: Nesting too deep"},
	{name: "splats", src: "x = a" + strings.Repeat("[*]", 100_000),
		reason: RefusedShape, want: "h.hcl:1:198: Nesting too deep"},
	{name: "operator chain", src: "x = " + strings.Repeat("1 + ", 50_000) + "1",
		reason: RefusedShape, want: "h.hcl:1:5: Expression too deeply nested"},
	{name: "nested for over range(1e6)",
		src:    hostileTask(`[for a in range(1e6): [for b in range(1e6): [for c in range(1e6): "${a}${b}${c}"]]]`),
		reason: "", want: `h.hcl:4:23: Error in function call; Call to function "range" failed: more than 1024 values`},
	{name: "nested for over range(1000)",
		src:    hostileTask(`[for a in range(1000): [for b in range(1000): [for c in range(1000): "${a}${b}${c}"]]]`),
		reason: RefusedWork, want: "h.hcl:4:85: Expression too costly"},
	{name: "nested for in try",
		src:    hostileTask(`[for a in range(1000): try([for b in range(1000): [for c in range(1000): c]], "x")]`),
		reason: RefusedWork, want: "h.hcl:4:86: Expression too costly"},
	{name: "range(1e9)", src: hostileTask(`range(1e9)`),
		reason: "", want: `h.hcl:4:13: Error in function call; Call to function "range" failed`},
	{name: "format width", src: hostileTask(`[format("%999999999d", 1)]`),
		reason: RefusedWork, want: "h.hcl:4:14: Expression too costly; Calling format here could build"},
	{name: "formatlist width", src: hostileTask(`formatlist("%0999999d", range(1000))`),
		reason: RefusedWork, want: "h.hcl:4:13: Expression too costly; Calling formatlist here could build"},
	{name: "join separators", src: hostileTask(`[join(format("%100000s", "x"), range(1000))]`),
		reason: RefusedWork, want: "h.hcl:4:14: Expression too costly; Calling join here could build"},
	{name: "repeated references", src: "variable \"s\" {\n  default = join(\"\", formatlist(\"%1000s\", range(1000)))\n}\n" +
		hostileTask("["+strings.Repeat("var.s, ", 1000)+"]"),
		reason: RefusedWork, want: "h.hcl:7:105: Expression too costly"},
	{name: "huge heredoc", src: "x = <<EOT\n" + strings.Repeat("heredoc ", 300_000) + "\nEOT\n",
		reason: RefusedSize, want: "h.hcl:1:1: Source too large"},
	{name: "heredoc bomb", src: hostileTask("[<<EOT\n${join(\"\", [for i in range(1000): join(\"\", formatlist(\"%1000s\", range(1000)))])}\nEOT\n]"),
		reason: RefusedWork, want: "h.hcl:5:65: Expression too costly"},
	{name: "heredoc of many lines", src: "x = <<EOT\n" + strings.Repeat("echo\n", 200_000) + "EOT\n",
		reason: RefusedShape, want: "h.hcl:1:5: Template too long"},
	{name: "string of dollars", src: `x = "` + strings.Repeat("$", 1_000_000) + `"`,
		reason: RefusedShape, want: "h.hcl:1:5: Template too long"},
	{name: "long number", src: "x = " + strings.Repeat("7", 1_000_000),
		reason: RefusedShape, want: "h.hcl:1:5: Number too long"},
	{name: "huge number written out", src: hostileTask(`["${1e900000}"]`),
		reason: RefusedShape, want: "h.hcl:4:17: Number too large"},
	{name: "huge product written out", src: hostileTask(`[tostring(` + strings.Repeat("1e999 * ", 200) + `1)]`),
		reason: RefusedWork, want: "h.hcl:4:23: Expression too costly"},
	{name: "digits converted to a number", src: hostileTask(`[for i in range(1000): tostring(tonumber(format("%09000d", 1)))]`),
		reason: RefusedWork, want: "h.hcl:4:54: Expression too costly"},
	{name: "distinct", src: hostileTask(`[for x in distinct(flatten([for a in range(100): range(1000)])): tostring(x)]`),
		reason: RefusedWork, want: "h.hcl:4:32: Expression too costly"},
	{name: "jsondecode nesting", src: hostileTask(`[jsondecode("` + strings.Repeat("[", 100_000) + `")]`),
		reason: RefusedShape, want: "h.hcl:4:14: Nesting too deep"},
	{name: "deep -var value", src: "variable \"v\" {\n  type = list(string)\n}\n" + hostileTask("var.v"),
		opts:   ParseOptions{Vars: map[string]string{"v": strings.Repeat("[", 100_000)}},
		reason: RefusedShape, want: "<value for var.v>:1:65: Nesting too deep"},
	{name: "for bomb in a -var value", src: "variable \"v\" {\n  type = list(string)\n}\n" + hostileTask("var.v"),
		opts:   ParseOptions{Vars: map[string]string{"v": `[for a in [` + strings.Repeat("1,", 500) + `]: [for b in [` + strings.Repeat("1,", 500) + `]: "x"]]`}},
		reason: RefusedWork, want: "<value for var.v>:1:"},
	{name: "digits in a -var value", src: "variable \"n\" {\n  type = number\n}\n" + hostileTask(`["${var.n}"]`),
		opts:   ParseOptions{Vars: map[string]string{"n": strings.Repeat("7", 1_000_000)}},
		reason: RefusedWork, want: "Expression too costly"},
	{name: "deep JSON var file", src: "variable \"v\" {\n  default = 1\n}\n",
		opts:   ParseOptions{VarFiles: []Source{{Filename: "v.json", Src: []byte(`{"v": ` + strings.Repeat("[", 100_000))}}},
		reason: RefusedShape, want: "v.json:1:70: Nesting too deep"},
	{name: "deep HCL var file", src: "variable \"v\" {\n  default = 1\n}\n",
		opts:   ParseOptions{VarFiles: []Source{{Filename: "v.hcl", Src: []byte(`v = ` + strings.Repeat("{", 100_000))}}},
		reason: RefusedShape, want: "v.hcl:1:69: Nesting too deep"},
}

func TestParseRefusesHostileSources(t *testing.T) {
	// A source nested too deeply must be refused before the parser
	// recurses: with the stack limited to eight times what the deepest
	// allowed source takes, one that is not crashes the test.
	old := debug.SetMaxStack(16 << 20)
	defer debug.SetMaxStack(old)
	for _, tt := range hostileSources {
		t.Run(tt.name, func(t *testing.T) {
			f, diags, allocated := parseBounded(t, tt.src, tt.opts)
			if f != nil {
				t.Fatal("got a model, want none")
			}
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1:\n%s", len(diags), formatDiagnostics(diags))
			}
			if got := FormatDiagnostic(diags[0]); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want it to start %q", got, tt.want)
			}
			var reason string
			if r := Refused(diags); r != nil {
				reason = r.Reason
			}
			if reason != tt.reason {
				t.Errorf("got refusal %q, want %q", reason, tt.reason)
			}
			// Generous: the attacks took gigabytes; the refusals take
			// tens of megabytes, mostly the parser's tokens.
			if allocated > 512<<20 {
				t.Errorf("parse allocated %d MiB, want at most 512 MiB", allocated>>20)
			}
		})
	}
}

// parseBounded parses src with opts, failing the test if the parse does not
// end within 10s, which is generous by a factor of ten on a slow machine,
// and returns the model, the diagnostics and the bytes the parse
// allocated (with those of anything else running meanwhile).
func parseBounded(tb testing.TB, src string, opts ParseOptions) (*File, hcl.Diagnostics, uint64) {
	tb.Helper()
	type result struct {
		file      *File
		diags     hcl.Diagnostics
		allocated uint64
	}
	done := make(chan result, 1)
	go func() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, diags := Parse("h.hcl", []byte(src), opts)
		runtime.ReadMemStats(&after)
		done <- result{f, diags, after.TotalAlloc - before.TotalAlloc}
	}()
	select {
	case r := <-done:
		return r.file, r.diags, r.allocated
	case <-time.After(10 * time.Second):
		tb.Fatalf("Parse did not finish in 10s")
		return nil, nil, 0
	}
}

// TestParseAcceptsWhatExamplesNeed pins that the limits stay far from
// sensible files: a large file without loops, loops a job file might
// write, and every example and valid test file with a hundredth of the
// default budget.
func TestParseAcceptsWhatExamplesNeed(t *testing.T) {
	var many strings.Builder
	for i := range 500 {
		fmt.Fprintf(&many, "job \"j%d\" {\n  task \"t\" {\n    image = \"registry.example.com/app:%d\"\n"+
			"    args  = [\"--id\", \"%d\", \"--verbose\"]\n    env   = { A = \"1\", B = \"2\" }\n  }\n}\n", i, i, i)
	}
	tests := []struct {
		name string
		src  string
	}{
		{name: "500 jobs", src: many.String()},
		{name: "loops", src: hostileTask(`flatten([for z in ["a", "b", "c"] : [for i in range(100) : "${z}-${i}"]])`)},
		{name: "long list", src: hostileTask(`[for i in range(1024) : format("%05d", i)]`)},
		{name: "long heredoc", src: hostileTask("[<<EOT\n" + strings.Repeat("echo hello world from a script of a few thousand lines\n", 4000) + "EOT\n]")},
		{name: "nested deep enough", src: hostileTask(`flatten(` + strings.Repeat("[", 40) + `"x"` + strings.Repeat("]", 40) + `)`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags, _ := parseBounded(t, tt.src, ParseOptions{})
			if len(diags) > 0 {
				t.Fatalf("got diagnostics:\n%s", formatDiagnostics(diags))
			}
		})
	}
	small := Limits{MaxEvalSteps: DefaultMaxEvalSteps / 100, MaxEvalBytes: DefaultMaxEvalBytes / 100}
	for _, name := range validInputs(t) {
		src := readFileTB(t, name)
		opts := testOptions(t, src)
		opts.Limits = small
		if _, diags := Parse(name, src, opts); len(diags) > 0 {
			t.Errorf("%s with a hundredth of the budget: got\n%s", name, formatDiagnostics(diags))
		}
	}
}

func TestParseContextStopsWhenCanceled(t *testing.T) {
	// Without a budget to speak of, only the context stops this.
	opts := ParseOptions{Limits: Limits{MaxEvalSteps: 1 << 60, MaxEvalBytes: 1 << 60}}
	src := hostileTask(`[for a in range(1000): [for b in range(1000): [for c in range(1000): "${a}${b}${c}"]]]`)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan hcl.Diagnostics, 1)
	go func() {
		_, diags := ParseContext(ctx, "h.hcl", []byte(src), opts)
		done <- diags
	}()
	time.Sleep(50 * time.Millisecond) // let evaluation start; the parse takes minutes
	cancel()
	select {
	case diags := <-done:
		if r := Refused(diags); r == nil || r.Reason != RefusedCanceled || len(diags) != 1 {
			t.Fatalf("got\n%s\nwant one refusal %q", formatDiagnostics(diags), RefusedCanceled)
		}
		if got := FormatDiagnostic(diags[0]); !strings.HasPrefix(got, "h.hcl:4:") || !strings.Contains(got, "context canceled") {
			t.Errorf("got %q, want a position in the loop and the context's error", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ParseContext did not stop within 10s of its context being canceled")
	}
}

func TestMeasure(t *testing.T) {
	digits, _, _ := big.ParseFloat("1e6400", 10, 512, big.ToNearestEven)
	strs := make([]cty.Value, 640)
	for i := range strs {
		strs[i] = cty.StringVal("x")
	}
	tests := []struct {
		name         string
		v            cty.Value
		steps, bytes int64
	}{
		{name: "short string", v: cty.StringVal("abc"), steps: 1, bytes: elementBytes + 3},
		{name: "list", v: cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}), steps: 3, bytes: 3*elementBytes + 2},
		{name: "map", v: cty.MapVal(map[string]cty.Value{"key": cty.StringVal("b")}), steps: 2, bytes: 2*elementBytes + 4},
		{name: "long run of digits", v: cty.StringVal(strings.Repeat("1", 6400) + "x"), steps: 1 + 100 + 100*100, bytes: elementBytes + 6401},
		{name: "large number", v: cty.NumberVal(digits), steps: 1 + 100*100, bytes: elementBytes + 6401},
		{name: "long tuple", v: cty.TupleVal(strs), steps: 1 + 640 + 100, bytes: 641*elementBytes + 640},
		{name: "long list", v: cty.ListVal(strs), steps: 1 + 640, bytes: 641*elementBytes + 640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := measure(tt.v, 1<<62, 1<<62)
			if m.steps != tt.steps || m.bytes != tt.bytes {
				t.Errorf("got %d steps and %d bytes, want %d and %d", m.steps, m.bytes, tt.steps, tt.bytes)
			}
		})
	}
	// Measuring stops soon after the limit, so it costs no more than
	// what it charges.
	if m := measure(cty.ListVal(strs), 10, 1<<62); m.steps > 12 {
		t.Errorf("with a limit of 10 steps: got %d steps, want at most 12", m.steps)
	}
}
