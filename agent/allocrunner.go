package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// finishedFile marks an allocation directory whose allocation ended; its
// modification time starts the log retention.
const finishedFile = "finished"

// allocRunner runs one allocation's tasks and reports their state. Its
// mutex guards every field below it.
type allocRunner struct {
	a    *Agent
	id   string
	spec *specs.Job
	dir  string

	stopCh   chan struct{} // closed when the allocation must stop
	stopOnce sync.Once
	reportCh chan struct{} // signalled when there is news to report
	// changes counts notified changes; sent is the count the last state
	// the server took was read at.
	changes, sent atomic.Uint64
	// sendMu orders reports: the state is read and sent under it, so the
	// reporter's report and finish's final one cannot overtake each other.
	sendMu sync.Mutex

	mu         sync.Mutex
	alloc      api.NodeAllocation
	existing   map[string]Container
	tasks      map[string]*api.TaskState
	status     string
	reason     string
	stopReason string
	detached   bool // the agent is shutting down: leave the containers be
	// quickRestart: a function's environment served invocations (or was
	// killed for a timeout) before it ended, so it restarts without the
	// restart delay, which is for runtimes that fail to start.
	quickRestart bool
}

func newAllocRunner(a *Agent, na api.NodeAllocation, existing []Container) *allocRunner {
	r := &allocRunner{
		a:        a,
		id:       na.ID,
		spec:     na.Job.Spec,
		dir:      filepath.Join(a.cfg.DataDir, "allocs", na.ID),
		stopCh:   make(chan struct{}),
		reportCh: make(chan struct{}, 1),
		alloc:    na,
		existing: map[string]Container{},
		tasks:    map[string]*api.TaskState{},
		status:   api.AllocPending,
	}
	for _, c := range existing {
		r.existing[c.Labels[labelTask]] = c
	}
	for _, t := range r.spec.Tasks {
		r.tasks[t.Name] = &api.TaskState{State: api.TaskPending}
		if ts := na.Tasks[t.Name]; ts != nil && len(existing) > 0 {
			// Reattaching after a restart: carry on from what the server
			// was last told (start time, restarts).
			c := *ts
			r.tasks[t.Name] = &c
		}
	}
	if len(existing) > 0 && na.ClientStatus == api.AllocRunning {
		r.status = api.AllocRunning
	}
	r.loadRestarts()
	return r
}

// update hands the runner the server's latest view of its allocation.
func (r *allocRunner) update(na api.NodeAllocation) {
	r.mu.Lock()
	r.alloc = na
	r.mu.Unlock()
	if na.DesiredStatus == api.DesiredStop {
		reason := na.DesiredReason
		if reason == "" {
			reason = "stopped by the server"
		}
		r.stop(reason)
	}
}

// stop asks every task of the allocation to stop.
func (r *allocRunner) stop(reason string) {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.stopReason = reason
		r.mu.Unlock()
		close(r.stopCh)
	})
}

func (r *allocRunner) stopping() bool {
	select {
	case <-r.stopCh:
		return true
	default:
		return false
	}
}

// detach makes the runner let go of its tasks without stopping them: the
// agent is shutting down and its containers keep running.
func (r *allocRunner) detach() {
	r.mu.Lock()
	r.detached = true
	r.mu.Unlock()
}

// containerID is the container of one task: the allocation ID and the task
// name, or a hash of the name where the pair would not be a valid
// containerd identifier (at most 76 characters, no doubled separators).
func containerID(alloc, task string) string {
	id := alloc + "-" + task
	if len(id) <= 76 && cleanID.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(task))
	return alloc + "-" + hex.EncodeToString(sum[:8])
}

var cleanID = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

// run runs the allocation to its end, or until the agent shuts down.
func (r *allocRunner) run(ctx context.Context) {
	log := r.a.logger.With("alloc", r.id, "job", r.spec.Name)
	r.mu.Lock()
	na := r.alloc
	r.mu.Unlock()
	if na.DesiredStatus == api.DesiredStop || api.Terminal(na.ClientStatus) {
		r.stop(na.DesiredReason)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		log.Error("allocation directory", "err", err)
	}
	reporterCtx, stopReporter := context.WithCancel(ctx)
	reporterDone := make(chan struct{})
	go func() {
		defer close(reporterDone)
		r.reporter(reporterCtx)
	}()
	defer func() {
		stopReporter()
		<-reporterDone
	}()

	kill := make(chan struct{}) // closed when one task failed for good
	var killOnce sync.Once
	var wg sync.WaitGroup
	for i, t := range r.spec.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if failed := r.runTask(ctx, i, t, kill); failed {
				killOnce.Do(func() { close(kill) })
			}
		}()
	}
	wg.Wait()
	r.mu.Lock()
	detached := r.detached || ctx.Err() != nil
	r.mu.Unlock()
	if detached {
		return // the agent stops; the containers run on
	}
	r.finish(ctx, na)
	log.Info("allocation finished", "status", r.status, "reason", r.reason)
}

