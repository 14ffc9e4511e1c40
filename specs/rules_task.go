package specs

import (
	"slices"
	"strings"
	"time"
	"unicode"
)

// The accepted ranges of task settings.
const (
	maxTimeout      = Duration(7 * day)
	maxKillTimeout  = Duration(10 * time.Minute)
	minCPU          = 10
	maxCPU          = 1000000
	minMemory       = 4
	maxMemory       = 10 * 1024 * 1024
	maxAttempts     = 100
	minRestartDelay = Duration(time.Second)
	maxRestartDelay = Duration(time.Hour)
	minRetryDelay   = Duration(time.Second)
	maxRetryDelay   = Duration(time.Hour)
	maxRetryCeiling = Duration(day)
)

// ociArchivePrefix marks an image imported from a local OCI archive rather
// than pulled from a registry.
const ociArchivePrefix = "oci-archive:"

func (ps *problems) checkTasks(jp path, j *Job) {
	if len(j.Tasks) == 0 {
		ps.add(jp.field("tasks"), "Missing task", "a job needs at least one task block")
		return
	}
	first := make(map[string]path, len(j.Tasks))
	for i, t := range j.Tasks {
		p := jp.field("tasks").index(i)
		if t == nil {
			ps.field(p, "Invalid task", "must not be null")
			continue
		}
		np := p.field("name")
		switch {
		case !validObjectName(t.Name):
			ps.add(np, "Invalid task name", "%q is not a valid task name: %s", t.Name, objectNameRule)
		case first[t.Name] != nil:
			ps.duplicate(np, first[t.Name], "Duplicate task", "a task named %q is already defined in this job", t.Name)
		default:
			first[t.Name] = p
		}
		ps.checkTask(p, j.Type, t)
	}
}

func (ps *problems) checkTask(p path, jobType string, t *Task) {
	ps.checkImage(p.field("image"), t.Image)
	for i, s := range t.Command {
		ps.noNUL(p.field("command").index(i), s)
	}
	for i, s := range t.Args {
		ps.noNUL(p.field("args").index(i), s)
	}
	for _, k := range sortedKeys(t.Env) {
		kp := p.field("env").key(k)
		if k == "" || strings.ContainsAny(k, "=\x00") {
			ps.add(kp, "Invalid environment variable", "%q is not a valid environment variable name", k)
		}
		ps.noNUL(kp, t.Env[k])
	}
	if t.Workdir != "" && !strings.HasPrefix(t.Workdir, "/") {
		ps.field(p.field("workdir"), "Invalid workdir", "must be an absolute path, got %q", t.Workdir)
	}
	ps.noNUL(p.field("workdir"), t.Workdir)
	ps.noNUL(p.field("user"), t.User)

	tp := p.field("timeout")
	if !KindOf(jobType).TaskTimeout && t.Timeout != 0 {
		ps.field(tp, "Unexpected timeout", "applies only to dispatch and batch jobs")
	} else {
		ps.durationRange(tp, t.Timeout, 0, maxTimeout)
	}
	if !slices.Contains(killSignals(), t.KillSignal) {
		ps.field(p.field("kill_signal"), "Invalid kill signal", "must be one of %s, got %q",
			strings.Join(killSignals(), ", "), t.KillSignal)
	}
	ps.durationRange(p.field("kill_timeout"), t.KillTimeout, 0, maxKillTimeout)

	rp := p.field("resources")
	ps.intRange(rp.field("cpu"), t.Resources.CPU, minCPU, maxCPU)
	ps.intRange(rp.field("memory"), t.Resources.Memory, minMemory, maxMemory)

	rp = p.field("restart")
	ps.intRange(rp.field("attempts"), t.Restart.Attempts, 0, maxAttempts)
	ps.durationRange(rp.field("delay"), t.Restart.Delay, minRestartDelay, maxRestartDelay)

	rp = p.field("retry")
	ps.durationRange(rp.field("delay"), t.Retry.Delay, minRetryDelay, maxRetryDelay)
	mp := rp.field("max_delay")
	if t.Retry.MaxDelay < t.Retry.Delay && t.Retry.MaxDelay >= minRetryDelay {
		ps.field(mp, "Invalid retry range", "must not be shorter than delay (%s), got %s", t.Retry.Delay, t.Retry.MaxDelay)
	} else {
		ps.durationRange(mp, t.Retry.MaxDelay, minRetryDelay, maxRetryCeiling)
	}
}

func (ps *problems) checkImage(p path, image string) {
	switch {
	case strings.TrimSpace(image) == "":
		ps.field(p, "Empty image", "must not be empty")
	case strings.IndexFunc(image, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		ps.field(p, "Invalid image", "must not contain spaces or control characters, got %q", image)
	case image == ociArchivePrefix:
		ps.field(p, "Invalid image", "must name an archive path after %q", ociArchivePrefix)
	}
}

// noNUL reports a NUL byte, which no process argument, environment entry or
// path can carry.
func (ps *problems) noNUL(p path, s string) {
	if strings.ContainsRune(s, 0) {
		ps.field(p, "Invalid value", "must not contain NUL characters")
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
