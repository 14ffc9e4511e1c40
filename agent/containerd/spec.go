package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/internal/memo"
)

const (
	// cpuPeriod is the CFS period, in microseconds, against which a task's
	// CPU quota is set: the kernel's default.
	cpuPeriod = 100_000
	// sharesPerCPU are the cgroup v1 CPU shares of one whole CPU (the
	// kernel's default weight); containerd converts them for cgroup v2.
	sharesPerCPU = 1024
	// minShares and minQuota (µs) are the least the kernel accepts.
	minShares = 2
	minQuota  = 1000
)

// specOpts returns the OCI spec of spec's container, in order: the image's
// configuration, then what the task overrides, then the host's network,
// the cgroup limits and the sandbox. allowRoot lets the task ask to run
// as root.
func specOpts(img containerd.Image, spec agent.TaskSpec, cache *imageSpecs, allowRoot bool) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if len(spec.Command) > 0 {
		// The command replaces the entrypoint, and with it the image's cmd.
		args := append(slices.Clone(spec.Command), spec.Args...)
		opts = append(opts, cache.withImageConfig(img, nil), oci.WithProcessArgs(args...))
	} else {
		// Arguments alone replace the image's cmd; none keep it.
		opts = append(opts, cache.withImageConfig(img, spec.Args))
	}
	if len(spec.Env) > 0 {
		env := make([]string, 0, len(spec.Env))
		for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
			env = append(env, k+"="+spec.Env[k])
		}
		opts = append(opts, oci.WithEnv(env)) // replaces the image's values of the same names
	}
	if spec.Workdir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.Workdir))
	}
	if spec.User != "" {
		opts = append(opts, withUser(spec.User, allowRoot))
	}
	opts = append(opts,
		oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithHostHostsFile,
		oci.WithHostResolvconf)
	if len(spec.Mounts) > 0 {
		opts = append(opts, oci.WithMounts(bindMounts(spec.Mounts)))
	}
	if spec.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.Memory)<<20))
	}
	if spec.CPU > 0 {
		quota, shares := cpuLimits(spec.CPU)
		opts = append(opts, oci.WithCPUCFS(quota, cpuPeriod), oci.WithCPUShares(shares))
	}
	return append(opts, sandbox...)
}

// ErrRootTask is why a task that asks to run as root does not start on an
// agent that does not allow root tasks.
var ErrRootTask = errors.New("root tasks are not allowed on this node (docket agent --allow-root-tasks)")

// sandbox is what every task runs in, on top of containerd's default spec
// (its own mount, PID, IPC and UTS namespaces, masked and read-only
// kernel paths, the default capability set): no privilege gained through
// exec (setuid binaries, file capabilities), no raw sockets (CAP_NET_RAW
// lets a task on the host's network forge packets), and containerd's
// default seccomp profile, which answers EPERM to the system calls a
// container has no business making (keyctl, bpf, mount and unshare
// without CAP_SYS_ADMIN, ...). The profile follows the capabilities, as
// it must: it allows some calls by capability.
var sandbox = []oci.SpecOpts{
	oci.WithNoNewPrivileges,
	oci.WithDroppedCapabilities([]string{"CAP_NET_RAW"}),
	seccomp.WithDefaultProfile(),
}

// imageSpecs remembers what containerd's oci.WithImageConfigArgs makes of
// a fresh spec, per image and arguments. That option reads the image's
// manifest and configuration from the content store and mounts the
// container's snapshot to read /etc/passwd and /etc/group, on every
// start; an image is immutable (named by its digest), so once is enough.
// Only the process and the mounts are touched by the option; both are
// kept as JSON, so every use gets its own deep copy.
type imageSpecs struct {
	specs memo.Map[imageSpecKey, []byte]
	// chains holds each image's chain ID, the snapshot its containers'
	// snapshots are prepared on, which containerd's WithNewSnapshot
	// otherwise reads from the manifest and configuration every time.
	chains memo.Map[digest.Digest, string]
	// hits counts the starts served from the cache, for tests.
	hits atomic.Int64
}

// chainID returns the chain ID of img's layers.
func (c *imageSpecs) chainID(ctx context.Context, img containerd.Image) (string, error) {
	key := img.Target().Digest
	if id, ok := c.chains.Get(key); ok {
		return id, nil
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return "", err
	}
	id := identity.ChainID(diffIDs).String()
	c.chains.Put(key, id)
	return id, nil
}

