package specs

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// validInputs are the job files that must parse: testdata/valid and the
// examples users copy.
func validInputs(tb testing.TB) []string {
	tb.Helper()
	files := globTB(tb, "testdata/valid/*.hcl")
	examples, err := filepath.Glob("../examples/*.hcl")
	if err != nil {
		tb.Fatal(err)
	}
	return append(files, examples...)
}

// jsonRoundTrip returns f after a trip through JSON, as the API carries it.
func jsonRoundTrip(tb testing.TB, f *File) *File {
	tb.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	var back File
	if err := json.Unmarshal(b, &back); err != nil {
		tb.Fatalf("unmarshal %s: %v", b, err)
	}
	return &back
}

func TestValidateRoundTrip(t *testing.T) {
	for _, name := range validInputs(t) {
		t.Run(name, func(t *testing.T) {
			src := readFileTB(t, name)
			opts := testOptions(t, src)
			f := parseTB(t, string(src), opts)
			back := jsonRoundTrip(t, f)
			if err := back.Validate(ValidateOptions{QueueExists: opts.QueueExists}); err != nil {
				t.Fatalf("Validate: got %v, want nil", err)
			}
			if !reflect.DeepEqual(back, f) {
				t.Errorf("after a JSON round trip and Validate got\n%s\nwant\n%s", mustJSON(t, back), mustJSON(t, f))
			}
		})
	}
}

