package ocibuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testImage exercises every kind of File and every config field.
func testImage(t testing.TB) Image {
	t.Helper()
	host := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(host, []byte("#!binary"), 0o750); err != nil {
		t.Fatal(err)
	}
	return Image{
		Name: "docket.test/hello:v1",
		Files: []File{
			{Path: "/usr/local/bin/tool", HostPath: host},
			{Path: "/app/config.txt", Data: []byte("a=1\n")},
			{Path: "/app/secret", Data: []byte("s"), Mode: 0o600, UID: 65534, GID: 65534},
			{Path: "/app/run", Mode: fs.ModeSymlink, Linkname: "../usr/local/bin/tool"},
			{Path: "/data/", Mode: fs.ModeDir | 0o700},
			{Path: "/tmp/seed/file", Data: []byte("x")},
		},
		Entrypoint: []string{"/usr/local/bin/tool"},
		Cmd:        []string{"serve", "--port=1"},
		Env:        []string{"PATH=/usr/local/bin", "MODE=test"},
		WorkingDir: "/app",
		User:       "nobody",
		Labels:     map[string]string{"org.docket.test": "yes"},
		StopSignal: "SIGINT",
	}
}

func TestWriteArchive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		comp      Compression
		layerType types.MediaType
	}{
		{"gzip", Gzip, types.OCILayer},
		{"uncompressed", Uncompressed, types.OCIUncompressedLayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testImage(t)
			img.Compression = tc.comp
			var buf bytes.Buffer
			if err := WriteArchive(&buf, img); err != nil {
				t.Fatalf("WriteArchive: %v", err)
			}
			idx, got := readArchive(t, buf.Bytes())

			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != 1 {
				t.Fatalf("got %d manifests in index.json, want 1", len(im.Manifests))
			}
			desc := im.Manifests[0]
			wantAnn := map[string]string{
				AnnotationImageName: "docket.test/hello:v1",
				AnnotationRefName:   "v1",
			}
			if !reflect.DeepEqual(desc.Annotations, wantAnn) {
				t.Errorf("got annotations %v, want %v", desc.Annotations, wantAnn)
			}
			if desc.MediaType != types.OCIManifestSchema1 {
				t.Errorf("got manifest media type %s, want %s", desc.MediaType, types.OCIManifestSchema1)
			}
			wantPlatform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
			if desc.Platform == nil || !desc.Platform.Equals(wantPlatform) {
				t.Errorf("got platform %v, want %v", desc.Platform, wantPlatform)
			}

			m, err := got.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.MediaType != types.OCIConfigJSON {
				t.Errorf("got config media type %s, want %s", m.Config.MediaType, types.OCIConfigJSON)
			}
			if len(m.Layers) != 1 || m.Layers[0].MediaType != tc.layerType {
				t.Errorf("got layers %+v, want one of type %s", m.Layers, tc.layerType)
			}

			cf, err := got.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			wantConfig := v1.Config{
				Entrypoint: img.Entrypoint,
				Cmd:        img.Cmd,
				Env:        img.Env,
				WorkingDir: img.WorkingDir,
				User:       img.User,
				Labels:     img.Labels,
				StopSignal: img.StopSignal,
			}
			if !reflect.DeepEqual(cf.Config, wantConfig) {
				t.Errorf("got config %+v, want %+v", cf.Config, wantConfig)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("got platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
			}
			if !cf.Created.Time.Equal(time.Unix(0, 0)) {
				t.Errorf("got created %v, want the Unix epoch", cf.Created.Time)
			}

			files := readFS(t, got)
			for _, want := range []fileWant{
				{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, contains: "nobody:x:65534:65534:"},
				{name: "etc/group", typ: tar.TypeReg, mode: 0o644, contains: "nobody:x:65534:"},
				{name: "tmp", typ: tar.TypeDir, mode: 0o1777},
				{name: "root", typ: tar.TypeDir, mode: 0o700},
				{name: "usr", typ: tar.TypeDir, mode: 0o755},
				{name: "usr/local/bin", typ: tar.TypeDir, mode: 0o755},
				{name: "usr/local/bin/tool", typ: tar.TypeReg, mode: 0o750, contains: "#!binary"},
				{name: "app/config.txt", typ: tar.TypeReg, mode: 0o644, contains: "a=1\n"},
				{name: "app/secret", typ: tar.TypeReg, mode: 0o600, uid: 65534},
				{name: "app/run", typ: tar.TypeSymlink, mode: 0o777, link: "../usr/local/bin/tool"},
				{name: "data", typ: tar.TypeDir, mode: 0o700},
				{name: "tmp/seed/file", typ: tar.TypeReg, mode: 0o644, contains: "x"},
			} {
				want.check(t, files)
			}
			for name, f := range files {
				if !f.hdr.ModTime.Equal(time.Unix(0, 0)) {
					t.Errorf("%s: got mtime %v, want the Unix epoch", name, f.hdr.ModTime)
				}
			}
		})
	}
}

