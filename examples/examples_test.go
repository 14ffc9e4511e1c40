package examples

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/docketd/docket/specs"
)

// TestJobFilesParse checks that every example job file is valid and keeps
// the queues and jobs the README promises.
func TestJobFilesParse(t *testing.T) {
	want := map[string]struct{ queues, jobs int }{
		"hello.hcl":  {queues: 2, jobs: 1},
		"worker.hcl": {queues: 2, jobs: 1},
		"batch.hcl":  {queues: 0, jobs: 1},
	}
	files, err := filepath.Glob("*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(want) {
		t.Fatalf("got %d job files %v, want at least %d", len(files), files, len(want))
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, diags := specs.Parse(name, src, specs.ParseOptions{})
			for _, d := range diags {
				t.Errorf("%s", specs.FormatDiagnostic(d))
			}
			if diags.HasErrors() {
				return
			}
			if w, ok := want[name]; ok {
				if len(f.Queues) != w.queues || len(f.Jobs) != w.jobs {
					t.Errorf("got %d queues and %d jobs, want %d and %d",
						len(f.Queues), len(f.Jobs), w.queues, w.jobs)
				}
			}
		})
	}
}
