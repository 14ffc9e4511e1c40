package runtimetest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docketd/docket/agent"
	"github.com/docketd/docket/internal/ocibuild"
)

// defaultPath is the PATH a process gets when its image sets none, as
// containerd gives it.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// baseMemory is what a fake task uses before it allocates anything.
const baseMemory = 4 << 20

// fakeProcess is what a task runs, resolved from its image and spec as
// containerd and runc would.
type fakeProcess struct {
	args     []string // args[0] is the executable
	env      []string // sorted
	cwd      string
	uid, gid int
	mounts   []agent.Mount
	files    map[string]bool // the image's paths
	memLimit int             // MiB; 0 means none
}

// newFakeProcess resolves what spec runs in img, failing as runc does for
// a user the image does not know or an executable it does not hold.
func newFakeProcess(img ocibuild.Image, spec agent.TaskSpec) (*fakeProcess, error) {
	p := &fakeProcess{mounts: slices.Clone(spec.Mounts), files: make(map[string]bool), memLimit: spec.Memory}
	for _, f := range img.Files {
		for d := f.Path; d != "/"; d = path.Dir(d) {
			p.files[d] = true
		}
	}
	switch {
	case len(spec.Command) > 0:
		p.args = append(slices.Clone(spec.Command), spec.Args...)
	case len(spec.Args) > 0:
		p.args = append(slices.Clone(img.Entrypoint), spec.Args...)
	default:
		p.args = append(slices.Clone(img.Entrypoint), img.Cmd...)
	}
	if len(p.args) == 0 {
		return nil, errors.New("no command")
	}

	env := make(map[string]string)
	for _, kv := range append([]string{defaultPath}, img.Env...) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	maps.Copy(env, spec.Env)

	user := cmpOr(spec.User, img.User, "root")
	uid, gid, err := fakeUser(user)
	if err != nil {
		return nil, err
	}
	p.uid, p.gid = uid, gid
	if _, ok := env["HOME"]; !ok { // runc sets it
		env["HOME"] = "/"
		if uid == 0 {
			env["HOME"] = "/root"
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		p.env = append(p.env, k+"="+env[k])
	}
	p.cwd = cmpOr(spec.Workdir, img.WorkingDir, "/")

	exe := p.args[0]
	if !p.files[exe] {
		return nil, fmt.Errorf("exec: %q: stat %s: no such file or directory", exe, exe)
	}
	return p, nil
}

func cmpOr(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// fakeUser resolves "name", "uid", "uid:gid" or "name:gid".
func fakeUser(user string) (uid, gid int, err error) {
	name, group, hasGroup := strings.Cut(user, ":")
	// The users of ocibuild's skeleton /etc/passwd.
	switch name {
	case "root":
		uid, gid = 0, 0
	case "nobody":
		uid, gid = 65534, 65534
	default:
		if uid, err = strconv.Atoi(name); err != nil {
			return 0, 0, fmt.Errorf("no users found matching %s", name)
		}
		gid = uid
	}
	if hasGroup {
		if gid, err = strconv.Atoi(group); err != nil {
			return 0, 0, fmt.Errorf("no groups found matching %s", group)
		}
	}
	return uid, gid, nil
}

// fakeTask is a running fakeProcess.
type fakeTask struct {
	proc           *fakeProcess
	stdout, stderr io.WriteCloser

	signals  chan syscall.Signal // delivered signals other than SIGKILL
	killed   chan struct{}       // closed by SIGKILL
	killOnce sync.Once

	done chan struct{} // closed once exit is set
	exit agent.Exit

	mu        sync.Mutex // guards what follows, which Stats reads
	allocated int        // MiB held by alloc-mem
	cpu       time.Duration
	written   map[string][]byte // files written outside mounts
}

func newFakeTask(proc *fakeProcess, stdout, stderr io.WriteCloser) *fakeTask {
	return &fakeTask{
		proc:    proc,
		stdout:  stdout,
		stderr:  stderr,
		signals: make(chan syscall.Signal, 16),
		killed:  make(chan struct{}),
		done:    make(chan struct{}),
		written: make(map[string][]byte),
	}
}

// signal delivers sig; it never blocks. Signals a task does not read
// because too many are queued are lost, as the kernel merges them.
func (t *fakeTask) signal(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		t.killOnce.Do(func() { close(t.killed) })
		return
	}
	select {
	case t.signals <- sig:
	default:
	}
}

func (t *fakeTask) usage() agent.Usage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return agent.Usage{
		CPUSeconds:  (t.cpu + time.Millisecond).Seconds(),
		MemoryBytes: baseMemory + uint64(t.allocated)<<20,
	}
}

