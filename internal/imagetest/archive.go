package imagetest

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/ocibuild"
)

const (
	// TestProgPackage is the import path of testprog, the program for
	// container tests; run it without arguments for its usage, or read its
	// package comment.
	TestProgPackage = "github.com/docketd/docket/internal/imagetest/testprog"
	// TestProgPath is where [TestProgArchive] puts testprog in the image; it
	// is also the image's entrypoint.
	TestProgPath = "/testprog"
)

// TestProg returns the path of the testprog binary, built on first use.
func TestProg(t testing.TB) string {
	t.Helper()
	return GoBinary(t, TestProgPackage)
}

// TestProgArchive returns an OCI archive of an image named name holding
// testprog at [TestProgPath], which is its entrypoint: the container's
// arguments are testprog's, e.g. "echo", "hello".
func TestProgArchive(t testing.TB, name string) string {
	t.Helper()
	return Archive(t, name, map[string]string{TestProgPath: TestProg(t)}, TestProgPath)
}

// Archive returns the path of an OCI archive, in a directory t removes when
// it ends, of an image named name (e.g. "docket.test/hello:latest") holding
// binaries, by path in the image (e.g. "/hello") to host path (e.g. from
// [GoBinary]), with mode 0755 and the given entrypoint.
func Archive(t testing.TB, name string, binaries map[string]string, entrypoint ...string) string {
	t.Helper()
	img := ocibuild.Image{Name: name, Entrypoint: entrypoint}
	for _, p := range slices.Sorted(maps.Keys(binaries)) {
		img.Files = append(img.Files, ocibuild.File{Path: p, HostPath: binaries[p], Mode: 0o755})
	}
	return WriteArchive(t, img)
}

// WriteArchive writes img as an OCI archive in a directory t removes when it
// ends and returns its path: the way to an image with more than binaries and
// an entrypoint (environment, user, working directory, extra files).
func WriteArchive(t testing.TB, img ocibuild.Image) string {
	t.Helper()
	// Name the file after the image so a test's log points at it plainly.
	file := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(img.Name) + ".tar"
	path := filepath.Join(t.TempDir(), file)
	if err := ocibuild.WriteArchiveFile(path, img); err != nil {
		t.Fatalf("imagetest: write archive of %s: %v", img.Name, err)
	}
	return path
}
