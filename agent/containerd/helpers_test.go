package containerd

import (
	"context"
	"fmt"
	"github.com/docketd/docket/internal/polltest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/imagetest"
)

// testImage writes an archive of runtimetest's testprog image named name
// and returns its oci-archive reference.
func testImage(t testing.TB, name string) string {
	t.Helper()
	return archivePrefix + imagetest.WriteArchive(t, runtimetest.TestProgImage(t, name))
}

// taskSpec returns a task of image running testprog's steps, with an ID no
// other test uses and a log directory of t's.
func taskSpec(t testing.TB, image, steps string) agent.TaskSpec {
	return agent.TaskSpec{
		ID:     containerdtest.UniqueID(t),
		Image:  image,
		Args:   strings.Fields(steps),
		LogDir: t.TempDir(),
	}
}

// startTask starts spec on r and removes it when t ends.
func startTask(t testing.TB, r agent.Runtime, spec agent.TaskSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := r.Start(ctx, spec); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := r.Remove(ctx, spec.ID); err != nil {
			t.Errorf("remove %s: %v", spec.ID, err)
		}
	})
}

// waitExit waits for task id to exit.
func waitExit(t testing.TB, r agent.Runtime, id string) agent.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	exit, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return exit
}

// waitFor polls cond until it returns nil, failing t with its last error
// after testTimeout.
func waitFor(t testing.TB, cond func() error) {
	t.Helper()
	polltest.WaitFor(t, testTimeout, cond)
}

// waitLog polls until the log file name in dir holds want.
func waitLog(t testing.TB, dir, name, want string) {
	t.Helper()
	waitFor(t, func() error {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if string(b) != want {
			return fmt.Errorf("got %s %q, want %q", name, b, want)
		}
		return nil
	})
}

// readFile returns a file's content, empty if it cannot be read.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// writeFile writes content to path.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Shorter names for table tests.
type (
	agentSpec  = agent.TaskSpec
	agentMount = agent.Mount
)

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}
