package containerd

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/docketd/docket/agent"
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
// configuration, then what the task overrides, then the host's network and
// the cgroup limits.
func specOpts(img containerd.Image, spec agent.TaskSpec) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if len(spec.Command) > 0 {
		// The command replaces the entrypoint, and with it the image's cmd.
		args := append(slices.Clone(spec.Command), spec.Args...)
		opts = append(opts, oci.WithImageConfig(img), oci.WithProcessArgs(args...))
	} else {
		// Arguments alone replace the image's cmd; none keep it.
		opts = append(opts, oci.WithImageConfigArgs(img, spec.Args))
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
		opts = append(opts, withUser(spec.User))
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
	return opts
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
// user.
func withUser(user string) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if err := oci.WithUser(user)(ctx, client, c, s); err != nil {
			return fmt.Errorf("user %q: %w", user, err)
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
