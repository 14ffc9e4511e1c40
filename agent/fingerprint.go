package agent

import (
	"context"
	"os"
	"runtime"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"
)

// Fingerprint is what the agent learns of its host.
type Fingerprint struct {
	Hostname string
	OS       string
	Arch     string
	Kernel   string
	// CPU in millicores and Memory in MiB, before reservations.
	CPU    int64
	Memory int64
}

// Fingerprinter measures the host; tests replace it.
type Fingerprinter func(ctx context.Context) (Fingerprint, error)

// HostFingerprint measures this host with gopsutil.
func HostFingerprint(ctx context.Context) (Fingerprint, error) {
	fp := Fingerprint{OS: runtime.GOOS, Arch: runtime.GOARCH}
	cores, err := cpu.CountsWithContext(ctx, true)
	if err != nil {
		return fp, err
	}
	fp.CPU = int64(cores) * 1000
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fp, err
	}
	fp.Memory = int64(vm.Total >> 20)
	if info, err := host.InfoWithContext(ctx); err == nil {
		fp.Hostname, fp.Kernel = info.Hostname, info.KernelVersion
		if info.OS != "" {
			fp.OS = info.OS
		}
	}
	if fp.Hostname == "" {
		fp.Hostname, _ = os.Hostname()
	}
	return fp, nil
}

// hostUsage measures the host's current CPU (millicores in use) and memory
// (MiB in use), for heartbeats.
func hostUsage(ctx context.Context) (cpuMilli, memMiB int64) {
	if pct, err := cpu.PercentWithContext(ctx, 0, false); err == nil && len(pct) == 1 {
		if cores, err := cpu.CountsWithContext(ctx, true); err == nil {
			cpuMilli = int64(pct[0] * float64(cores) * 10)
		}
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		memMiB = int64(vm.Used >> 20)
	}
	return cpuMilli, memMiB
}
