package ocibuild

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the time stamped on every file, the config and the history of the
// images this package builds. A fixed time is what makes builds reproducible.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// Compression says how an image's layer is stored.
type Compression int

const (
	// Gzip stores the layer as application/vnd.oci.image.layer.v1.tar+gzip,
	// the form registries and most tools expect.
	Gzip Compression = iota
	// Uncompressed stores the layer as application/vnd.oci.image.layer.v1.tar:
	// a bigger archive, but quicker to build and to unpack, which suits tests.
	Uncompressed
)

// File is one entry of an image's filesystem.
type File struct {
	// Path is where the entry lives in the image, e.g. "/usr/local/bin/worker".
	// It must be absolute and must not contain "..". Missing parent
	// directories are created with mode 0755.
	Path string
	// Mode holds the entry's type and permission bits: a regular file unless
	// it has os.ModeDir or os.ModeSymlink; os.ModeSetuid, os.ModeSetgid and
	// os.ModeSticky are kept. Zero permission bits mean the usual defaults:
	// 0644 for a file from Data, the host file's own bits for one from
	// HostPath, 0755 for a directory, 0777 for a symlink.
	Mode os.FileMode
	// Data is the content of a regular file.
	Data []byte
	// HostPath names a host file to copy instead of Data; it is read when the
	// image is built. Setting both is an error.
	HostPath string
	// Linkname is the target of a symlink.
	Linkname string
	// UID and GID own the entry; zero is root.
	UID, GID int
}

// Image describes an image: its files, on top of a minimal root filesystem
// skeleton, and the runtime configuration containerd reads from it.
type Image struct {
	// Name is the reference the archive carries, e.g. "docket.test/hello:latest".
	// It is normalised as containerd does: "hello" becomes
	// "docker.io/library/hello:latest". A digest is not allowed. Build ignores
	// it; WriteArchive requires it.
	Name string
	// Files are added to the skeleton; a file at a skeleton path (such as
	// /etc/passwd) replaces the skeleton's.
	Files []File

	Entrypoint []string
	Cmd        []string
	// Env entries are "KEY=value".
	Env        []string
	WorkingDir string
	// User is "uid[:gid]" or a name from /etc/passwd, as the OCI image
	// spec allows.
	User       string
	Labels     map[string]string
	StopSignal string

	// Platform is "os/arch[/variant]"; empty means "linux/" + runtime.GOARCH.
	Platform string
	// Compression of the layer; the zero value is Gzip.
	Compression Compression
}

// Build assembles img as an OCI image with one layer. The result is
// self-contained: every blob is held in memory.
func Build(img Image) (v1.Image, error) {
	out, _, err := build(img)
	return out, err
}

func build(img Image) (v1.Image, *v1.Platform, error) {
	platform, err := parsePlatform(img.Platform)
	if err != nil {
		return nil, nil, err
	}
	layerTar, err := buildLayer(img.Files)
	if err != nil {
		return nil, nil, err
	}
	layer, err := newLayer(layerTar, img.Compression)
	if err != nil {
		return nil, nil, err
	}

	cfg := &v1.ConfigFile{
		Architecture: platform.Architecture,
		OS:           platform.OS,
		Variant:      platform.Variant,
		Created:      v1.Time{Time: epoch()},
		Config: v1.Config{
			Entrypoint: slices.Clone(img.Entrypoint),
			Cmd:        slices.Clone(img.Cmd),
			Env:        slices.Clone(img.Env),
			WorkingDir: img.WorkingDir,
			User:       img.User,
			Labels:     maps.Clone(img.Labels),
			StopSignal: img.StopSignal,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	out, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("set image config: %w", err)
	}
	out, err = mutate.Append(out, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: epoch()},
			CreatedBy: "docket ocibuild",
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("append layer: %w", err)
	}
	// empty.Image speaks Docker media types; containerd and the OCI layout
	// want OCI ones throughout.
	out = mutate.MediaType(out, types.OCIManifestSchema1)
	out = mutate.ConfigMediaType(out, types.OCIConfigJSON)
	return out, platform, nil
}

func newLayer(tarBytes []byte, c Compression) (v1.Layer, error) {
	switch c {
	case Uncompressed:
		return static.NewLayer(tarBytes, types.OCIUncompressedLayer), nil
	case Gzip:
		open := func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(tarBytes)), nil
		}
		l, err := tarball.LayerFromOpener(open,
			tarball.WithMediaType(types.OCILayer),
			tarball.WithCompressedCaching)
		if err != nil {
			return nil, fmt.Errorf("compress layer: %w", err)
		}
		return l, nil
	default:
		return nil, fmt.Errorf("unknown compression %d", c)
	}
}

func parsePlatform(s string) (*v1.Platform, error) {
	if s == "" {
		return &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", s, err)
	}
	if p.OS == "" || p.Architecture == "" {
		return nil, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	return p, nil
}

// imageName is an image reference in the two forms an OCI archive carries.
type imageName struct {
	full string // "docket.test/hello:latest", for io.containerd.image.name
	tag  string // "latest", for org.opencontainers.image.ref.name
}

// parseName normalises name the way containerd does, so that the name an
// archive carries is the one containerd lists after importing it.
func parseName(name string) (imageName, error) {
	if name == "" {
		return imageName{}, errors.New("image name is empty")
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return imageName{}, fmt.Errorf("image name %q: %w", name, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return imageName{}, fmt.Errorf("image name %q: a built image cannot be named by digest", name)
	}
	named = reference.TagNameOnly(named)
	tagged, ok := named.(reference.Tagged)
	if !ok {
		return imageName{}, fmt.Errorf("image name %q: no tag", name)
	}
	return imageName{full: named.String(), tag: tagged.Tag()}, nil
}