func TestWriteArchiveIsDeterministic(t *testing.T) {
	img := testImage(t)
	write := func(img Image) []byte {
		t.Helper()
		var buf bytes.Buffer
		if err := WriteArchive(&buf, img); err != nil {
			t.Fatalf("WriteArchive: %v", err)
		}
		return buf.Bytes()
	}
	first := write(img)
	// Reverse the files: the order they are listed in must not matter.
	img.Files = slices.Clone(img.Files)
	slices.Reverse(img.Files)
	if second := write(img); !bytes.Equal(first, second) {
		t.Errorf("two archives of the same image differ (%d and %d bytes)", len(first), len(second))
	}

	digest := func(img Image) v1.Hash {
		t.Helper()
		built, err := Build(img)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		h, err := built.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := digest(img)
	if again := digest(img); again != before {
		t.Errorf("got digests %s and %s for the same image", before, again)
	}
	img.Files = append(img.Files, File{Path: "/extra", Data: []byte("1")})
	if changed := digest(img); changed == before {
		t.Errorf("adding a file left the digest at %s", before)
	}
}

func TestWriteArchiveFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "image.tar")
	img := Image{Name: "hello", Files: []File{{Path: "/hello", Data: []byte("hi")}}}
	if err := WriteArchiveFile(path, img); err != nil {
		t.Fatalf("WriteArchiveFile: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := readArchive(t, data)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := im.Manifests[0].Annotations[AnnotationImageName], "docker.io/library/hello:latest"; got != want {
		t.Errorf("got name %q, want %q", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("got %d files in the directory, want only the archive", len(entries))
	}

	// A failed write leaves nothing behind, not even a temporary file.
	bad := filepath.Join(dir, "bad.tar")
	if err := WriteArchiveFile(bad, Image{Name: "hello", Files: []File{{Path: "relative"}}}); err == nil {
		t.Fatal("WriteArchiveFile with a bad file: got no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("got %d files after a failed write, want 1", len(entries))
	}
}

func TestImageNames(t *testing.T) {
	for _, tc := range []struct {
		in, full, tag string
		wantErr       bool
	}{
		{in: "docket.test/hello:latest", full: "docket.test/hello:latest", tag: "latest"},
		{in: "docket.test/hello", full: "docket.test/hello:latest", tag: "latest"},
		{in: "hello:v2", full: "docker.io/library/hello:v2", tag: "v2"},
		{in: "localhost:5000/team/worker:1.0", full: "localhost:5000/team/worker:1.0", tag: "1.0"},
		{in: "", wantErr: true},
		{in: "docket.test/Hello", wantErr: true},
		{in: "docket.test/hello@sha256:" + strings.Repeat("a", 64), wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseName(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.full != tc.full || got.tag != tc.tag {
				t.Errorf("got %q and %q, want %q and %q", got.full, got.tag, tc.full, tc.tag)
			}
		})
	}
}

func TestPlatform(t *testing.T) {
	built, err := Build(Image{Platform: "linux/arm/v7"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	cf, err := built.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "arm" || cf.Variant != "v7" {
		t.Errorf("got %s/%s/%s, want linux/arm/v7", cf.OS, cf.Architecture, cf.Variant)
	}
	if _, err := Build(Image{Platform: "linux"}); err == nil {
		t.Error("platform \"linux\": got no error")
	}
}

func TestInvalidFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name  string
		files []File
	}{
		{"relative path", []File{{Path: "etc/x"}}},
		{"dot-dot", []File{{Path: "/tmp/../etc/x"}}},
		{"root", []File{{Path: "/", Mode: fs.ModeDir}}},
		{"data and host path", []File{{Path: "/x", Data: []byte("a"), HostPath: "/etc/hostname"}}},
		{"missing host path", []File{{Path: "/x", HostPath: missing}}},
		{"host path not a file", []File{{Path: "/x", HostPath: t.TempDir()}}},
		{"symlink without target", []File{{Path: "/x", Mode: fs.ModeSymlink}}},
		{"directory with data", []File{{Path: "/x", Mode: fs.ModeDir, Data: []byte("a")}}},
		{"link name on a file", []File{{Path: "/x", Linkname: "/y"}}},
		{"device", []File{{Path: "/x", Mode: fs.ModeDevice}}},
		{"negative owner", []File{{Path: "/x", UID: -1}}},
		{"twice", []File{{Path: "/x"}, {Path: "/x/"}}},
		{"file as parent", []File{{Path: "/x"}, {Path: "/x/y"}}},
		{"skeleton file as parent", []File{{Path: "/etc/passwd/y"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Build(Image{Files: tc.files}); err == nil {
				t.Error("got no error")
			}
		})
	}
}

// readArchive unpacks an OCI archive and opens it with go-containerregistry,
// which checks every blob against its digest as it reads.
func readArchive(t testing.TB, archive []byte) (v1.ImageIndex, v1.Image) {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(archive))
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		names = append(names, hdr.Name)
		target := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("archive entry %s: unexpected type %c", hdr.Name, hdr.Typeflag)
		}
	}
	if len(names) < 2 || names[0] != "oci-layout" || names[1] != "index.json" {
		t.Errorf("got archive entries %v, want oci-layout and index.json first", names)
	}

	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("open layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("open image: %v", err)
	}
	// Reading every layer through its digest check proves the blobs match
	// what the manifest and config claim.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		if diffID != cf.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: got diff ID %s, config says %s", i, diffID, cf.RootFS.DiffIDs[i])
		}
	}
	return idx, img
}

