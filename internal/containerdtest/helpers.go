package containerdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
)

// importTimeout bounds Import.
const importTimeout = 2 * time.Minute

// Import imports the OCI archive at path (e.g. from
// imagetest.TestProgArchive) into client's default namespace, unpacks it
// into the default snapshotter, and returns the image. The archive must
// name exactly one image.
func Import(t testing.TB, client *containerd.Client, path string) containerd.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), importTimeout)
	defer cancel()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	defer f.Close()
	imgs, err := client.Import(ctx, f)
	if err != nil {
		t.Fatalf("containerdtest: import %s: %v", path, err)
	}
	if len(imgs) != 1 {
		t.Fatalf("containerdtest: import %s: got %d named images, want 1", path, len(imgs))
	}
	img := containerd.NewImage(client, imgs[0])
	if err := img.Unpack(ctx, ""); err != nil {
		t.Fatalf("containerdtest: unpack %s: %v", img.Name(), err)
	}
	return img
}

// UniqueID returns a container ID, made from t's name and random bits, that
// no other test uses, not even one running in another process against
// another daemon: containers of different daemons share their runc state
// directory and cgroup by ID (see the package comment).
func UniqueID(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("containerdtest: %v", err)
	}
	// containerd IDs are alphanumeric runs joined by single '.', '_' or '-'.
	words := strings.FieldsFunc(strings.ToLower(t.Name()), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
	name := strings.Join(words, "-")
	if len(name) > 48 {
		name = strings.TrimRight(name[:48], "-")
	}
	if name == "" {
		name = "test"
	}
	return name + "-" + hex.EncodeToString(b[:])
}
