package containerd

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/archive/compression"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/docketd/docket/agent"
)

// archivePrefix marks an image reference as a local OCI archive.
const archivePrefix = "oci-archive:"

// unnamedPrefix names the images of an archive whose index does not name
// them, by digest.
const unnamedPrefix = "docket.local/oci-archive"

// imageError is a failure to make an image available. It is an
// [agent.ErrImage] and its cause.
type imageError struct {
	ref string
	err error
}

func (e *imageError) Error() string   { return "image " + e.ref + ": " + e.err.Error() }
func (e *imageError) Unwrap() []error { return []error{agent.ErrImage, e.err} }

// imageStore makes images available in containerd: it imports archives and
// pulls registry references, unpacks them into the snapshotter, and
// remembers the result for the Runtime's life. Concurrent requests for one
// image share one import or pull.
type imageStore struct {
	client      *containerd.Client
	snapshotter string
	log         *slog.Logger
	resolver    remotes.Resolver
	onFetch     func(ImageFetch) // may be nil
	dirs        []string         // Config.ImageDirs, cleaned and absolute

	// mu guards ready and fetches.
	mu sync.Mutex
	// ready holds unpacked images by key (see plan).
	ready map[string]containerd.Image
	// fetches holds the imports and pulls in flight by key.
	fetches map[string]*fetch
	// running counts the goroutines of fetches; close waits for them.
	running sync.WaitGroup

	// imports counts archives actually imported into containerd, for
	// tests.
	imports atomic.Int64
}

// ImageFetch describes one import or pull, for metrics.
type ImageFetch struct {
	Ref  string
	Kind string // "import" (oci-archive) or "pull" (registry)
	Took time.Duration
	Err  error
}

// fetch is one import or pull, shared by every caller who wants its image
// while it runs. It is cancelled when the last of them gives up.
type fetch struct {
	done    chan struct{} // closed when img and err are set
	img     containerd.Image
	err     error
	waiters int // guarded by imageStore.mu
	cancel  context.CancelFunc
}

func newImageStore(client *containerd.Client, snapshotter string, log *slog.Logger, onFetch func(ImageFetch), dirs []string) *imageStore {
	clean := make([]string, len(dirs))
	for i, d := range dirs {
		clean[i] = filepath.Clean(d)
	}
	return &imageStore{
		client:      client,
		snapshotter: snapshotter,
		log:         log,
		onFetch:     onFetch,
		dirs:        clean,
		// Plain HTTP only for registries on this host, such as a local
		// mirror or a test's registry; anything else is HTTPS.
		resolver: docker.NewResolver(docker.ResolverOptions{
			Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
		}),
		ready:   make(map[string]containerd.Image),
		fetches: make(map[string]*fetch),
	}
}

// get returns ref's image, unpacked, importing or pulling it if this store
// has not yet. Errors wrap [agent.ErrImage].
func (s *imageStore) get(ctx context.Context, ref string) (containerd.Image, error) {
	key, run, err := s.plan(ref)
	if err != nil {
		return nil, &imageError{ref: ref, err: err}
	}
	s.mu.Lock()
	if img, ok := s.ready[key]; ok {
		s.mu.Unlock()
		return img, nil
	}
	f, ok := s.fetches[key]
	if !ok {
		// The fetch runs on its own context, so that one caller giving up
		// does not fail the others; the last one to give up cancels it.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &fetch{done: make(chan struct{}), cancel: cancel}
		s.fetches[key] = f
		s.running.Add(1)
		go func() {
			defer s.running.Done()
			defer cancel()
			began := time.Now()
			img, err := run(fctx)
			if s.onFetch != nil {
				kind := "pull"
				if strings.HasPrefix(ref, archivePrefix) {
					kind = "import"
				}
				s.onFetch(ImageFetch{Ref: ref, Kind: kind, Took: time.Since(began), Err: err})
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			f.img, f.err = img, err
			if s.fetches[key] == f {
				delete(s.fetches, key)
			}
			if err == nil {
				s.ready[key] = img
			}
			close(f.done)
		}()
	}
	f.waiters++
	s.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, &imageError{ref: ref, err: f.err}
		}
		return f.img, nil
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			// Later callers start afresh rather than join a cancelled fetch.
			if s.fetches[key] == f {
				delete(s.fetches, key)
			}
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("image %s: %w", ref, ctx.Err()) // not the image's fault

	}
}

// forget drops what the store remembers of ref, so that the next get
// imports or pulls it again.
func (s *imageStore) forget(ref string) {
	key, _, err := s.plan(ref)
	if err != nil {
		return
	}
	s.mu.Lock()
	delete(s.ready, key)
	s.mu.Unlock()
}

// close cancels the fetches in flight and waits for them to end.
func (s *imageStore) close() {
	s.mu.Lock()
	for _, f := range s.fetches {
		f.cancel()
	}
	s.mu.Unlock()
	s.running.Wait()
}