// exitStatus ends the interpretation of steps with a status.
type exitStatus struct {
	code int
	oom  bool
}

func (e exitStatus) Error() string { return "exit " + strconv.Itoa(e.code) }

// run interprets the steps after the executable, then records the exit.
func (t *fakeTask) run() {
	status := t.steps(t.proc.args[1:])
	t.stdout.Close()
	t.stderr.Close()
	t.exit = agent.Exit{Code: status.code, At: time.Now(), OOMKilled: status.oom}
	if status.oom {
		t.exit.Reason = "oom-killed"
	}
	close(t.done)
}

// steps runs testprog's steps and returns how the process ends.
func (t *fakeTask) steps(args []string) exitStatus {
	if len(args) == 0 {
		fmt.Fprintln(t.stderr, "testprog: usage: testprog STEP [ARGS...] [; STEP [ARGS...]]...")
		return exitStatus{code: 2}
	}
	for _, words := range splitSteps(args) {
		if status, ended := t.pending(); ended {
			return status
		}
		if len(words) == 0 {
			continue
		}
		err := t.step(words[0], words[1:])
		var status exitStatus
		if errors.As(err, &status) {
			return status
		}
		if err != nil {
			fmt.Fprintf(t.stderr, "testprog: %s: %v\n", words[0], err)
			return exitStatus{code: 1}
		}
	}
	if status, ended := t.pending(); ended {
		return status
	}
	return exitStatus{code: 0}
}

// splitSteps splits arguments at ";" arguments, as testprog does.
func splitSteps(args []string) [][]string {
	var steps [][]string
	start := 0
	for i, a := range args {
		if a == ";" {
			steps = append(steps, args[start:i])
			start = i + 1
		}
	}
	return append(steps, args[start:])
}

// pending applies the signals delivered since the last look, reporting an
// end if one is fatal.
func (t *fakeTask) pending() (exitStatus, bool) {
	select {
	case <-t.killed:
		return exitStatus{code: 137}, true
	default:
	}
	for {
		select {
		case sig := <-t.signals:
			if status, fatal := fatalSignal(sig); fatal {
				return status, true
			}
		default:
			return exitStatus{}, false
		}
	}
}

// fatalSignal is what a signal nobody traps does to testprog as PID 1.
func fatalSignal(sig syscall.Signal) (exitStatus, bool) {
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT:
		return exitStatus{code: 128 + int(sig)}, true
	case syscall.SIGWINCH, syscall.SIGCHLD, syscall.SIGURG:
		return exitStatus{}, false
	default:
		// Go's runtime handles the signal by dying from it, which the
		// kernel does not let PID 1 do; it exits with 2 instead.
		return exitStatus{code: 2}, true
	}
}

// pause waits for d (forever if d is negative) or a signal, and returns the
// signal if one came first. SIGKILL is returned as such.
func (t *fakeTask) pause(d time.Duration) (syscall.Signal, bool) {
	var timeout <-chan time.Time
	if d >= 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-t.killed:
		return syscall.SIGKILL, true
	case sig := <-t.signals:
		return sig, true
	case <-timeout:
		return 0, false
	}
}

// sleep waits for d, or forever if d is negative, unless a fatal signal
// ends the process.
func (t *fakeTask) sleep(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if d < 0 {
			left = -1
		} else if left <= 0 {
			return nil
		}
		sig, got := t.pause(left)
		if !got {
			return nil
		}
		if status, fatal := fatalSignal(sig); fatal {
			return status
		}
	}
}

