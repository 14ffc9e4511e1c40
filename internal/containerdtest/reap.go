package containerdtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// lockName is the file in a daemon's directory whose flock says its test
// process is alive; the kernel drops the lock when that process dies.
const lockName = "lock"

// lockDir creates and locks dir's lock file. The file is locked under a
// temporary name and then renamed, so no other process ever sees an
// unlocked lock file in a directory that is in use.
func lockDir(dir string) (*os.File, error) {
	tmp := filepath.Join(dir, lockName+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, lockName)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// reapStale removes the directories, processes and mounts of daemons whose
// test process died without cleaning up: those whose lock nobody holds.
// Directories without a lock file yet are being set up, and left alone.
func reapStale(t testing.TB) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "ctd*"))
	for _, dir := range dirs {
		f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close() // its test is alive
			continue
		}
		if err == nil {
			// Nothing is going to stop what is left: no grace.
			if err := removeDir(dir, 0); err != nil {
				t.Logf("containerdtest: removing stale %s: %v", dir, err)
			} else {
				t.Logf("containerdtest: removed %s, left by a test process that died", dir)
			}
		}
		f.Close()
	}
}
