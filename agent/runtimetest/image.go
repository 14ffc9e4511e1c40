package runtimetest

import (
	"os"
	"testing"

	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/internal/ocibuild"
)

// What TestProgImage's configuration holds, which the suite checks.
const (
	imageWorkdir    = "/srv"
	imageCmdOutput  = "from the image"
	imageGreeting   = "GREETING=from-image"
	imageOnlyEnv    = "IMAGE_ONLY=yes"
	testProgPath    = imagetest.TestProgPath
	imageNoUserID   = "uid=0 gid=0"
	imageNobodyUser = "nobody"
)

// TestProgImage describes the image the conformance suite runs, named
// name: testprog at /testprog as its entrypoint, with a cmd (echo "from the
// image"), an environment (GREETING=from-image, IMAGE_ONLY=yes, PATH) and a
// working directory (/srv) for tasks to override, over ocibuild's root
// filesystem skeleton (whose /etc/passwd knows root and nobody). Write it
// with imagetest.WriteArchive for a real runtime, or give it to a [Fake].
func TestProgImage(t testing.TB, name string) ocibuild.Image {
	t.Helper()
	return ocibuild.Image{
		Name: name,
		Files: []ocibuild.File{
			{Path: testProgPath, HostPath: imagetest.TestProg(t), Mode: 0o755},
			{Path: imageWorkdir, Mode: os.ModeDir | 0o755},
		},
		Entrypoint: []string{testProgPath},
		Cmd:        []string{"echo", "from", "the", "image"},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", imageGreeting, imageOnlyEnv},
		WorkingDir: imageWorkdir,
		// Quicker to write, import and unpack than gzip.
		Compression: ocibuild.Uncompressed,
	}
}
