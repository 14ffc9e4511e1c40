package containerdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// disabledPlugins are containerd plugins a test daemon does without: CRI
// (which wants CNI and a network), snapshotters other than overlayfs and
// native, and tracing. The v1 runtime stays: containerd 1.6's task service
// does not load without it.
func disabledPlugins() []string {
	return []string{
		"io.containerd.grpc.v1.cri",
		"io.containerd.snapshotter.v1.aufs",
		"io.containerd.snapshotter.v1.btrfs",
		"io.containerd.snapshotter.v1.devmapper",
		"io.containerd.snapshotter.v1.zfs",
		"io.containerd.tracing.processor.v1.otlp",
		"io.containerd.internal.v1.tracing",
	}
}

// logLevel is the daemon's; debug costs little, and a failed test shows it.
const logLevel = "debug"

// writeConfig writes the daemon's configuration (version 2, understood by
// containerd 1.5 and later) to path.
func writeConfig(path string, d *Daemon) error {
	quoted := make([]string, 0, len(disabledPlugins()))
	for _, p := range disabledPlugins() {
		quoted = append(quoted, fmt.Sprintf("%q", p))
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = %q

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %q
`, d.Root, d.State, strings.Join(quoted, ", "), d.Address, d.TTRPCAddress, logLevel,
		filepath.Join(d.dir, "opt"))
	return os.WriteFile(path, []byte(config), 0o600)
}

// overlaySupported reports whether an overlay filesystem can be mounted with
// its layers in dir, which is how containerd's overlayfs snapshotter will
// use it; on some filesystems (overlay on overlay, some tmpfs setups) and in
// some sandboxes it cannot. The probe leaves dir empty.
func overlaySupported(dir string) error {
	probe, err := os.MkdirTemp(dir, "overlay-probe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(probe)
	var paths []string
	for _, name := range []string{"lower", "upper", "work", "merged"} {
		p := filepath.Join(probe, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", paths[0], paths[1], paths[2])
	if err := unix.Mount("overlay", paths[3], "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	return unix.Unmount(paths[3], unix.MNT_DETACH)
}
