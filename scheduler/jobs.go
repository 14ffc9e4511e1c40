package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// MaxJobFile bounds a job file sent to the API: job files are small, and
// the bound keeps expression evaluation cheap.
const MaxJobFile = 1 << 20

// jobParseWait is how long a job file waits for a parse slot
// (Config.MaxJobParses) before it is refused: a parse takes a fraction of
// a second at most, so a longer wait means a flood.
const jobParseWait = time.Second

// JobFileError is a job file the server refuses, with every problem in
// it. Err says how to answer: ErrInvalid with code invalid_job for
// mistakes in the file, other classes and codes for files refused for
// what parsing them would cost. Diags locate each problem (file, line,
// column).
type JobFileError struct {
	Diags hcl.Diagnostics
	Err   *errdefs.Error
}

func (e *JobFileError) Error() string { return e.Err.Message }

func (e *JobFileError) Unwrap() error { return e.Err }

// jobFileError turns the diagnostics of a job file that failed to parse
// into the API's error: 400 invalid_job with every error, unless the file
// was refused for its cost (specs.Refused): 413 job_too_large, 400
// job_too_complex, or, when the client has left, 400 request_canceled.
func (s *Server) jobFileError(diags hcl.Diagnostics) *JobFileError {
	var lines []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			lines = append(lines, specs.FormatDiagnostic(d))
		}
	}
	message := strings.Join(lines, "\n")
	ij := &JobFileError{Diags: diags, Err: errdefs.New(errdefs.ErrInvalid, "invalid_job", "%s", message)}
	r := specs.Refused(diags)
	if r == nil {
		return ij
	}
	reason := "too_complex"
	switch r.Reason {
	case specs.RefusedSize:
		reason = "too_large"
		ij.Err = errdefs.New(errdefs.ErrTooLarge, "job_too_large", "%s", message)
	case specs.RefusedCanceled:
		reason = "canceled"
		ij.Err = errdefs.New(errdefs.ErrInvalid, "request_canceled", "%s", message)
	default:
		ij.Err = errdefs.New(errdefs.ErrInvalid, "job_too_complex", "%s", message)
	}
	s.metrics.jobFilesRefused.WithLabelValues(reason).Inc()
	return ij
}

func (s *Server) queueExists(name string) bool {
	_, err := s.queues.Queue(name)
	return err == nil
}

// JobFile is a job file as a client sends it: HCL source with its
// variables and the name its messages give it, or the JSON model, decoded.
type JobFile struct {
	HCL      bool
	Filename string // "job.hcl" if empty
	Source   []byte
	Vars     map[string]string
	Model    *specs.File
}

// parseJobFile parses and validates a job file. An HCL parse stops when
// ctx ends: the client has left.
func (s *Server) parseJobFile(ctx context.Context, in *JobFile) (*specs.File, error) {
	if !in.HCL {
		if in.Model == nil {
			return nil, &JobFileError{Err: errdefs.New(errdefs.ErrInvalid, "invalid_job", "the job file is empty")}
		}
		if err := in.Model.Validate(specs.ValidateOptions{QueueExists: s.queueExists}); err != nil {
			return nil, &JobFileError{Err: errdefs.New(errdefs.ErrInvalid, "invalid_job", "%s", err.Error())}
		}
		return in.Model, nil
	}
	limits := s.cfg.JobFileLimits
	if limits.MaxSourceBytes <= 0 {
		limits.MaxSourceBytes = MaxJobFile
	}
	filename := in.Filename
	if filename == "" {
		filename = "job.hcl"
	}
	f, diags := specs.ParseContext(ctx, filename, in.Source,
		specs.ParseOptions{Vars: in.Vars, QueueExists: s.queueExists, Limits: limits})
	if diags.HasErrors() {
		return nil, s.jobFileError(diags)
	}
	return f, nil
}

