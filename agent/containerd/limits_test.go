package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/docketd/docket/internal/containerdtest"
)

func TestCPULimits(t *testing.T) {
	for _, tc := range []struct {
		millicores int
		quota      int64
		shares     uint64
	}{
		{1000, 100_000, 1024},
		{500, 50_000, 512},
		{2500, 250_000, 2560},
		{10, 1000, 10},
		{1, 1000, 2}, // the kernel's least quota and shares
	} {
		quota, shares := cpuLimits(tc.millicores)
		if quota != tc.quota || shares != tc.shares {
			t.Errorf("%d millicores: got quota %d, shares %d, want %d, %d", tc.millicores, quota, shares, tc.quota, tc.shares)
		}
	}
}

// TestCgroupLimits reads the limits back from the task's cgroup.
func TestCgroupLimits(t *testing.T) {
	d := containerdtest.Start(t)
	r := newRuntime(t, d)
	t.Cleanup(func() { r.Close() })
	image := testImage(t, "docket.test/testprog:limits")

	for _, tc := range []struct {
		cpu, memory int
		want        map[string]string // cgroup v1 controller/file → value
		wantV2      map[string]string // cgroup v2 file → value
	}{
		{
			cpu: 500, memory: 64,
			want: map[string]string{
				"cpu/cpu.cfs_quota_us":         "50000",
				"cpu/cpu.cfs_period_us":        "100000",
				"cpu/cpu.shares":               "512",
				"memory/memory.limit_in_bytes": strconv.Itoa(64 << 20),
			},
			wantV2: map[string]string{"cpu.max": "50000 100000", "memory.max": strconv.Itoa(64 << 20)},
		},
		{
			cpu: 2000, memory: 1024,
			want: map[string]string{
				"cpu/cpu.cfs_quota_us":         "200000",
				"cpu/cpu.shares":               "2048",
				"memory/memory.limit_in_bytes": strconv.Itoa(1 << 30),
			},
			wantV2: map[string]string{"cpu.max": "200000 100000", "memory.max": strconv.Itoa(1 << 30)},
		},
	} {
		t.Run(fmt.Sprintf("%dm %dMiB", tc.cpu, tc.memory), func(t *testing.T) {
			spec := taskSpec(t, image, "sleep 1h")
			spec.CPU, spec.Memory = tc.cpu, tc.memory
			startTask(t, r, spec)
			dir := cgroupPath(t, r, spec.ID)
			want := tc.want
			if cgroupV2() {
				want = tc.wantV2
			}
			for file, value := range want {
				path := cgroupFile(dir, file)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Errorf("read cgroup: %v", err)
					continue
				}
				if got := strings.TrimSpace(string(b)); got != value {
					t.Errorf("got %s = %q, want %q", path, got, value)
				}
			}
		})
	}
}

// cgroupPath returns the cgroup path of task id, from its spec.
func cgroupPath(t *testing.T, r *Runtime, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		t.Fatal("the spec names no cgroup")
	}
	return spec.Linux.CgroupsPath
}

// cgroupV2 reports whether the host has the unified hierarchy only.
func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// cgroupFile returns the path of a cgroup file, given as
// "controller/file" (v1) or "file" (v2).
func cgroupFile(cgroup, file string) string {
	if controller, name, ok := strings.Cut(file, "/"); ok {
		return filepath.Join("/sys/fs/cgroup", controller, cgroup, name)
	}
	return filepath.Join("/sys/fs/cgroup", cgroup, file)
}

func TestParseSignal(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want syscall.Signal
		ok   bool
	}{
		{"SIGTERM", syscall.SIGTERM, true}, {"TERM", syscall.SIGTERM, true}, {"term", syscall.SIGTERM, true},
		{"15", syscall.SIGTERM, true}, {"SIGKILL", syscall.SIGKILL, true}, {"SIGRTMIN", 0, false},
		{"SIGNOPE", 0, false}, {"0", 0, false}, {"65", 0, false}, {"", 0, false},
	} {
		got, err := parseSignal(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
