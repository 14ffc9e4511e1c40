package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docketd/docket/scheduler/api"
)

// MountTmpfs mounts a tmpfs of size bytes on dir, which must exist: a small
// file system for a server's data directory that the disk-full phase can
// fill. It needs root (CAP_SYS_ADMIN). The returned function unmounts it.
func MountTmpfs(dir string, size int64) (unmount func() error, err error) {
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		return nil, fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return func() error {
		if err := unix.Unmount(dir, 0); err != nil {
			return unix.Unmount(dir, unix.MNT_DETACH)
		}
		return nil
	}, nil
}

// fillerChunk is how much the filler writes at a time.
const fillerChunk = 1 << 20

// fill appends to f until the file system is full and returns the bytes
// written. Any error but ENOSPC is returned.
func fill(f *os.File) (int64, error) {
	buf := make([]byte, fillerChunk)
	var total int64
	for {
		n, err := f.Write(buf)
		total += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// recoveryGrace is how soon after space is freed writes must succeed
// again.
const recoveryGrace = time.Second

// probeSize is the body size of the disk-full phase's own sends: large, so
// that the server runs out of preallocated space soon.
const probeSize = 200 << 10

// probeSend sends one message to the work queue and records it in the
// ledger like any other.
func (d *driver) probeSend(ctx context.Context, cl *api.Client) error {
	key, body := d.ledger.NewMessage(workQueue, probeSize)
	var res []api.SendResult
	err := d.call(ctx, "send", func(ctx context.Context) (err error) {
		res, err = cl.Send(ctx, workQueue, api.SendMessage{Body: body})
		return err
	})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return fmt.Errorf("a send of 1 message answered %d results", len(res))
	}
	if res[0].Error != nil {
		return res[0].Error
	}
	d.ledger.SendAcked(key, res[0].ID)
	return nil
}

// diskFullPhase fills the data directory's file system while the clients
// run and checks the contract: writes are refused with 507 storage_full,
// health is 503 degraded with a reason, reads still work; once the filler
// is removed writes succeed again within recoveryGrace and health is 200
// again, all without a restart.
func (d *driver) diskFullPhase(ctx context.Context, cl *api.Client, life int) {
	failed := false
	fail := func(format string, args ...any) {
		failed = true
		d.f.add(DiskFull, "life %d: "+format, append([]any{life}, args...)...)
	}
	defer func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.diskFull = "ok"
		if failed {
			d.diskFull = "failed"
		}
	}()
	path := filepath.Join(d.cfg.DiskFullDir, "soak-filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		fail("create the filler: %v", err)
		return
	}
	defer func() {
		f.Close()
		os.Remove(path)
	}()
	filled, err := fill(f)
	if err != nil {
		fail("fill the disk: %v", err)
		return
	}

	// The server may have space preallocated; it runs out after a few
	// large sends. Space it frees meanwhile (a compaction drops a segment)
	// is taken again after each send that succeeds.
	var refused *api.Error
	succeeded := 0
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := d.probeSend(ctx, cl)
		if err == nil {
			succeeded++
			if time.Now().After(deadline) {
				fail("%d sends of %d KiB succeeded on a full disk within 30s; want 507 storage_full", succeeded, probeSize>>10)
				return
			}
			n, err := fill(f)
			if err != nil {
				fail("fill the disk: %v", err)
				return
			}
			filled += n
			continue
		}
		if !errors.As(err, &refused) {
			fail("send on a full disk: %v; want 507 storage_full", err)
			return
		}
		break
	}
	if refused.Status != 507 || refused.Code != "storage_full" {
		fail("send on a full disk: %d %s (%s); want 507 storage_full", refused.Status, refused.Code, refused.Message)
	}
	var h healthState
	ok := poll(ctx, 3*time.Second, func() bool {
		h, err = d.health(ctx, cl)
		return err == nil && h.Code == 503 && h.Status == "degraded" && h.Reason != ""
	})
	if !ok {
		fail("health on a full disk: %v %v; want 503 degraded with a reason", h, err)
	}
	if _, err := d.queues(ctx, cl); err != nil {
		fail("list queues on a full disk: %v; reads must still work", err)
	}
	if err := d.call(ctx, "queue", func(ctx context.Context) error {
		_, err := cl.Queue(ctx, workQueue)
		return err
	}); err != nil {
		fail("get queue on a full disk: %v; reads must still work", err)
	}

	f.Close()
	if err := os.Remove(path); err != nil {
		fail("remove the filler: %v", err)
		return
	}
	// The server learns that space is back by trying: a write right after
	// the removal may still be refused, but not for longer than
	// recoveryGrace.
	freed := time.Now()
	refusals := 0
	var lastErr error
	recovered := poll(ctx, 10*time.Second, func() bool {
		lastErr = d.probeSend(ctx, cl)
		if lastErr != nil {
			refusals++
		}
		return lastErr == nil
	})
	took := time.Since(freed)
	switch {
	case !recovered:
		fail("sends still fail 10s after space was freed: %v", lastErr)
	case took > recoveryGrace:
		fail("sends succeed again only %s after space was freed (%d refused, the last with %v); want within %s",
			took.Round(time.Millisecond), refusals, lastErr, recoveryGrace)
	case refusals > 0:
		d.logf("life %d: %d sends refused in the %s after space was freed", life, refusals, took.Round(time.Millisecond))
	}
	ok = poll(ctx, 5*time.Second, func() bool {
		h, err = d.health(ctx, cl)
		return err == nil && h.Code == 200 && h.Status == "ok"
	})
	if !ok {
		fail("health 5s after space was freed: %v %v; want 200 ok", h, err)
	}
	d.logf("life %d: disk full: %d MiB of filler, %d more sends succeeded, then %v; health %v",
		life, filled>>20, succeeded, refused, h)
}

// poll calls cond until it holds or timeout passes, and reports whether it
// held.
func poll(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || sleep(ctx, 20*time.Millisecond) != nil {
			return false
		}
	}
}
