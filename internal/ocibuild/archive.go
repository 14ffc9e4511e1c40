package ocibuild

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations on the index.json descriptor of an archive's image.
const (
	// AnnotationRefName is the OCI annotation naming a reference in an image
	// layout. Following containerd's exporter, it holds only the tag.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationImageName is containerd's annotation holding the full image
	// name; containerd's import prefers it to AnnotationRefName.
	AnnotationImageName = "io.containerd.image.name"
)

// WriteArchive builds img and writes it to w as an OCI archive: a tar of an
// OCI image layout (oci-layout, index.json, blobs/sha256/…) whose index names
// the image with both [AnnotationImageName] (the full, normalised name) and
// [AnnotationRefName] (the tag).
func WriteArchive(w io.Writer, img Image) error {
	name, err := parseName(img.Name)
	if err != nil {
		return err
	}
	built, platform, err := build(img)
	if err != nil {
		return err
	}
	return writeLayout(w, built, name, platform)
}

// WriteArchiveFile writes img as an OCI archive to the file at path,
// replacing it atomically: a reader never sees a half-written archive.
func WriteArchiveFile(path string, img Image) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	err = WriteArchive(f, img)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// writeLayout writes img's blobs and an index naming it as a tar stream.
func writeLayout(w io.Writer, img v1.Image, name imageName, platform *v1.Platform) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("manifest media type: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}

	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: mediaType,
			Size:      int64(len(manifest)),
			Digest:    sha256Of(manifest),
			Annotations: map[string]string{
				AnnotationImageName: name.full,
				AnnotationRefName:   name.tag,
			},
			Platform: platform,
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}

	tw := tar.NewWriter(w)
	aw := archiveWriter{tw: tw, written: make(map[v1.Hash]bool)}
	aw.file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	aw.file("index.json", indexJSON)
	aw.dir("blobs/")
	aw.dir("blobs/sha256/")
	aw.blob(sha256Of(manifest), manifest)
	aw.blob(sha256Of(config), config)
	for _, l := range layers {
		aw.layer(l)
	}
	if aw.err != nil {
		return aw.err
	}
	return tw.Close()
}

// archiveWriter writes the entries of an image layout and remembers the
// first error, so writeLayout reads as the list of what goes in.
type archiveWriter struct {
	tw      *tar.Writer
	written map[v1.Hash]bool
	err     error
}

func (a *archiveWriter) header(typ byte, name string, size int64, mode int64) bool {
	if a.err != nil {
		return false
	}
	a.err = a.tw.WriteHeader(&tar.Header{
		Typeflag: typ,
		Name:     name,
		Size:     size,
		Mode:     mode,
		ModTime:  epoch(),
	})
	return a.err == nil
}

func (a *archiveWriter) dir(name string) {
	a.header(tar.TypeDir, name, 0, 0o755)
}

func (a *archiveWriter) file(name string, data []byte) {
	if a.header(tar.TypeReg, name, int64(len(data)), 0o644) {
		_, a.err = a.tw.Write(data)
	}
}

func (a *archiveWriter) blob(h v1.Hash, data []byte) {
	if a.written[h] {
		return
	}
	a.written[h] = true
	a.file(blobName(h), data)
}

// layer streams a layer's stored (compressed) bytes into the archive and
// checks they match the digest the manifest records.
func (a *archiveWriter) layer(l v1.Layer) {
	if a.err != nil {
		return
	}
	h, err := l.Digest()
	if err != nil {
		a.err = fmt.Errorf("layer digest: %w", err)
		return
	}
	if a.written[h] {
		return
	}
	a.written[h] = true
	size, err := l.Size()
	if err != nil {
		a.err = fmt.Errorf("layer size: %w", err)
		return
	}
	rc, err := l.Compressed()
	if err != nil {
		a.err = fmt.Errorf("layer %s: %w", h, err)
		return
	}
	defer rc.Close()
	if !a.header(tar.TypeReg, blobName(h), size, 0o644) {
		return
	}
	got, n, err := v1.SHA256(io.TeeReader(rc, a.tw))
	switch {
	case err != nil:
		a.err = fmt.Errorf("layer %s: %w", h, err)
	case n != size || got != h:
		a.err = errors.New("layer " + h.String() + ": content changed while writing")
	}
}

func blobName(h v1.Hash) string {
	return "blobs/" + h.Algorithm + "/" + h.Hex
}

func sha256Of(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytes.NewReader(b)) // reading a bytes.Reader cannot fail
	return h
}
