package ocibuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
)

// skeleton is the root filesystem every image starts from: enough for a
// static binary to run under runc as root or as nobody, resolve "localhost",
// and write to /tmp. runc creates /dev, /proc and /sys mount points itself;
// they are listed so a read-only root filesystem needs no mkdir.
func skeleton() []File {
	return []File{
		{Path: "/dev", Mode: fs.ModeDir | 0o755},
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\n")},
		{Path: "/etc/hosts", Mode: 0o644, Data: []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{Path: "/proc", Mode: fs.ModeDir | 0o755},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
		{Path: "/sys", Mode: fs.ModeDir | 0o755},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
}

// entry is one tar entry of the layer.
type entry struct {
	hdr  tar.Header
	data []byte
}

// buildLayer returns the uncompressed tar of the skeleton overlaid with files.
// Entries are sorted by path, which also puts every directory before its
// contents, and carry fixed times and owners.
func buildLayer(files []File) ([]byte, error) {
	entries := make(map[string]*entry)
	for _, f := range skeleton() {
		e, err := newEntry(f)
		if err != nil {
			return nil, fmt.Errorf("skeleton: %w", err)
		}
		entries[e.hdr.Name] = e
	}
	own := make(map[string]bool, len(files))
	for _, f := range files {
		e, err := newEntry(f)
		if err != nil {
			return nil, err
		}
		if own[e.hdr.Name] {
			return nil, fmt.Errorf("file %s: listed twice", f.Path)
		}
		own[e.hdr.Name] = true
		entries[e.hdr.Name] = e
	}

	// Create missing parents, and refuse a file where a directory must be.
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			parent, ok := entries[dir]
			if !ok {
				entries[dir] = dirEntry(dir)
				continue
			}
			if parent.hdr.Typeflag != tar.TypeDir {
				return nil, fmt.Errorf("file /%s: parent /%s is not a directory", name, dir)
			}
		}
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		e := entries[name]
		hdr := e.hdr
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, fmt.Errorf("layer entry /%s: %w", name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry /%s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer: %w", err)
	}
	return buf.Bytes(), nil
}

// newEntry checks f and turns it into a tar entry named relative to "/".
func newEntry(f File) (*entry, error) {
	name, err := cleanPath(f.Path)
	if err != nil {
		return nil, err
	}
	if f.UID < 0 || f.GID < 0 {
		return nil, fmt.Errorf("file %s: negative owner %d:%d", f.Path, f.UID, f.GID)
	}
	e := &entry{hdr: tar.Header{
		Name:    name,
		Uid:     f.UID,
		Gid:     f.GID,
		ModTime: epoch(),
	}}
	perm := f.Mode.Perm()
	switch {
	case f.Mode.IsDir():
		if f.Data != nil || f.HostPath != "" || f.Linkname != "" {
			return nil, fmt.Errorf("file %s: a directory has no content or link target", f.Path)
		}
		e.hdr.Typeflag = tar.TypeDir
		if perm == 0 {
			perm = 0o755
		}
	case f.Mode&fs.ModeSymlink != 0:
		if f.Linkname == "" {
			return nil, fmt.Errorf("file %s: symlink without Linkname", f.Path)
		}
		if f.Data != nil || f.HostPath != "" {
			return nil, fmt.Errorf("file %s: a symlink has no content", f.Path)
		}
		e.hdr.Typeflag = tar.TypeSymlink
		e.hdr.Linkname = f.Linkname
		if perm == 0 {
			perm = 0o777
		}
	case f.Mode.Type() == 0:
		if f.Linkname != "" {
			return nil, fmt.Errorf("file %s: Linkname is only for symlinks", f.Path)
		}
		data, hostPerm, err := fileContent(f)
		if err != nil {
			return nil, err
		}
		e.hdr.Typeflag = tar.TypeReg
		e.hdr.Size = int64(len(data))
		e.data = data
		if perm == 0 {
			perm = hostPerm
		}
	default:
		return nil, fmt.Errorf("file %s: unsupported type %s", f.Path, f.Mode.Type())
	}
	e.hdr.Mode = tarMode(perm, f.Mode)
	return e, nil
}

// fileContent returns a regular file's bytes and the permissions to use when
// the caller gave none.
func fileContent(f File) ([]byte, fs.FileMode, error) {
	if f.HostPath == "" {
		return f.Data, 0o644, nil
	}
	if f.Data != nil {
		return nil, 0, fmt.Errorf("file %s: both Data and HostPath set", f.Path)
	}
	info, err := os.Stat(f.HostPath)
	if err != nil {
		return nil, 0, fmt.Errorf("file %s: %w", f.Path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("file %s: host path %s is not a regular file", f.Path, f.HostPath)
	}
	data, err := os.ReadFile(f.HostPath)
	if err != nil {
		return nil, 0, fmt.Errorf("file %s: %w", f.Path, err)
	}
	return data, info.Mode().Perm(), nil
}

// cleanPath turns an absolute image path into a tar entry name: no leading
// slash, no trailing slash, no "." or ".." elements.
func cleanPath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("file %q: path must be absolute", p)
	}
	if slices.Contains(strings.Split(p, "/"), "..") {
		return "", fmt.Errorf("file %q: path must not contain \"..\"", p)
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name == "" {
		return "", errors.New("file \"/\": the root directory cannot be listed")
	}
	return name, nil
}

// tarMode is the tar header mode: permission bits plus the setuid, setgid and
// sticky bits in their Unix positions, which os.FileMode keeps elsewhere.
func tarMode(perm, mode fs.FileMode) int64 {
	m := int64(perm)
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

func dirEntry(name string) *entry {
	return &entry{hdr: tar.Header{
		Typeflag: tar.TypeDir,
		Name:     name,
		Mode:     0o755,
		ModTime:  epoch(),
	}}
}
