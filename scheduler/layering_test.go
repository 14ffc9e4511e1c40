package scheduler

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestControlLayerKnowsNoHTTP checks that the control layer imports no
// transport: handlers belong in scheduler/httpapi and scheduler/aws/...,
// and decisions here, so that every transport (and replication's
// forwarding) reaches the same operations.
func TestControlLayerKnowsNoHTTP(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]bool{"net/http": true, "net/http/httputil": true, "net/http/httptest": true, "mime": true,
		"github.com/docketd/docket/scheduler/httpapi": true, "github.com/docketd/docket/scheduler/aws/sqs": true}
	fset := token.NewFileSet()
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if banned[path] || strings.HasPrefix(path, "net/http/") {
				t.Errorf("%s imports %s: the control layer takes no transport", name, path)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files, want the package's", checked)
	}
}
