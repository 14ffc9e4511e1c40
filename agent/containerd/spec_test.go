package containerd

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/containerd/containerd/snapshots"
	"github.com/opencontainers/image-spec/identity"

	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/internal/ocibuild"
)

// The second container of an image gets from the cache exactly the process
// and mounts containerd's own reading of the image gave the first (user,
// supplementary groups from the image's /etc/group, environment,
// arguments), and other arguments are not served from it.
func TestImageSpecCache(t *testing.T) {
	d := containerdtest.Start(t)
	r := newRuntime(t, d)
	t.Cleanup(func() { r.Close() })
	img := runtimetest.TestProgImage(t, "docket.test/testprog:users")
	img.Files = append(img.Files,
		ocibuild.File{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/:/sbin/nologin\n")},
		ocibuild.File{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:root,app\n")})
	img.User = "app"
	image := archivePrefix + imagetest.WriteArchive(t, img)

	spec := func(args string) (id string, process, mounts any) {
		t.Helper()
		ts := taskSpec(t, image, args)
		startTask(t, r, ts)
		waitExit(t, r, ts.ID)
		ctr, err := r.client.LoadContainer(context.Background(), ts.ID)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ctr.Spec(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if gids := s.Process.User.AdditionalGids; s.Process.User.UID != 1000 || !slices.Contains(gids, 50) || !slices.Contains(gids, 10) {
			t.Errorf("task %s runs as %+v, want uid 1000 with groups 50 and 10", ts.ID, s.Process.User)
		}
		return ts.ID, s.Process, s.Mounts
	}

	_, p1, m1 := spec("echo one")
	if got := r.imageSpecs.hits.Load(); got != 0 {
		t.Fatalf("the first container of the image was served from the cache (%d hits)", got)
	}
	id2, p2, m2 := spec("echo one")
	if got := r.imageSpecs.hits.Load(); got != 1 {
		t.Fatalf("the second container with the same arguments: %d cache hits, want 1", got)
	}
	if !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(m1, m2) {
		t.Errorf("the cached spec differs from containerd's reading:\nprocess %+v\nwant    %+v\nmounts %+v\nwant   %+v", p2, p1, m2, m1)
	}
	// Its snapshot is prepared on the image's layers, as containerd's own
	// WithNewSnapshot does it.
	ctx := context.Background()
	cimg, err := r.client.GetImage(ctx, "docket.test/testprog:users")
	if err != nil {
		t.Fatal(err)
	}
	diffIDs, err := cimg.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := r.client.SnapshotService(r.snapshotter).Stat(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	if want := identity.ChainID(diffIDs).String(); info.Parent != want || info.Kind != snapshots.KindActive {
		t.Errorf("snapshot %s: parent %s (%v), want %s, active", id2, info.Parent, info.Kind, want)
	}
	_, p3, _ := spec("echo two")
	if got := r.imageSpecs.hits.Load(); got != 1 {
		t.Errorf("other arguments were served from the cache (%d hits)", got)
	}
	if reflect.DeepEqual(p1, p3) {
		t.Error("other arguments gave the same process")
	}
}

// Distinct argument lists have distinct cache keys; lists that keep the
// image's cmd share one.
func TestArgsKey(t *testing.T) {
	lists := [][]string{{"a\x00b"}, {"a", "b"}, {"ab"}, {""}, {"", ""}, {"1:a"}, {"a", "1:"}, {"3:abc"}}
	seen := map[string][]string{}
	for _, l := range lists {
		k := argsKey(l)
		if other, ok := seen[k]; ok {
			t.Errorf("%q and %q share the key %q", l, other, k)
		}
		seen[k] = l
	}
	if argsKey(nil) != argsKey([]string{}) {
		t.Error("nil and empty arguments (both the image's cmd) have different keys")
	}
	if _, ok := seen[argsKey(nil)]; ok {
		t.Error("no arguments share a key with some arguments")
	}
}
