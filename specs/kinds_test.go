package specs

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// declaredJobTypes returns the values of the package's Job* string
// constants, read from its source, so that a type declared without a row in
// the table fails TestEveryJobTypeHasAKind.
func declaredJobTypes(tb testing.TB) []string {
	tb.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "model.go", nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var types []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Job") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					tb.Fatal(err)
				}
				types = append(types, v)
			}
		}
	}
	if len(types) == 0 {
		tb.Fatal("model.go declares no Job* constants")
	}
	return types
}

func TestEveryJobTypeHasAKind(t *testing.T) {
	declared := declaredJobTypes(t)
	if got := JobTypes(); !slices.Equal(got, declared) {
		t.Errorf("JobTypes() = %q, want the declared job types %q in order", got, declared)
	}
	for _, typ := range declared {
		k := KindOf(typ)
		switch {
		case !k.Known() || k.Type != typ:
			t.Errorf("KindOf(%q) = %+v: no row in the table", typ, k)
		case k.Plan == 0 || k.Plan == PlanNothing:
			t.Errorf("KindOf(%q).Plan = %d: a job type must say how it is planned", typ, k.Plan)
		case k.Scale == 0:
			t.Errorf("KindOf(%q).Scale is unset: a job type must say how it is scaled", typ)
		case k.Queue == 0:
			t.Errorf("KindOf(%q).Queue is unset: a job type must say whether it names a queue", typ)
		}
	}
}

func TestUnknownJobTypes(t *testing.T) {
	want := JobKind{Plan: PlanNothing, Queue: QueueOptional, SuccessEnds: true, TaskTimeout: true}
	for _, typ := range []string{"", "cron", "Service", "Function", "lambda"} {
		if got := KindOf(typ); got != want || got.Known() {
			t.Errorf("KindOf(%q) = %+v (known %v), want %+v", typ, got, got.Known(), want)
		}
	}
	// Validation refuses them, and nothing else about the job.
	f := &File{Jobs: []*Job{{Name: "j", Type: "cron", Tasks: []*Task{{Name: "t", Image: "busybox"}}}}}
	err := f.Validate(ValidateOptions{})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate: got %v, want a *ValidationError", err)
	}
	want1 := `jobs[0].type: must be "service", "batch", "dispatch" or "function", got "cron"`
	if len(ve.Problems) != 1 || ve.Problems[0].String() != want1 {
		t.Errorf("Validate: got %v, want [%s]", ve.Problems, want1)
	}
}