// jobParseSlot takes one of the Config.MaxJobParses slots for parsing and
// planning a job file, waiting up to jobParseWait, and returns the function
// that gives it back. A request that gets none is refused with 503
// server_busy (retry after a second): a flood of costly job files must
// not take the CPU from everything else the server does.
func (s *Server) jobParseSlot(ctx context.Context) (release func(), err error) {
	release = func() { <-s.jobParses }
	select {
	case s.jobParses <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(jobParseWait)
	defer t.Stop()
	select {
	case s.jobParses <- struct{}{}:
		return release, nil
	case <-t.C:
	case <-ctx.Done():
	}
	s.metrics.jobFilesRefused.WithLabelValues("busy").Inc()
	return nil, errdefs.New(errdefs.ErrUnavailable, "server_busy", "the server is parsing too many job files; retry")
}

// checkJobFile parses a job file, checks its queues against the server's
// and, when plan is set, plans it, all in a parse slot. Registering what
// it returns is left to the caller, out of the slot: it waits for the
// disk, not the CPU.
func (s *Server) checkJobFile(ctx context.Context, in *JobFile, plan bool) (*specs.File, *api.PlanResponse, error) {
	release, err := s.jobParseSlot(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	f, err := s.parseJobFile(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	changes, err := s.queueChanges(f)
	if err != nil || !plan {
		return f, nil, err
	}
	p := s.planFile(f, changes)
	p.Topics = s.topicChanges(f)
	return f, &p, nil
}

// queueChanges says what registering the file's queues would do, and fails
// with a conflict if any exists with other settings.
func (s *Server) queueChanges(f *specs.File) ([]api.QueueChange, error) {
	var out []api.QueueChange
	for _, q := range f.Queues {
		info, err := s.queues.Queue(q.Name)
		switch {
		case err != nil:
			out = append(out, api.QueueChange{Name: q.Name, Change: "create"})
		case info.Attributes == QueueAttributes(q):
			out = append(out, api.QueueChange{Name: q.Name, Change: "none"})
		default:
			return out, errdefs.New(errdefs.ErrConflict, "queue_conflict",
				"queue %q already exists with other settings; change it with PATCH /v1/queues/%s or `docket queue create --update`", q.Name, q.Name)
		}
	}
	return out, nil
}

// orderQueues returns the file's queues with every dead-letter queue before
// the queues that use it.
func orderQueues(qs []*specs.Queue) []*specs.Queue {
	inFile := map[string]*specs.Queue{}
	for _, q := range qs {
		inFile[q.Name] = q
	}
	var out []*specs.Queue
	done := map[string]bool{}
	var visit func(q *specs.Queue)
	visit = func(q *specs.Queue) {
		if done[q.Name] {
			return
		}
		done[q.Name] = true
		if dl := inFile[q.DeadLetter]; dl != nil {
			visit(dl)
		}
		out = append(out, q)
	}
	for _, q := range qs {
		visit(q)
	}
	return out
}

// PlanJobs parses a job file and says what registering it would do,
// changing nothing.
func (s *Server) PlanJobs(ctx context.Context, caller Identity, in *JobFile) (api.PlanResponse, error) {
	f, plan, err := s.checkJobFile(ctx, in, true)
	if err != nil {
		return api.PlanResponse{}, err
	}
	if err := canRegister(caller, f); err != nil {
		return api.PlanResponse{}, err
	}
	return *plan, nil
}

// canRegister checks that the caller may register everything in a job
// file, before any of it is: job:submit on each job, queue:write on each
// queue it defines, and queue:receive on each queue a job consumes (its
// tasks get the messages); for a topic, topic:write and topic:subscribe,
// and queue:send on each queue it feeds.
func canRegister(caller Identity, f *specs.File) error {
	for _, q := range f.Queues {
		if err := caller.can("queue", q.Name, "write"); err != nil {
			return err
		}
	}
	for _, t := range f.Topics {
		for _, c := range []string{"write", "subscribe"} {
			if err := caller.can("topic", t.Name, c); err != nil {
				return err
			}
		}
		for _, sub := range t.Subscriptions {
			if err := caller.can("queue", sub.Queue, "send"); err != nil {
				return err
			}
		}
	}
	for _, j := range f.Jobs {
		if err := caller.can("job", j.Name, "submit"); err != nil {
			return err
		}
		if j.Queue != "" {
			if err := caller.can("queue", j.Queue, "receive"); err != nil {
				return err
			}
		}
	}
	return nil
}

// RegisterJobs parses a job file and registers its queues (dead-letter
// queues first) and jobs, each changed job with an evaluation. A file
// with mistakes fails with a *JobFileError.
func (s *Server) RegisterJobs(ctx context.Context, caller Identity, in *JobFile) (api.RegisterResponse, error) {
	f, _, err := s.checkJobFile(ctx, in, false)
	if err != nil {
		return api.RegisterResponse{}, err
	}
	if err := canRegister(caller, f); err != nil {
		return api.RegisterResponse{}, err
	}
	var out api.RegisterResponse
	for _, q := range orderQueues(f.Queues) {
		created, err := s.queues.CreateQueue(q.Name, QueueAttributes(q))
		if err != nil {
			return api.RegisterResponse{}, fmt.Errorf("queue %s: %w", q.Name, err)
		}
		info, _ := s.queues.Queue(q.Name)
		out.Queues = append(out.Queues, api.QueueCreated{Queue: apiQueue(info), Created: created})
	}
	for _, t := range f.Topics {
		created, err := s.registerTopic(caller, t)
		if err != nil {
			return api.RegisterResponse{}, fmt.Errorf("topic %s: %w", t.Name, err)
		}
		out.Topics = append(out.Topics, api.TopicRegistered{Name: t.Name, Created: created, Subscriptions: len(t.Subscriptions)})
	}
	for _, spec := range f.Jobs {
		eval := newEval(spec.Name, triggerJobRegister, "")
		res, err := s.state.Apply(state.RegisterJob{Spec: spec, Eval: eval})
		if err != nil {
			return api.RegisterResponse{}, err
		}
		rj := api.RegisteredJob{Name: res.Job.Name, Version: res.Job.Version, Changed: res.JobChanged}
		if res.Index > out.Index {
			out.Index = res.Index
		}
		if !res.Noop {
			rj.Evaluation = eval.ID
			s.submit(eval)
		}
		out.Jobs = append(out.Jobs, rj)
	}
	if out.Jobs == nil {
		out.Jobs = []api.RegisteredJob{}
	}
	if out.Queues == nil {
		out.Queues = []api.QueueCreated{}
	}
	return out, nil
}

func apiJob(j *state.Job) api.Job {
	return api.Job{Name: j.Name, Version: j.Version, Spec: j.Spec, Stopped: j.Stopped, Count: j.Count,
		SubmittedAt: j.SubmittedAt, CreateIndex: j.CreateIndex, ModifyIndex: j.ModifyIndex}
}

func apiEval(e *state.Evaluation) *api.Evaluation {
	if e == nil {
		return nil
	}
	return &api.Evaluation{ID: e.ID, Job: e.Job, TriggeredBy: e.TriggeredBy, NodeID: e.NodeID, Status: e.Status,
		Description: e.Description, BlockedReason: e.BlockedReason, WaitUntil: e.WaitUntil, Placed: e.Placed,
		Failed: e.Failed, CreatedAt: e.CreatedAt, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex}
}

func jobStatus(rd *state.Reader, j *state.Job) api.JobStatus {
	st := api.JobStatus{Job: apiJob(j), Allocations: map[string]int{}}
	for _, a := range rd.Allocs(j.Name, "", "") {
		st.Allocations[a.ClientStatus]++
		if a.ClientStatus == state.AllocRunning {
			st.Running++
		}
	}
	evals := rd.Evals(j.Name)
	for i := len(evals) - 1; i >= 0; i-- {
		if evals[i].Status != state.EvalCanceled {
			st.LatestEval = apiEval(evals[i])
			break
		}
	}
	return st
}

// ListJobs lists every job with its allocations' statuses and latest
// evaluation; a blocking query on the jobs table.
func (s *Server) ListJobs(ctx context.Context, caller Identity, q Query) (api.JobList, uint64, error) {
	idx, err := s.block(ctx, q, func(rd *state.Reader) uint64 { return rd.TableIndex(state.TableJobs) })
	if err != nil {
		return api.JobList{}, 0, err
	}
	out := api.JobList{Jobs: []api.JobStatus{}}
	s.state.View(func(rd *state.Reader) {
		for _, j := range rd.Jobs() {
			if caller.ACL.Allowed("job", j.Name, "read") {
				out.Jobs = append(out.Jobs, jobStatus(rd, j))
			}
		}
	})
	return out, idx, nil
}

func jobNotFound(name string) error {
	return errdefs.New(errdefs.ErrNotFound, "job_not_found", "job %q does not exist", name)
}

// GetJob returns one job's status; a blocking query on the job.
func (s *Server) GetJob(ctx context.Context, caller Identity, name string, q Query) (api.JobStatus, uint64, error) {
	idx, err := s.block(ctx, q, func(rd *state.Reader) uint64 { return rd.JobIndex(name) })
	if err != nil {
		return api.JobStatus{}, 0, err
	}
	var out *api.JobStatus
	s.state.View(func(rd *state.Reader) {
		if j := rd.Job(name); j != nil {
			st := jobStatus(rd, j)
			out = &st
		}
	})
	if out == nil {
		return api.JobStatus{}, idx, jobNotFound(name)
	}
	return *out, idx, nil
}

// StopJob stops a job's allocations; purge removes the job too.
func (s *Server) StopJob(ctx context.Context, caller Identity, name string, purge bool) (api.JobChangeResponse, error) {
	eval := newEval(name, triggerJobDeregister, "")
	res, err := s.state.Apply(state.StopJob{Name: name, Purge: purge, Eval: eval})
	if err != nil {
		return api.JobChangeResponse{}, err
	}
	if !purge {
		s.submit(eval)
	}
	s.broker.unblock(s.now())
	return api.JobChangeResponse{Evaluation: eval.ID, Index: res.Index}, nil
}

// ScaleJob sets a job's count, within what its type and scaling bounds
// allow.
func (s *Server) ScaleJob(ctx context.Context, caller Identity, name string, count int) (api.JobChangeResponse, error) {
	var j *state.Job
	s.state.View(func(rd *state.Reader) { j = rd.Job(name) })
	if j == nil {
		return api.JobChangeResponse{}, jobNotFound(name)
	}
	if err := checkScale(j.Spec, count); err != nil {
		return api.JobChangeResponse{}, err
	}
	eval := newEval(name, triggerJobScale, "")
	res, err := s.state.Apply(state.ScaleJob{Name: name, Count: count, Eval: eval})
	if err != nil {
		return api.JobChangeResponse{}, err
	}
	s.submit(eval)
	return api.JobChangeResponse{Evaluation: eval.ID, Index: res.Index}, nil
}

// checkScale refuses counts a job cannot take: dispatch jobs run one task
// per message, and scaled jobs stay within their bounds.
func checkScale(spec *specs.Job, count int) error {
	switch {
	case count < 0:
		return errdefs.New(errdefs.ErrInvalid, "invalid_count", "count %d is negative", count)
	case spec.Kind().Scale == specs.ScalePerMessage:
		return errdefs.New(errdefs.ErrInvalid, "invalid_count",
			"dispatch job %q runs one task per message; change scaling.max instead", spec.Name)
	case spec.Kind().Scale == specs.ScaleInvocations:
		return errdefs.New(errdefs.ErrInvalid, "invalid_count",
			"function %q runs as many environments as its invocations need; change function.concurrency or function.warm instead", spec.Name)
	case spec.Scaling != nil && (count < spec.Scaling.Min || count > spec.Scaling.Max):
		return errdefs.New(errdefs.ErrInvalid, "invalid_count",
			"count %d is outside the job's scaling bounds %d..%d", count, spec.Scaling.Min, spec.Scaling.Max)
	}
	return nil
}

// specDiff lists the fields that differ between two job specs, as
// "path: old -> new", by comparing their JSON forms.
func specDiff(old, new *specs.Job) []string {
	flat := func(j *specs.Job) map[string]string {
		out := map[string]string{}
		if j == nil {
			return out
		}
		b, _ := json.Marshal(j)
		var v any
		json.Unmarshal(b, &v)
		var walk func(prefix string, v any)
		walk = func(prefix string, v any) {
			switch t := v.(type) {
			case map[string]any:
				for k, c := range t {
					walk(strings.TrimPrefix(prefix+"."+k, "."), c)
				}
			case []any:
				for i, c := range t {
					walk(fmt.Sprintf("%s[%d]", prefix, i), c)
				}
			default:
				b, _ := json.Marshal(t)
				out[prefix] = string(b)
			}
		}
		walk("", v)
		return out
	}
	a, b := flat(old), flat(new)
	var diff []string
	for k, v := range b {
		if a[k] != v {
			if old, ok := a[k]; ok {
				diff = append(diff, fmt.Sprintf("%s: %s -> %s", k, old, v))
			} else {
				diff = append(diff, fmt.Sprintf("%s: added %s", k, v))
			}
		}
	}
	for k, v := range a {
		if _, ok := b[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: removed %s", k, v))
		}
	}
	sort.Strings(diff)
	return diff
}