// plan returns the key under which ref's image is remembered and the
// function that makes it available. An archive's key holds its size and
// modification time, so that an archive rewritten in place is imported
// again; a registry reference's is its normalised form.
func (s *imageStore) plan(ref string) (string, func(context.Context) (containerd.Image, error), error) {
	if p, ok := strings.CutPrefix(ref, archivePrefix); ok {
		p, err := s.archivePath(p)
		if err != nil {
			return "", nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return "", nil, err
		}
		info, err := f.Stat()
		f.Close()
		if err != nil {
			return "", nil, err
		}
		if !info.Mode().IsRegular() {
			return "", nil, fmt.Errorf("%s is not a file", p)
		}
		key := archivePrefix + p + "\x00" + strconv.FormatInt(info.Size(), 10) +
			"\x00" + strconv.FormatInt(info.ModTime().UnixNano(), 10)
		return key, func(ctx context.Context) (containerd.Image, error) { return s.importArchive(ctx, p) }, nil
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", nil, err
	}
	name := named.String()
	return name, func(ctx context.Context) (containerd.Image, error) { return s.pull(ctx, name) }, nil
}

// archivePath returns the file an oci-archive: reference names, with its
// symbolic links resolved, if it lies under one of the image directories.
// A path outside them is refused before anything of it is looked at, so
// that a job cannot learn which host files exist; one that leads outside
// through a symbolic link is refused once resolved.
func (s *imageStore) archivePath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("oci-archive %q: the path must be absolute", p)
	}
	p = filepath.Clean(p)
	if !s.allowed(p, false) {
		return "", s.outside(p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if !s.allowed(real, true) {
		return "", s.outside(p)
	}
	return real, nil
}

// allowed reports whether the clean, absolute path p lies under one of
// the image directories, those resolved through their symbolic links when
// resolved is set (p is then resolved too).
func (s *imageStore) allowed(p string, resolved bool) bool {
	for _, d := range s.dirs {
		if resolved {
			var err error
			if d, err = filepath.EvalSymlinks(d); err != nil {
				continue
			}
		}
		if rel, err := filepath.Rel(d, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && rel != "." {
			return true
		}
	}
	return false
}

func (s *imageStore) outside(p string) error {
	return fmt.Errorf("oci-archive %s is outside the directories this agent reads images from (%s): "+
		"put it in one, or start the agent with --image-dir", p, strings.Join(s.dirs, ", "))
}

// importArchive imports the OCI archive at p, unless containerd already
// holds its image under the same name and digest, and unpacks it. An
// archive naming several images gives the first.
func (s *imageStore) importArchive(ctx context.Context, p string) (containerd.Image, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want, err := archiveImage(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	img, err := s.client.GetImage(ctx, want.Name)
	switch {
	case err == nil && img.Target().Digest == want.Target.Digest:
		// Imported before, by this Runtime's predecessor or another client.
	case err == nil || errdefs.IsNotFound(err):
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		_, err := s.client.Import(ctx, f,
			containerd.WithDigestRef(func(d digest.Digest) string { return unnamedPrefix + "@" + d.String() }),
			containerd.WithSkipDigestRef(func(name string) bool { return name != "" }))
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		s.imports.Add(1)
		if img, err = s.client.GetImage(ctx, want.Name); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	default:
		return nil, err
	}
	if err := s.unpack(ctx, img); err != nil {
		return nil, err
	}
	s.log.Debug("image imported", "archive", p, "image", img.Name(), "digest", img.Target().Digest)
	return img, nil
}

// unpack unpacks img into the snapshotter unless it is already.
func (s *imageStore) unpack(ctx context.Context, img containerd.Image) error {
	unpacked, err := img.IsUnpacked(ctx, s.snapshotter)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if unpacked {
		return nil
	}
	if err := img.Unpack(ctx, s.snapshotter); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	return nil
}

// pull returns the image named name (normalised), pulling and unpacking it
// unless containerd holds it unpacked already: a tag is resolved once, not
// at every start, as `docker run` does.
func (s *imageStore) pull(ctx context.Context, name string) (containerd.Image, error) {
	img, err := s.client.GetImage(ctx, name)
	if err == nil {
		if unpacked, err := img.IsUnpacked(ctx, s.snapshotter); err == nil && unpacked {
			return img, nil
		}
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	img, err = s.client.Pull(ctx, name,
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(s.snapshotter),
		containerd.WithResolver(s.resolver))
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	s.log.Debug("image pulled", "image", name, "digest", img.Target().Digest)
	return img, nil
}

// archiveImage reads the index of an OCI archive (a tar, possibly
// compressed, of an OCI image layout) and returns the first image it
// lists, named as containerd's import names it.
func archiveImage(r io.Reader) (images.Image, error) {
	dr, err := compression.DecompressStream(r)
	if err != nil {
		return images.Image{}, err
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return images.Image{}, errors.New("no index.json: not an OCI archive")
		}
		if err != nil {
			return images.Image{}, err
		}
		if path.Clean(hdr.Name) != "index.json" {
			continue
		}
		var index ocispec.Index
		if err := json.NewDecoder(tr).Decode(&index); err != nil {
			return images.Image{}, fmt.Errorf("index.json: %w", err)
		}
		if len(index.Manifests) == 0 {
			return images.Image{}, errors.New("index.json lists no image")
		}
		m := index.Manifests[0]
		// The names containerd's Import gives.
		name := m.Annotations[images.AnnotationImageName]
		if name == "" {
			name = m.Annotations[ocispec.AnnotationRefName]
		}
		if name == "" {
			name = unnamedPrefix + "@" + m.Digest.String()
		}
		return images.Image{Name: name, Target: m}, nil
	}
}