// finish reports the allocation's final status, then removes its
// containers and starts the retention of its logs.
func (r *allocRunner) finish(ctx context.Context, initial api.NodeAllocation) {
	r.mu.Lock()
	status, reason := api.AllocComplete, r.stopReason
	for _, t := range r.spec.Tasks {
		ts := r.tasks[t.Name]
		if ts.Failed {
			status, reason = api.AllocFailed, fmt.Sprintf("task %s: %s", t.Name, ts.Reason)
			break
		}
	}
	if api.Terminal(initial.ClientStatus) {
		status = initial.ClientStatus // already reported before a restart
	}
	r.status, r.reason = status, reason
	r.mu.Unlock()
	if !api.Terminal(initial.ClientStatus) {
		r.reportNow(ctx)
	}
	for _, t := range r.spec.Tasks {
		if err := r.a.cfg.Runtime.Remove(ctx, containerID(r.id, t.Name)); err != nil {
			r.a.logger.Warn("remove container", "alloc", r.id, "task", t.Name, "err", err)
		}
	}
	os.WriteFile(filepath.Join(r.dir, finishedFile), nil, 0o644)
	r.a.metrics.finished(status)
}

// runTask runs one task through its restarts and reports whether it
// failed for good.
func (r *allocRunner) runTask(ctx context.Context, index int, t *specs.Task, kill <-chan struct{}) (failed bool) {
	cid := containerID(r.id, t.Name)
	log := r.a.logger.With("alloc", r.id, "task", t.Name)
	r.mu.Lock()
	existing, reattach := r.existing[t.Name]
	r.mu.Unlock()
	for {
		var env *fnEnv // a function's execution environment
		if r.spec.Function != nil {
			var err error
			if env, err = r.newFnEnv(cid, reattach); err != nil {
				log.Warn("function environment", "err", err)
				if again := r.afterExit(ctx, t, Exit{Code: -1, At: time.Now(), Reason: err.Error()}, false, kill); !again {
					return true
				}
				continue
			}
		}
		if !reattach {
			if r.stopping() {
				if env != nil {
					env.close()
				}
				r.setTask(t.Name, func(ts *api.TaskState) {
					if ts.State == api.TaskPending {
						ts.State = api.TaskDead
					}
				})
				return false
			}
			start := time.Now()
			err := r.a.cfg.Runtime.Start(ctx, r.taskSpec(cid, index, t, env))
			r.a.metrics.started(time.Since(start), err)
			if errors.Is(err, ErrExists) {
				err = nil // started before a crash of ours: adopt it
			}
			if err != nil && env != nil {
				env.close()
			}
			if err != nil {
				if ctx.Err() != nil {
					return false
				}
				log.Warn("task failed to start", "err", err)
				exit := Exit{Code: -1, At: time.Now(), Reason: err.Error()}
				if again := r.afterExit(ctx, t, exit, false, kill); !again {
					return true
				}
				continue
			}
			r.setTask(t.Name, func(ts *api.TaskState) {
				ts.State, ts.StartedAt, ts.FinishedAt, ts.ExitCode, ts.Reason, ts.Failed = api.TaskRunning, time.Now().UTC(), time.Time{}, 0, "", false
			})
		} else {
			reattach = false
			if existing.Running || existing.Exit == nil {
				log.Info("reattached to running task", "container", cid)
				r.setTask(t.Name, func(ts *api.TaskState) {
					ts.State = api.TaskRunning
					if ts.StartedAt.IsZero() {
						ts.StartedAt = time.Now().UTC()
					}
				})
			}
		}
		if env != nil {
			env.start(ctx)
		}
		exit, how := r.waitTask(ctx, cid, t, kill)
		if env != nil {
			quick := env.close()
			r.mu.Lock()
			r.quickRestart = quick
			r.mu.Unlock()
		}
		switch how {
		case waitDetached:
			return false
		case waitStopped:
			r.setTask(t.Name, func(ts *api.TaskState) {
				ts.State, ts.ExitCode, ts.FinishedAt = api.TaskDead, exit.Code, exit.At.UTC()
				ts.Reason = "stopped"
			})
			return false
		case waitTimedOut:
			r.setTask(t.Name, func(ts *api.TaskState) {
				ts.State, ts.ExitCode, ts.FinishedAt, ts.Failed = api.TaskDead, exit.Code, exit.At.UTC(), true
				ts.Reason = fmt.Sprintf("timeout: ran longer than %s", t.Timeout)
			})
			return true
		}
		if again := r.afterExit(ctx, t, exit, true, kill); !again {
			r.mu.Lock()
			f := r.tasks[t.Name].Failed
			r.mu.Unlock()
			return f
		}
		if err := r.a.cfg.Runtime.Remove(ctx, cid); err != nil && ctx.Err() == nil {
			log.Warn("remove before restart", "err", err)
		}
	}
}

