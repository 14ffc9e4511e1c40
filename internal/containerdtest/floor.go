package containerdtest

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
)

// Floor is what a bare containerd client takes to run one container: the
// yardstick Docket's start paths are measured against, in the same run.
type Floor struct {
	// FirstLine is from asking containerd for the container to reading
	// the first line it prints.
	FirstLine time.Duration
	// Total adds waiting for the exit and removing the container and its
	// snapshot: one create-run-remove cycle.
	Total time.Duration
}

// ColdStart runs args in img with the bare containerd client — new
// container with a new snapshot and the image's config, a task with its
// stdout on a pipe, Wait before Start — reads the first line it prints,
// waits for it to exit and removes it. It measures the floor that an
// orchestrator's start path adds its own work on top of.
func ColdStart(tb testing.TB, d *Daemon, client *containerd.Client, img containerd.Image, args ...string) Floor {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := UniqueID(tb)
	pr, pw := io.Pipe()
	defer pr.Close()
	began := time.Now()
	ctr, err := client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(oci.WithImageConfigArgs(img, args)))
	if err != nil {
		tb.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, pw, io.Discard), cio.WithFIFODir(d.FIFODir)))
	if err != nil {
		ctr.Delete(ctx, containerd.WithSnapshotCleanup)
		tb.Fatal(err)
	}
	exitC, err := task.Wait(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := bufio.NewReader(pr).ReadString('\n'); err != nil {
		tb.Fatalf("read the container's first line: %v", err)
	}
	var f Floor
	f.FirstLine = time.Since(began)
	go io.Copy(io.Discard, pr)
	<-exitC
	if _, err := task.Delete(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		tb.Fatal(err)
	}
	f.Total = time.Since(began)
	return f
}
