package specs

import (
	"reflect"
	"strings"
	"testing"
)

// parseTB parses src with opts and fails the test on any diagnostic.
func parseTB(tb testing.TB, src string, opts ParseOptions) *File {
	tb.Helper()
	f, diags := Parse("test.hcl", []byte(src), opts)
	if len(diags) > 0 {
		tb.Fatalf("got diagnostics:\n%s", formatDiagnostics(diags))
	}
	return f
}

func TestVariablePrecedence(t *testing.T) {
	const src = `
variable "tag" {
  default = "default"
}

job "web" {
  task "main" {
    image = "busybox:${var.tag}"
  }
}
`
	varFile := func(tag string) Source {
		return Source{Filename: "vars-" + tag + ".hcl", Src: []byte(`tag = "` + tag + `"`)}
	}
	tests := []struct {
		name string
		opts ParseOptions
		want string
	}{
		{name: "default", want: "default"},
		{name: "env over default", opts: ParseOptions{Env: []string{"DOCKET_VAR_tag=env"}}, want: "env"},
		{name: "last env entry wins", opts: ParseOptions{Env: []string{"DOCKET_VAR_tag=env1", "DOCKET_VAR_tag=env2"}}, want: "env2"},
		{name: "other env ignored", opts: ParseOptions{Env: []string{"DOCKET_VAR_other=x", "TAG=y", "DOCKET_VAR_tag"}}, want: "default"},
		{
			name: "var file over env",
			opts: ParseOptions{Env: []string{"DOCKET_VAR_tag=env"}, VarFiles: []Source{varFile("file")}},
			want: "file",
		},
		{
			name: "later var file over earlier",
			opts: ParseOptions{VarFiles: []Source{varFile("first"), varFile("second")}},
			want: "second",
		},
		{
			name: "json var file",
			opts: ParseOptions{VarFiles: []Source{{Filename: "vars.json", Src: []byte(`{"tag": "json"}`)}}},
			want: "json",
		},
		{
			name: "null in var file keeps earlier value",
			opts: ParseOptions{Env: []string{"DOCKET_VAR_tag=env"}, VarFiles: []Source{{Filename: "v.hcl", Src: []byte("tag = null")}}},
			want: "env",
		},
		{
			name: "-var over everything",
			opts: ParseOptions{
				Env:      []string{"DOCKET_VAR_tag=env"},
				VarFiles: []Source{varFile("file")},
				Vars:     map[string]string{"tag": "flag"},
			},
			want: "flag",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseTB(t, src, tt.opts)
			if got, want := f.Jobs[0].Tasks[0].Image, "busybox:"+tt.want; got != want {
				t.Errorf("got image %q, want %q", got, want)
			}
		})
	}
}