// afterExit records an exit (or a failed start) and decides whether the
// task runs again: a task whose job's kind ends on success (batch and
// dispatch) is done when it succeeds; other exits restart in place while the
// restart block allows, after its delay.
func (r *allocRunner) afterExit(ctx context.Context, t *specs.Task, exit Exit, started bool, kill <-chan struct{}) bool {
	ok := exit.Code == 0 && !exit.OOMKilled && started
	reason := exit.Reason
	switch {
	case exit.OOMKilled:
		reason = "oom-killed"
	case reason == "" && started:
		reason = "exit code " + strconv.Itoa(exit.Code)
	}
	done := ok && r.spec.Kind().SuccessEnds
	r.mu.Lock()
	ts := r.tasks[t.Name]
	// A function's environment restarts as long as it is wanted: its
	// runtime's exits are the invocations' failures, not the task's.
	canRestart := !done && (ts.Restarts < t.Restart.Attempts || r.spec.Function != nil)
	delay := t.Restart.Delay.Std()
	if r.quickRestart {
		delay, r.quickRestart = 0, false
	}
	ts.ExitCode, ts.FinishedAt, ts.Reason = exit.Code, exit.At.UTC(), reason
	if canRestart {
		ts.State = api.TaskRestarting
		ts.Restarts++
	} else {
		ts.State, ts.Failed = api.TaskDead, !done
	}
	restarts := ts.Restarts
	// The allocation's last task to end: finish reports the final status
	// with this task's exit in it, so a report of it alone would only be
	// one more write to the server per allocation.
	last := !canRestart
	for _, other := range r.tasks {
		last = last && other.State == api.TaskDead
	}
	r.mu.Unlock()
	if canRestart {
		// Saved as it grows: a task that ends for good leaves the count
		// as last saved.
		r.saveRestarts()
	}
	if !last {
		r.notify()
	}
	if !canRestart {
		return false
	}
	r.a.logger.Info("restarting task", "alloc", r.id, "task", t.Name, "reason", reason, "restart", restarts, "of", t.Restart.Attempts)
	select {
	case <-time.After(delay):
		return true
	case <-r.stopCh:
		r.setTask(t.Name, func(ts *api.TaskState) { ts.State = api.TaskDead })
		return false
	case <-kill:
		r.setTask(t.Name, func(ts *api.TaskState) { ts.State = api.TaskDead })
		return false
	case <-ctx.Done():
		return false
	}
}

type waitOutcome int

const (
	waitExited waitOutcome = iota
	waitStopped
	waitTimedOut
	waitDetached
)