// TestValidateDefaults checks that Validate completes a sparse JSON model
// the way Parse completes a sparse job file.
func TestValidateDefaults(t *testing.T) {
	tests := []struct {
		name string
		json string
		hcl  string
	}{
		{
			name: "minimal job",
			json: `{"jobs":[{"name":"hello","tasks":[{"name":"main","image":"busybox","kill_timeout":"5s"}]}]}`,
			hcl: `
				job "hello" {
				  task "main" { image = "busybox" }
				}`,
		},
		{
			name: "queue and dispatch job",
			json: `{
				"queues":[{"name":"q","visibility_timeout":"30s"}],
				"jobs":[{"name":"d","type":"dispatch","queue":"q",
					"constraints":[{"attribute":"node.os","value":"linux"}],
					"spreads":[{"attribute":"node.class"}],
					"tasks":[{"name":"main","image":"busybox","kill_timeout":"5s","retry":{"delay":"10m"}}]}]}`,
			hcl: `
				queue "q" {}
				job "d" {
				  type  = "dispatch"
				  queue = "q"
				  constraint {
				    attribute = "node.os"
				    value     = "linux"
				  }
				  spread { attribute = "node.class" }
				  task "main" {
				    image = "busybox"
				    retry { delay = "10m" }
				  }
				}`,
		},
		{
			name: "scaled service",
			json: `{"queues":[{"name":"q","visibility_timeout":"30s"}],
				"jobs":[{"name":"s","queue":"q","scaling":{"max":5,"cooldown":"30s"},
					"tasks":[{"name":"main","image":"busybox","kill_timeout":"5s"}]}]}`,
			hcl: `
				queue "q" {}
				job "s" {
				  queue = "q"
				  scaling { max = 5 }
				  task "main" { image = "busybox" }
				}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got File
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			if err := got.Validate(ValidateOptions{}); err != nil {
				t.Fatalf("Validate: got %v, want nil", err)
			}
			want := parseTB(t, tt.hcl, ParseOptions{})
			if !reflect.DeepEqual(&got, want) {
				t.Errorf("got\n%s\nwant\n%s", mustJSON(t, &got), mustJSON(t, want))
			}
		})
	}
}

// TestValidateKeepsValidZeros pins the one way Validate's defaults differ
// from Parse's: JSON cannot tell an absent field from a zero one, so a field
// whose zero is a valid value keeps it rather than taking its default.
func TestValidateKeepsValidZeros(t *testing.T) {
	const in = `{
		"queues":[{"name":"q"}],
		"jobs":[{"name":"s","queue":"q","scaling":{"max":2},"tasks":[{"name":"t","image":"x"}]}]}`
	var f File
	if err := json.Unmarshal([]byte(in), &f); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(ValidateOptions{}); err != nil {
		t.Fatalf("Validate: got %v, want nil", err)
	}
	tests := []struct {
		field string
		got   Duration
	}{
		{"visibility_timeout", f.Queues[0].VisibilityTimeout},
		{"cooldown", f.Jobs[0].Scaling.Cooldown},
		{"kill_timeout", f.Jobs[0].Tasks[0].KillTimeout},
	}
	for _, tt := range tests {
		if tt.got != 0 {
			t.Errorf("%s: got %v, want 0s", tt.field, tt.got)
		}
	}
	if got, want := f.Queues[0].Retention, DefaultRetention; got != want {
		t.Errorf("retention: got %v, want the default %v", got, want)
	}
}

func TestValidateProblems(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string
	}{
		{
			name: "empty",
			json: `{}`,
			want: []string{"the file defines no queue, topic or job"},
		},
		{
			name: "null entries",
			json: `{"queues":[null],"jobs":[null,{"name":"j","tasks":[null]}]}`,
			want: []string{
				"queues[0]: must not be null",
				"jobs[0]: must not be null",
				"jobs[1].tasks[0]: must not be null",
			},
		},
		{
			name: "task problems",
			json: `{"jobs":[{"name":"web","tasks":[
				{"name":"a","image":"busybox"},
				{"name":"b","image":"","kill_signal":"SIGNOPE","resources":{"cpu":5},"env":{"A=B":"x"},"timeout":"1h"},
				{"name":"a","image":"x","retry":{"delay":"10m","max_delay":"1m"},"restart":{"attempts":-1}}]}]}`,
			want: []string{
				`jobs[0].tasks[1].image: must not be empty`,
				`jobs[0].tasks[1].env["A=B"]: "A=B" is not a valid environment variable name`,
				`jobs[0].tasks[1].timeout: applies only to dispatch and batch jobs`,
				`jobs[0].tasks[1].kill_signal: must be one of SIGABRT, SIGALRM, SIGHUP, SIGINT, SIGKILL, SIGPWR, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, got "SIGNOPE"`,
				`jobs[0].tasks[1].resources.cpu: must be between 10 and 1000000, got 5`,
				`jobs[0].tasks[2].name: a task named "a" is already defined in this job at jobs[0].tasks[0]`,
				`jobs[0].tasks[2].restart.attempts: must be between 0 and 100, got -1`,
				`jobs[0].tasks[2].retry.max_delay: must not be shorter than delay (10m), got 1m`,
			},
		},
		{
			name: "job problems",
			json: `{"queues":[{"name":"q"},{"name":"q","max_receives":2,"dead_letter":"q"}],"jobs":[
				{"name":"Bad Name","type":"cron","priority":101,"tasks":[{"name":"t","image":"x"}]},
				{"name":"d","type":"dispatch","count":2,"scaling":{"min":4,"max":2},"tasks":[{"name":"t","image":"x"}]},
				{"name":"b","type":"batch","queue":"q","constraints":[{"attribute":"node.name","operator":"regexp","value":"("}],"tasks":[]}]}`,
			want: []string{
				`queues[1].name: a queue named "q" is already defined at queues[0]`,
				`queues[1].dead_letter: cannot be the queue itself`,
				`jobs[0].name: "Bad Name" is not a valid job name: use 1 to 63 lowercase letters, digits, "-" or "_", starting with a letter or digit`,
				`jobs[0].type: must be "service", "batch", "dispatch" or "function", got "cron"`,
				`jobs[0].priority: must be between 1 and 100, got 101`,
				`jobs[1].queue: is required for a dispatch job`,
				`jobs[1].count: is not used by dispatch jobs: set scaling.max to cap concurrent tasks`,
				`jobs[1].scaling.min: must not be greater than max (2), got 4`,
				`jobs[2].queue: is not allowed for a batch job`,
				`jobs[2].constraints[0].value: must be a valid regular expression: error parsing regexp: missing closing ): ` + "`(`",
				`jobs[2].tasks: a job needs at least one task block`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f File
			if err := json.Unmarshal([]byte(tt.json), &f); err != nil {
				t.Fatal(err)
			}
			err := f.Validate(ValidateOptions{})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got error %v, want one wrapping ErrInvalid", err)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got error %T, want *ValidationError", err)
			}
			var got []string
			for _, p := range verr.Problems {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if want := "invalid spec: " + strings.Join(tt.want, "; "); err.Error() != want {
				t.Errorf("got error text %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestValidateNilFile(t *testing.T) {
	var f *File
	if err := f.Validate(ValidateOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v, want an error wrapping ErrInvalid", err)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