func TestVariableConversion(t *testing.T) {
	tests := []struct {
		name    string
		typ     string // the variable's type expression, or "" for none
		value   string // the -var value
		use     string // how the job uses var.v: "count", "args" or "env"
		want    any    // the job's count, args or env
		wantErr string
	}{
		{name: "number", typ: "number", value: "3", use: "count", want: 3},
		{name: "number is read as a string", typ: "number", value: " 7 ", use: "count", wantErr: "a number is required"},
		{name: "decimal number", typ: "number", value: "1e1", use: "count", want: 10},
		{name: "not a number", typ: "number", value: "three", use: "count", wantErr: "a number is required"},
		{name: "untyped stays a string", value: "[1]", use: "args", want: []string{"[1]"}},
		{name: "string keeps quotes", typ: "string", value: `"q"`, use: "args", want: []string{`"q"`}},
		{name: "bool", typ: "bool", value: "true", use: "args", want: []string{"true"}},
		{name: "bad bool", typ: "bool", value: "yes", use: "args", wantErr: "a bool is required"},
		{name: "list", typ: "list(string)", value: `["a", "b"]`, use: "args", want: []string{"a", "b"}},
		{name: "list of numbers", typ: "list(number)", value: `[1, 2]`, use: "args", want: []string{"1", "2"}},
		{name: "list syntax error", typ: "list(string)", value: `[a`, use: "args", wantErr: "<value for var.v>:1:"},
		{name: "list wants a list", typ: "list(string)", value: `"a"`, use: "args", wantErr: "list of string required"},
		{name: "no references", typ: "list(string)", value: `[var.x]`, use: "args", wantErr: "Variables not allowed"},
		{name: "map", typ: "map(string)", value: `{ A = "1", B = 2 }`, use: "env", want: map[string]string{"A": "1", "B": "2"}},
		{name: "any is an expression", typ: "any", value: `["x"]`, use: "args", want: []string{"x"}},
		{name: "object", typ: "object({ n = number })", value: `{ n = 4 }`, use: "count", want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var decl, use string
			if tt.typ != "" {
				decl = "type = " + tt.typ
			}
			switch tt.use {
			case "count":
				use = "count = var.v"
				if strings.HasPrefix(tt.typ, "object") {
					use = "count = var.v.n"
				}
			case "args":
				use = "task \"main\" {\n image = \"x\"\n args = flatten([var.v])\n}"
			case "env":
				use = "task \"main\" {\n image = \"x\"\n env = var.v\n}"
			}
			if tt.use != "args" && tt.use != "env" {
				use += "\ntask \"main\" {\n image = \"x\"\n}"
			}
			src := "variable \"v\" {\n" + decl + "\n}\njob \"j\" {\n" + use + "\n}\n"
			f, diags := Parse("test.hcl", []byte(src), ParseOptions{Vars: map[string]string{"v": tt.value}})
			if tt.wantErr != "" {
				if !strings.Contains(formatDiagnostics(diags), tt.wantErr) || f != nil {
					t.Fatalf("got diagnostics %q and model %v, want an error containing %q", formatDiagnostics(diags), f, tt.wantErr)
				}
				return
			}
			if len(diags) > 0 {
				t.Fatalf("got diagnostics:\n%s", formatDiagnostics(diags))
			}
			var got any
			switch tt.use {
			case "count":
				got = f.Jobs[0].Count
			case "args":
				got = f.Jobs[0].Tasks[0].Args
			case "env":
				got = f.Jobs[0].Tasks[0].Env
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestQueueExists(t *testing.T) {
	const src = `
queue "local" {
  max_receives = 3
  dead_letter  = "shared-dead"
}

job "worker" {
  type  = "dispatch"
  queue = "shared"

  task "main" {
    image = "busybox"
  }
}
`
	tests := []struct {
		name   string
		exists func(string) bool
		want   []string // diagnostics
	}{
		{
			name: "no lookup",
			want: []string{
				`test.hcl:4:18: Undefined dead-letter queue; No queue named "shared-dead" is defined.`,
				`test.hcl:9:11: Undefined queue; No queue named "shared" is defined.`,
			},
		},
		{
			name:   "lookup knows both",
			exists: func(name string) bool { return strings.HasPrefix(name, "shared") },
		},
		{
			name:   "lookup knows the queue only",
			exists: func(name string) bool { return name == "shared" },
			want:   []string{`test.hcl:4:18: Undefined dead-letter queue; No queue named "shared-dead" is defined.`},
		},
		{
			name:   "lookup knows nothing",
			exists: func(string) bool { return false },
			want: []string{
				`test.hcl:4:18: Undefined dead-letter queue; No queue named "shared-dead" is defined.`,
				`test.hcl:9:11: Undefined queue; No queue named "shared" is defined.`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, diags := Parse("test.hcl", []byte(src), ParseOptions{QueueExists: tt.exists})
			var got []string
			for _, d := range diags {
				got = append(got, FormatDiagnostic(d))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got diagnostics\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if (f != nil) != (len(tt.want) == 0) {
				t.Errorf("got model %v with %d diagnostics", f, len(got))
			}
			if f == nil {
				return
			}
			if err := f.Validate(ValidateOptions{QueueExists: tt.exists}); err != nil {
				t.Errorf("Validate with the same lookup: got %v, want nil", err)
			}
			if err := f.Validate(ValidateOptions{}); err == nil {
				t.Errorf("Validate without a lookup: got nil, want an error")
			}
		})
	}
}