// waitTask waits for the task to exit, stopping it when the allocation
// stops, another task failed, or its timeout passes.
func (r *allocRunner) waitTask(ctx context.Context, cid string, t *specs.Task, kill <-chan struct{}) (Exit, waitOutcome) {
	type result struct {
		exit Exit
		err  error
	}
	wctx, cancel := context.WithCancel(ctx)
	exited := make(chan result, 1)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		e, err := r.a.cfg.Runtime.Wait(wctx, cid)
		exited <- result{e, err}
	}()
	defer func() {
		cancel()
		<-waited
	}()
	var timeout <-chan time.Time
	if d := t.Timeout.Std(); d > 0 && r.spec.Kind().TaskTimeout {
		r.mu.Lock()
		started := r.tasks[t.Name].StartedAt
		r.mu.Unlock()
		if !started.IsZero() {
			timeout = time.After(max(d-time.Since(started), 0))
		}
	}
	stop := func(how waitOutcome) (Exit, waitOutcome) {
		sctx := context.WithoutCancel(ctx)
		e, err := r.a.cfg.Runtime.Stop(sctx, cid, t.KillSignal, t.KillTimeout.Std())
		if err != nil && !errors.Is(err, ErrNotFound) {
			r.a.logger.Warn("stop task", "alloc", r.id, "task", t.Name, "err", err)
		}
		return e, how
	}
	select {
	case res := <-exited:
		if res.err != nil {
			if ctx.Err() != nil {
				return Exit{}, waitDetached
			}
			return Exit{Code: -1, At: time.Now(), Reason: "lost track of the task: " + res.err.Error()}, waitExited
		}
		return res.exit, waitExited
	case <-r.stopCh:
		return stop(waitStopped)
	case <-kill:
		return stop(waitStopped)
	case <-timeout:
		return stop(waitTimedOut)
	case <-ctx.Done():
		return Exit{}, waitDetached
	}
}

// taskSpec is what the runtime needs to run task t of this allocation.
func (r *allocRunner) taskSpec(cid string, index int, t *specs.Task, fn *fnEnv) TaskSpec {
	r.mu.Lock()
	na := r.alloc
	r.mu.Unlock()
	env := map[string]string{}
	for k, v := range t.Env {
		env[k] = v
	}
	env["DOCKET_ALLOC_ID"] = r.id
	env["DOCKET_ALLOC_INDEX"] = strconv.Itoa(na.Index)
	env["DOCKET_JOB"] = r.spec.Name
	env["DOCKET_TASK"] = t.Name
	env["DOCKET_NODE_ID"] = r.a.nodeID
	if fn != nil {
		r.functionEnv(env, fn)
	}
	var mounts []Mount
	if m := na.Message; m != nil {
		// A dispatch task gets its message as a read-only file and in
		// its environment.
		path := filepath.Join(r.dir, "message")
		if err := writeMessage(path, m.Body); err != nil {
			r.a.logger.Error("write message file", "alloc", r.id, "err", err)
		}
		mounts = append(mounts, Mount{Source: path, Target: MessagePath, ReadOnly: true})
		env["DOCKET_MESSAGE_ID"] = m.ID
		env["DOCKET_QUEUE"] = m.Queue
		env["DOCKET_RECEIVE_COUNT"] = strconv.Itoa(m.ReceiveCount)
		env["DOCKET_MESSAGE_FILE"] = MessagePath
		for k, v := range m.Attributes {
			env["DOCKET_ATTR_"+envName(k)] = v
		}
	}
	if na.QueueToken != "" {
		// A queue worker gets what it needs to use the queue API.
		env["DOCKET_ADDR"] = r.a.cfg.ServerAddrForTasks
		env["DOCKET_QUEUE"] = r.spec.Queue
		env["DOCKET_TOKEN"] = na.QueueToken
	}
	if k := na.SQS; k != nil {
		// And what a worker written for SQS needs, unchanged: the AWS SDKs
		// read these.
		env["AWS_ENDPOINT_URL_SQS"] = r.a.cfg.ServerAddrForTasks
		env["AWS_REGION"] = k.Region
		env["AWS_ACCESS_KEY_ID"] = k.AccessKeyID
		env["AWS_SECRET_ACCESS_KEY"] = k.SecretAccessKey
	}
	if (na.QueueToken != "" || na.SQS != nil) && len(r.a.cfg.TaskCA) > 0 {
		// On a TLS cluster, the CA to verify the server with.
		mounts = append(mounts, Mount{Source: filepath.Join(r.a.cfg.DataDir, taskCAFile), Target: CAPath, ReadOnly: true})
		env["AWS_CA_BUNDLE"] = CAPath
		env["DOCKET_CACERT"] = CAPath
	}
	return TaskSpec{
		ID: cid,
		Labels: map[string]string{
			labelAlloc: r.id, labelTask: t.Name, labelJob: r.spec.Name, labelNode: r.a.nodeID,
		},
		Image:       t.Image,
		Command:     t.Command,
		Args:        t.Args,
		Env:         env,
		Workdir:     t.Workdir,
		Mounts:      mounts,
		User:        t.User,
		CPU:         t.Resources.CPU,
		Memory:      t.Resources.Memory,
		LogDir:      filepath.Join(r.dir, t.Name),
		LogMaxBytes: r.a.cfg.LogMaxBytes,
		LogMaxFiles: r.a.cfg.LogMaxFiles,
	}
}