// withNewSnapshot is containerd.WithNewSnapshot(id, img) with the chain ID
// remembered and without its look-up of the snapshotter's capabilities
// (which only matters to ID-mapping options, not used here): a prepared
// snapshot named id on the image's layers, in the container's
// snapshotter, which must be set before.
func (c *imageSpecs) withNewSnapshot(id string, img containerd.Image) containerd.NewContainerOpts {
	return func(ctx context.Context, client *containerd.Client, ctr *containers.Container) error {
		parent, err := c.chainID(ctx, img)
		if err != nil {
			return err
		}
		if _, err := client.SnapshotService(ctr.Snapshotter).Prepare(ctx, id, parent); err != nil {
			return err
		}
		ctr.SnapshotKey, ctr.Image = id, img.Name()
		return nil
	}
}

type imageSpecKey struct {
	digest      digest.Digest
	snapshotter string
	args        string // argsKey
}

// argsKey is one string for an argument list, distinct for distinct lists
// (nil and empty alike: both keep the image's cmd): each argument with its
// length before it.
func argsKey(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(strconv.Itoa(len(a)))
		b.WriteByte(':')
		b.WriteString(a)
	}
	return b.String()
}

// imageSpec is what oci.WithImageConfigArgs sets.
type imageSpec struct {
	Process *specs.Process `json:"process"`
	Mounts  []specs.Mount  `json:"mounts"`
}

// withImageConfig is oci.WithImageConfigArgs(img, args), remembered. It
// must come first, on the default spec, which is the same for every
// container: what it remembers is the result of that spec.
func (c *imageSpecs) withImageConfig(img containerd.Image, args []string) oci.SpecOpts {
	build := oci.WithImageConfigArgs(img, args)
	return func(ctx context.Context, client oci.Client, ctr *containers.Container, s *oci.Spec) error {
		key := imageSpecKey{img.Target().Digest, ctr.Snapshotter, argsKey(args)}
		if b, ok := c.specs.Get(key); ok {
			var is imageSpec
			if err := json.Unmarshal(b, &is); err == nil {
				s.Process, s.Mounts = is.Process, is.Mounts
				c.hits.Add(1)
				return nil
			}
		}
		if err := build(ctx, client, ctr, s); err != nil {
			return err
		}
		b, err := json.Marshal(imageSpec{Process: s.Process, Mounts: s.Mounts})
		if err != nil {
			return nil // not remembered; the spec itself is fine
		}
		c.specs.Put(key, b)
		return nil
	}
}

// cpuLimits turns millicores into a CFS quota per cpuPeriod, the hard
// limit, and CPU shares, the weight under contention, both proportional.
func cpuLimits(millicores int) (quota int64, shares uint64) {
	quota = max(int64(millicores)*cpuPeriod/1000, minQuota)
	shares = max(uint64(millicores)*sharesPerCPU/1000, minShares)
	return quota, shares
}

// withUser runs the process as user ("name", "uid", "uid:gid" or
// "name:group", resolved against the image's /etc/passwd and /etc/group),
// with that user's supplementary groups rather than those of the image's
// user. A user that is root (uid 0, by any name) is refused unless
// allowRoot.
func withUser(user string, allowRoot bool) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if err := oci.WithUser(user)(ctx, client, c, s); err != nil {
			return fmt.Errorf("user %q: %w", user, err)
		}
		if s.Process.User.UID == 0 && !allowRoot {
			return fmt.Errorf("user %q: %w", user, ErrRootTask)
		}
		uid := strconv.FormatUint(uint64(s.Process.User.UID), 10)
		if err := oci.WithAdditionalGIDs(uid)(ctx, client, c, s); err != nil {
			return fmt.Errorf("user %q: groups: %w", user, err)
		}
		return nil
	}
}

// bindMounts turns the task's mounts into recursive bind mounts.
func bindMounts(mounts []agent.Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(mounts))
	for _, m := range mounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		out = append(out, specs.Mount{
			Type:        "bind",
			Source:      m.Source,
			Destination: m.Target,
			Options:     []string{"rbind", mode},
		})
	}
	return out
}
