package scheduler

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// TestGlossaryNamesTheVocabulary keeps README.md's glossary in step with the
// declared vocabulary: every job type, status, task state, constraint
// operator and fixed node attribute appears in it.
func TestGlossaryNamesTheVocabulary(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, glossary, ok := strings.Cut(string(b), "## Glossary")
	if !ok {
		t.Fatal("README.md has no glossary")
	}
	// Operators and attributes are written as code.
	for _, w := range append(specs.Operators(), specs.NodeAttributes()...) {
		if !strings.Contains(glossary, "`"+w+"`") {
			t.Errorf("the glossary does not name `%s`", w)
		}
	}
	words := append(specs.JobTypes(),
		api.NodeReady, api.NodeDown,
		api.DesiredRun, api.DesiredStop,
		api.AllocPending, api.AllocRunning, api.AllocComplete, api.AllocFailed, api.AllocLost,
		api.EvalPending, api.EvalComplete, api.EvalBlocked, api.EvalFailed, api.EvalCanceled,
		api.TaskPending, api.TaskRunning, api.TaskRestarting, api.TaskDead,
	)
	for _, w := range words {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(w) + `\b`).MatchString(glossary) {
			t.Errorf("the glossary does not name %q", w)
		}
	}
}
