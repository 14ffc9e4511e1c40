// Command build-images compiles the example workers (static Go binaries)
// and packages each as an OCI archive under examples/images, which the
// example job files run with image = "oci-archive:./images/NAME.tar".
//
//	go run ./examples/cmd/build-images [-out DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/docketd/docket/internal/ocibuild"
)

// workers maps an image to the package of its program and its entrypoint.
var workers = []struct{ name, pkg string }{
	{"hello", "./examples/workers/hello"},
	{"worker", "./examples/workers/worker"},
	{"batch", "./examples/workers/batch"},
}

func main() {
	out := flag.String("out", "examples/images", "directory for the archives")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "build-images:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	tmp, err := os.MkdirTemp("", "docket-examples-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, w := range workers {
		bin := filepath.Join(tmp, w.name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, w.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", w.pkg, err)
		}
		path := filepath.Join(out, w.name+".tar")
		err := ocibuild.WriteArchiveFile(path, ocibuild.Image{
			Name:       "docket.local/examples/" + w.name + ":latest",
			Files:      []ocibuild.File{{Path: "/usr/local/bin/" + w.name, HostPath: bin, Mode: 0o755}},
			Entrypoint: []string{"/usr/local/bin/" + w.name},
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		})
		if err != nil {
			return fmt.Errorf("package %s: %w", w.name, err)
		}
		fmt.Println("wrote", path)
	}
	return nil
}