type tarFile struct {
	hdr  *tar.Header
	data []byte
}

// readFS returns the image's flattened filesystem by entry name.
func readFS(t testing.TB, img v1.Image) map[string]tarFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := make(map[string]tarFile)
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read filesystem: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = tarFile{hdr: hdr, data: data}
	}
}

type fileWant struct {
	name     string
	typ      byte
	mode     int64
	uid      int
	link     string
	contains string
}

func (w fileWant) check(t testing.TB, files map[string]tarFile) {
	t.Helper()
	f, ok := files[w.name]
	if !ok {
		t.Errorf("%s: missing", w.name)
		return
	}
	if f.hdr.Typeflag != w.typ {
		t.Errorf("%s: got type %c, want %c", w.name, f.hdr.Typeflag, w.typ)
	}
	if f.hdr.Mode != w.mode {
		t.Errorf("%s: got mode %o, want %o", w.name, f.hdr.Mode, w.mode)
	}
	if f.hdr.Uid != w.uid {
		t.Errorf("%s: got uid %d, want %d", w.name, f.hdr.Uid, w.uid)
	}
	if f.hdr.Linkname != w.link {
		t.Errorf("%s: got link %q, want %q", w.name, f.hdr.Linkname, w.link)
	}
	if !strings.Contains(string(f.data), w.contains) {
		t.Errorf("%s: got content %q, want it to contain %q", w.name, f.data, w.contains)
	}
}
