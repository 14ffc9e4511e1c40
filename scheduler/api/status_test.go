package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
)

// statusConsts returns the string constants named Node*, Desired*, Alloc*
// or Eval* that the non-test files matching pattern declare, by name. A
// constant whose value is not a literal is left out, so that it fails the
// comparison rather than passing unread.
func statusConsts(tb testing.TB, pattern string) map[string]string {
	tb.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		tb.Fatalf("glob %s: %v files, %v", pattern, len(files), err)
	}
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i >= len(vs.Values) || !hasStatusPrefix(id.Name) {
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
					out[id.Name] = v
				}
			}
		}
	}
	return out
}

func hasStatusPrefix(name string) bool {
	for _, p := range []string{"Node", "Desired", "Alloc", "Eval"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TestStatusesMirrorState pins the API's statuses to the state's records,
// which declare them: every node, desired, allocation and evaluation status
// constant of the state has a namesake of the same value here and the other
// way round, so a status renamed or added on one side only fails.
func TestStatusesMirrorState(t *testing.T) {
	src := statusConsts(t, "../state/*.go")
	mirror := statusConsts(t, "status.go")
	for name, v := range src {
		if got, ok := mirror[name]; !ok || got != v {
			t.Errorf("state.%s = %q: api.%s is %q (declared %v)", name, v, name, got, ok)
		}
	}
	for name, v := range mirror {
		if _, ok := src[name]; !ok {
			t.Errorf("api.%s = %q has no namesake in state", name, v)
		}
	}
	// Terminal, as compiled, agrees on every allocation status.
	for _, s := range append(allocStatuses(src), "", "unknown") {
		if got, want := api.Terminal(s), state.Terminal(s); got != want {
			t.Errorf("Terminal(%q) = %v, state says %v", s, got, want)
		}
	}
}

func allocStatuses(consts map[string]string) []string {
	var out []string
	for name, v := range consts {
		if strings.HasPrefix(name, "Alloc") {
			out = append(out, v)
		}
	}
	return out
}