// TestRulesFollowTheTable validates one job of every declared type for each
// property of its kind, so the language accepts what the table says and a
// new row gets rules without new code.
func TestRulesFollowTheTable(t *testing.T) {
	// job returns a minimal job of the kind, valid by the table.
	job := func(k JobKind) *Job {
		j := &Job{Name: "j", Type: k.Type, Tasks: []*Task{{Name: "t", Image: "busybox"}}}
		if k.Queue == QueueRequired {
			j.Queue = "q"
		}
		return j
	}
	validate := func(t *testing.T, j *Job) []string {
		t.Helper()
		f := &File{Queues: []*Queue{{Name: "q"}}, Jobs: []*Job{j}}
		err := f.Validate(ValidateOptions{})
		if err == nil {
			return nil
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Validate: got %v, want a *ValidationError", err)
		}
		var out []string
		for _, p := range ve.Problems {
			out = append(out, p.String())
		}
		return out
	}
	refuses := func(problems []string, field string) bool {
		return slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, "jobs[0]."+field+":") })
	}
	for _, typ := range JobTypes() {
		k := KindOf(typ)
		t.Run(typ, func(t *testing.T) {
			if got := validate(t, job(k)); got != nil {
				t.Fatalf("a minimal %s job: got %q, want no problems", typ, got)
			}

			j := job(k)
			j.Queue = ""
			if got, want := refuses(validate(t, j), "queue"), k.Queue == QueueRequired; got != want {
				t.Errorf("without a queue: queue refused %v, want %v (%v)", got, want, validate(t, j))
			}
			j = job(k)
			j.Queue = "q"
			if got, want := refuses(validate(t, j), "queue"), k.Queue == QueueRefused; got != want {
				t.Errorf("with a queue: queue refused %v, want %v (%v)", got, want, validate(t, j))
			}

			j = job(k)
			j.Scaling, j.Count = nil, 3
			driverCounts := k.Scale == ScalePerMessage || k.Scale == ScaleInvocations
			if got, want := refuses(validate(t, j), "count"), driverCounts; got != want {
				t.Errorf("count 3: refused %v, want %v (%v)", got, want, validate(t, j))
			}
			j = job(k)
			j.Queue = "q"
			j.Count, j.Scaling = 0, &Scaling{Min: 0, Max: 2}
			if got, want := refuses(validate(t, j), "scaling"), k.Scale == ScaleFixed || k.Scale == ScaleInvocations; got != want {
				t.Errorf("a scaling block: refused %v, want %v (%v)", got, want, validate(t, j))
			}

			j = job(k)
			j.Tasks[0].Timeout = Duration(time.Minute)
			if got, want := refuses(validate(t, j), "tasks[0].timeout"), !k.TaskTimeout; got != want {
				t.Errorf("a task timeout: refused %v, want %v (%v)", got, want, validate(t, j))
			}

			// Defaults: a per-message job gets a scaling block and no count,
			// a function a function block and neither, the others a count
			// of one.
			j = job(k)
			if err := (&File{Queues: []*Queue{{Name: "q"}}, Jobs: []*Job{j}}).Validate(ValidateOptions{}); err != nil {
				t.Fatal(err)
			}
			if perMessage := k.Scale == ScalePerMessage; (j.Scaling != nil) != perMessage || (j.Count == DefaultCount) == driverCounts {
				t.Errorf("defaults: got count %d, scaling %+v", j.Count, j.Scaling)
			}
			if fn := k.Scale == ScaleInvocations; (j.Function != nil) != fn {
				t.Errorf("defaults: got function block %+v", j.Function)
			}
		})
	}
}

// TestJobKinds pins the table's rows to what each type did before the
// table, so that changing one is a decision, not an accident.
func TestJobKinds(t *testing.T) {
	want := map[string]JobKind{
		JobService: {Type: JobService, Plan: PlanCount, Scale: ScaleBacklog, Queue: QueueOptional,
			TasksReceive: true},
		JobBatch: {Type: JobBatch, Plan: PlanCompletion, Scale: ScaleFixed, Queue: QueueRefused,
			SuccessEnds: true, TaskTimeout: true},
		JobDispatch: {Type: JobDispatch, Plan: PlanPerMessage, Scale: ScalePerMessage, Queue: QueueRequired,
			SuccessEnds: true, TaskTimeout: true},
		JobFunction: {Type: JobFunction, Plan: PlanCount, Scale: ScaleInvocations, Queue: QueueOptional},
	}
	for _, typ := range JobTypes() {
		if got := KindOf(typ); got != want[typ] {
			t.Errorf("KindOf(%q) = %+v, want %+v", typ, got, want[typ])
		}
	}
}

func TestQueueWorkers(t *testing.T) {
	tests := []struct {
		typ, queue string
		want       bool
	}{
		{JobService, "q", true},
		{JobService, "", false},
		{JobBatch, "", false},
		{JobDispatch, "q", false},
		{JobFunction, "q", false},
		{"cron", "q", false},
	}
	for _, tt := range tests {
		j := &Job{Name: "j", Type: tt.typ, Queue: tt.queue}
		if got := j.QueueWorkers(); got != tt.want {
			t.Errorf("%s job, queue %q: QueueWorkers() = %v, want %v", tt.typ, tt.queue, got, tt.want)
		}
	}
}