func (r *allocRunner) setTask(name string, change func(*api.TaskState)) {
	r.mu.Lock()
	change(r.tasks[name])
	if r.status == api.AllocPending {
		all := true
		for _, ts := range r.tasks {
			if ts.State != api.TaskRunning {
				all = false
			}
		}
		if all {
			r.status = api.AllocRunning
		}
	}
	r.mu.Unlock()
	r.notify()
}

func (r *allocRunner) notify() {
	r.changes.Add(1)
	select {
	case r.reportCh <- struct{}{}:
	default:
	}
}

// statusRequest is the allocation's state as the server is told it.
func (r *allocRunner) statusRequest() api.AllocStatusRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	tasks := make(map[string]*api.TaskState, len(r.tasks))
	for k, v := range r.tasks {
		c := *v
		tasks[k] = &c
	}
	return api.AllocStatusRequest{ClientStatus: r.status, ClientReason: r.reason, Tasks: tasks, Node: r.a.nodeID}
}

// reportDelay is how long a change waits for the next ones before it is
// reported, so that a task that starts and ends within it is one report
// (its start is in it). Nomad's client batches its updates for 200 ms;
// this keeps the server's view fresh.
const reportDelay = 20 * time.Millisecond

// reporter sends the latest state whenever it changes, retrying until the
// server has it.
func (r *allocRunner) reporter(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.reportCh:
		}
		select {
		case <-ctx.Done():
			return // the allocation runner is done (or detached)
		case <-time.After(reportDelay):
		}
		r.send(ctx, false)
	}
}

// reportNow sends the final state and returns once the server has it (or
// the allocation is gone from the server, or ctx ends).
func (r *allocRunner) reportNow(ctx context.Context) { r.send(ctx, true) }

// send reports the current state, unless always is false and the server
// has it already.
func (r *allocRunner) send(ctx context.Context, always bool) {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	if !always && r.changes.Load() == r.sent.Load() {
		return
	}
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		v := r.changes.Load()
		err := r.a.client().UpdateAllocStatus(ctx, r.id, r.statusRequest())
		var apiErr *api.Error
		if err == nil || errors.As(err, &apiErr) && apiErr.Status < http.StatusInternalServerError {
			if err != nil {
				r.a.logger.Warn("report allocation status", "alloc", r.id, "err", err)
			}
			r.sent.Store(v)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// The restart counts of an allocation's tasks survive agent restarts in
// the allocation directory, so a crash-looping task does not get its
// attempts back.
func (r *allocRunner) restartsFile() string { return filepath.Join(r.dir, "restarts.json") }

func (r *allocRunner) loadRestarts() {
	b, err := os.ReadFile(r.restartsFile())
	if err != nil {
		return
	}
	var m map[string]int
	if json.Unmarshal(b, &m) != nil {
		return
	}
	for name, n := range m {
		if ts := r.tasks[name]; ts != nil {
			ts.Restarts = n
		}
	}
}

func (r *allocRunner) saveRestarts() {
	r.mu.Lock()
	m := make(map[string]int, len(r.tasks))
	for name, ts := range r.tasks {
		m[name] = ts.Restarts
	}
	r.mu.Unlock()
	b, _ := json.Marshal(m)
	os.MkdirAll(r.dir, 0o755)
	if err := os.WriteFile(r.restartsFile()+".tmp", b, 0o644); err == nil {
		os.Rename(r.restartsFile()+".tmp", r.restartsFile())
	}
}

// MessagePath is where a dispatch task finds its message's body.
const MessagePath = "/docket/message"

// writeMessage writes a message body for a task to read, once: a task
// restarted in place reads the same message.
func writeMessage(path, body string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", []byte(body), 0o444); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// envName turns a message attribute name into the suffix of its
// DOCKET_ATTR_ variable: upper case, anything but letters and digits as _.
func envName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
