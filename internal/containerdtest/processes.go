package containerdtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// shimExitTimeout is how long shims get to exit by themselves once
	// their tasks are deleted, before they are killed.
	shimExitTimeout = 5 * time.Second
	// killTimeout is how long killed processes get to disappear.
	killTimeout = 5 * time.Second
)

// process is a process found in /proc.
type process struct {
	pid  int
	args []string
}

// arg returns the value following flag in p's arguments, or "".
func (p process) arg(flag string) string {
	i := slices.Index(p.args, flag)
	if i < 0 || i+1 >= len(p.args) {
		return ""
	}
	return p.args[i+1]
}

// processesUsing lists the processes, other than this one, with an argument
// naming a path inside dir. Every daemon gets its own random dir, so this
// finds that daemon and its shims and nothing else.
func processesUsing(dir string) ([]process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	needle := []byte(dir + "/")
	var found []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, needle) {
			continue // gone, a kernel thread, a zombie, or not ours
		}
		args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		found = append(found, process{pid: pid, args: args})
	}
	return found, nil
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command, which is in parentheses and may hold
		// spaces, are: state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}

// stopProcesses waits up to grace for the processes using dir to exit by
// themselves, then kills those left: shims with their containers first,
// through runc, then the processes. It fails only if some survive SIGKILL.
func stopProcesses(dir string, grace time.Duration) error {
	left, err := waitGone(dir, grace)
	if err != nil || len(left) == 0 {
		return err
	}
	for _, p := range left {
		if ns, id := p.arg("-namespace"), p.arg("-id"); ns != "" && id != "" {
			// The shim's container: runc kills every process in its cgroup
			// and removes its state and cgroup. The default runc root is the
			// one the shim used unless the test chose another.
			root := filepath.Join("/run/containerd/runc", ns)
			_ = exec.Command("runc", "--root", root, "delete", "--force", id).Run()
			for _, kid := range childrenOf(p.pid) {
				_ = syscall.Kill(kid, syscall.SIGKILL)
			}
		}
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	left, err = waitGone(dir, killTimeout)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		var pids []string
		for _, p := range left {
			pids = append(pids, strconv.Itoa(p.pid))
		}
		return fmt.Errorf("processes %s using %s survived SIGKILL", strings.Join(pids, ", "), dir)
	}
	return nil
}

// waitGone polls until no process uses dir or timeout passes, and returns
// those still there.
func waitGone(dir string, timeout time.Duration) ([]process, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		left, err := processesUsing(dir)
		if err != nil {
			return nil, errors.New("list processes: " + err.Error())
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left, nil
		}
		<-tick.C
	}
}
