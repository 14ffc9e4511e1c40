package containerd

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/ocibuild"
)

// TestPull pulls testprog's image from a registry served by the test on a
// loopback address, over plain HTTP, by tag and by digest.
func TestPull(t *testing.T) {
	d := containerdtest.Start(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:PORT
	_, port, _ := strings.Cut(host, ":")

	img, err := ocibuild.Build(runtimetest.TestProgImage(t, "docket.test/testprog:pull"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/docket/testprog:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, image string }{
		{"loopback tag", host + "/docket/testprog:v1"},
		{"localhost tag", "localhost:" + port + "/docket/testprog:v1"},
		{"digest", host + "/docket/testprog@" + digest.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t, d)
			t.Cleanup(func() { r.Close() })
			spec := taskSpec(t, tc.image, "echo pulled")
			startTask(t, r, spec)
			if exit := waitExit(t, r, spec.ID); exit.Code != 0 {
				t.Errorf("got exit %+v, want 0", exit)
			}
			waitLog(t, spec.LogDir, StdoutLog, "pulled\n")
		})
	}

	t.Run("unknown repository", func(t *testing.T) {
		r := newRuntime(t, d)
		t.Cleanup(func() { r.Close() })
		spec := taskSpec(t, host+"/docket/nothing:v1", "echo unreachable")
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := r.Start(ctx, spec); !errors.Is(err, agent.ErrImage) || !strings.Contains(err.Error(), "docket/nothing:v1") {
			t.Errorf("got %v, want ErrImage naming the reference", err)
		}
	})
}

// TestImportOnce checks that an archive is imported once per runtime
// however many tasks start from it at once, not at all by a runtime that
// finds its image already in containerd, and again once rewritten.
func TestImportOnce(t *testing.T) {
	d := containerdtest.Start(t)
	const imageName = "docket.test/testprog:import-once"
	image := testImage(t, imageName)

	first := newRuntime(t, d)
	t.Cleanup(func() { first.Close() })
	const n = 4
	var wg sync.WaitGroup
	specs := make([]agent.TaskSpec, n)
	errs := make([]error, n)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i := range specs {
		specs[i] = taskSpec(t, image, "exit 0")
		t.Cleanup(func() { first.Remove(context.Background(), specs[i].ID) })
		wg.Go(func() { errs[i] = first.Start(ctx, specs[i]) })
	}
	wg.Wait()
	for i, spec := range specs {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		waitExit(t, first, spec.ID)
	}
	if got := first.images.imports.Load(); got != 1 {
		t.Errorf("got %d imports for %d concurrent starts, want 1", got, n)
	}

	second := newRuntime(t, d)
	t.Cleanup(func() { second.Close() })
	spec := taskSpec(t, image, "exit 0")
	startTask(t, second, spec)
	waitExit(t, second, spec.ID)
	if got := second.images.imports.Load(); got != 0 {
		t.Errorf("got %d imports by a runtime finding the image in containerd, want 0", got)
	}

	// The archive is rewritten in place with another image of the same
	// name: the runtime notices and imports it.
	changed := runtimetest.TestProgImage(t, imageName)
	changed.Env = append(changed.Env, "VERSION=2")
	if err := ocibuild.WriteArchiveFile(strings.TrimPrefix(image, archivePrefix), changed); err != nil {
		t.Fatal(err)
	}
	spec = taskSpec(t, image, "env")
	startTask(t, second, spec)
	waitExit(t, second, spec.ID)
	if got := second.images.imports.Load(); got != 1 {
		t.Errorf("got %d imports after the archive changed, want 1", got)
	}
	waitFor(t, func() error {
		if out := readFile(filepath.Join(spec.LogDir, StdoutLog)); !strings.Contains(out, "VERSION=2\n") {
			return errors.New("got environment " + out + ", want VERSION=2 from the new image")
		}
		return nil
	})
}

// TestImageErrors checks the errors of images that cannot be had.
func TestImageErrors(t *testing.T) {
	d := containerdtest.Start(t)
	r := newRuntime(t, d)
	t.Cleanup(func() { r.Close() })
	dir := t.TempDir()
	notArchive := filepath.Join(dir, "not.tar")
	writeFile(t, notArchive, "not a tar")
	missing := filepath.Join(dir, "missing.tar")

	for _, tc := range []struct {
		name, image, want string
	}{
		{"missing archive", archivePrefix + missing,
			"image oci-archive:" + missing + ": lstat " + missing + ": no such file or directory"},
		{"not an archive", archivePrefix + notArchive, "image oci-archive:" + notArchive + ": read " + notArchive},
		{"directory", archivePrefix + dir, "is not a file"},
		{"bad reference", "docket.test/UPPER:v1", "image docket.test/UPPER:v1: invalid reference format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			err := r.Start(ctx, taskSpec(t, tc.image, "exit 0"))
			if !errors.Is(err, agent.ErrImage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrImage with %q", err, tc.want)
			}
		})
	}
}