func (t *fakeTask) step(name string, args []string) error {
	p := t.proc
	switch name {
	case "echo":
		_, err := fmt.Fprintln(t.stdout, strings.Join(args, " "))
		return err
	case "stderr":
		_, err := fmt.Fprintln(t.stderr, strings.Join(args, " "))
		return err
	case "env":
		_, err := fmt.Fprint(t.stdout, strings.Join(p.env, "\n")+"\n")
		return err
	case "id":
		_, err := fmt.Fprintf(t.stdout, "uid=%d gid=%d\n", p.uid, p.gid)
		return err
	case "pwd":
		_, err := fmt.Fprintln(t.stdout, p.cwd)
		return err
	case "cat":
		for _, name := range args {
			data, err := t.readFile(name)
			if err != nil {
				return err
			}
			if _, err := t.stdout.Write(data); err != nil {
				return err
			}
		}
		return nil
	case "write":
		if len(args) < 1 {
			return errors.New("write: want FILE TEXT")
		}
		return t.writeFile(args[0], []byte(strings.Join(args[1:], " ")+"\n"))
	case "exit":
		if len(args) != 1 {
			return errors.New("want N")
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		return exitStatus{code: n}
	case "sleep":
		d, err := oneDuration(args)
		if err != nil {
			return err
		}
		return t.sleep(d)
	case "trap-term", "ignore-term":
		return t.trapTerm(name == "ignore-term")
	case "alloc-mem":
		if len(args) != 1 {
			return errors.New("want MIB")
		}
		mib, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		t.mu.Lock()
		oom := p.memLimit > 0 && (baseMemory>>20)+t.allocated+mib > p.memLimit
		if !oom {
			t.allocated += mib
		}
		t.mu.Unlock()
		if oom {
			return exitStatus{code: 137, oom: true}
		}
		_, err = fmt.Fprintf(t.stdout, "allocated %d MiB\n", mib)
		return err
	case "spin":
		d := time.Duration(-1)
		if len(args) > 0 {
			var err error
			if d, err = oneDuration(args); err != nil {
				return err
			}
		}
		began := time.Now()
		err := t.sleep(d)
		t.mu.Lock()
		t.cpu += time.Since(began)
		t.mu.Unlock()
		return err
	default:
		return errors.New("unknown step")
	}
}

func oneDuration(args []string) (time.Duration, error) {
	if len(args) != 1 {
		return 0, errors.New("want DURATION")
	}
	return time.ParseDuration(args[0])
}

// trapTerm prints "ready", then "got SIGTERM" for the first SIGTERM (and
// goes on) or, with forever, for every one.
func (t *fakeTask) trapTerm(forever bool) error {
	if _, err := fmt.Fprintln(t.stdout, "ready"); err != nil {
		return err
	}
	for {
		sig, _ := t.pause(-1)
		if sig != syscall.SIGTERM {
			if status, fatal := fatalSignal(sig); fatal {
				return status
			}
			continue
		}
		if _, err := fmt.Fprintln(t.stdout, "got SIGTERM"); err != nil {
			return err
		}
		if !forever {
			return nil
		}
	}
}

// resolve maps a path in the container to a host path through the
// deepest mount holding it.
func (t *fakeTask) resolve(name string) (host string, m *agent.Mount) {
	name = t.abs(name)
	for i := range t.proc.mounts {
		mt := &t.proc.mounts[i]
		target := path.Clean(mt.Target)
		rel, ok := strings.CutPrefix(name, target)
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
			continue
		}
		if m == nil || len(target) > len(path.Clean(m.Target)) {
			host, m = filepath.Join(mt.Source, filepath.FromSlash(rel)), mt
		}
	}
	return host, m
}

// abs returns name made absolute against the working directory.
func (t *fakeTask) abs(name string) string {
	if path.IsAbs(name) {
		return path.Clean(name)
	}
	return path.Join(t.proc.cwd, name)
}

func (t *fakeTask) readFile(name string) ([]byte, error) {
	if host, m := t.resolve(name); m != nil {
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: underlying(err)}
		}
		return data, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if data, ok := t.written[t.abs(name)]; ok {
		return data, nil
	}
	return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
}

func (t *fakeTask) writeFile(name string, data []byte) error {
	if host, m := t.resolve(name); m != nil {
		if m.ReadOnly {
			return &os.PathError{Op: "open", Path: name, Err: syscall.EROFS}
		}
		if err := os.WriteFile(host, data, 0o644); err != nil {
			return &os.PathError{Op: "open", Path: name, Err: underlying(err)}
		}
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.written[t.abs(name)] = data
	return nil
}

// underlying strips the host path from a file error, so that messages
// name the container's path.
func underlying(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
