package containerdtest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// unmountAll lazily unmounts everything mounted at or under dir, deepest
// first, as many times as needed for stacked mounts.
func unmountAll(dir string) error {
	for range 10 {
		mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
		if err != nil {
			return fmt.Errorf("read mounts: %w", err)
		}
		if len(mounts) == 0 {
			return nil
		}
		slices.SortFunc(mounts, func(a, b *mountinfo.Info) int {
			return cmp.Compare(len(b.Mountpoint), len(a.Mountpoint))
		})
		for _, m := range mounts {
			err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
			if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("unmount %s: %w", m.Mountpoint, err)
			}
		}
	}
	mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	var points []string
	for _, m := range mounts {
		points = append(points, m.Mountpoint)
	}
	return fmt.Errorf("still mounted after unmounting: %s", strings.Join(points, ", "))
}
