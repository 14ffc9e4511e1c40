package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// maxJobFile bounds a job file sent to the API: job files are small, and
// the bound keeps expression evaluation cheap.
const maxJobFile = 1 << 20

// jobParseWait is how long a job file waits for a parse slot
// (Config.MaxJobParses) before it is refused: a parse takes a fraction of
// a second at most, so a longer wait means a flood.
const jobParseWait = time.Second

// invalidJob is a job file the API refuses, with every problem in it. Its
// error says how the API answers: 400 invalid_job for mistakes in the
// file, other classes and codes for files refused for what parsing them
// would cost.
type invalidJob struct {
	diags hcl.Diagnostics
	err   *errdefs.Error
}

func (e *invalidJob) Error() string { return e.err.Message }

func (e *invalidJob) Unwrap() error { return e.err }

func (s *Server) writeInvalidJob(w http.ResponseWriter, e *invalidJob) {
	out := api.Error{Code: e.err.Code, Message: e.err.Message}
	for _, d := range e.diags {
		ad := api.Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			ad.Severity = "warning"
		}
		if d.Subject != nil {
			ad.File, ad.Line, ad.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
		}
		out.Diagnostics = append(out.Diagnostics, ad)
	}
	writeJSON(w, statusOf(e), api.ErrorResponse{Error: out})
}

// jobFileError turns the diagnostics of a job file that failed to parse
// into the API's error: 400 invalid_job with every error, unless the file
// was refused for its cost (specs.Refused): 413 job_too_large, 400
// job_too_complex, or, when the client has left, 400 request_canceled.
func (s *Server) jobFileError(diags hcl.Diagnostics) *invalidJob {
	var lines []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			lines = append(lines, specs.FormatDiagnostic(d))
		}
	}
	message := strings.Join(lines, "\n")
	ij := &invalidJob{diags: diags, err: errdefs.New(errdefs.ErrInvalid, "invalid_job", "%s", message)}
	r := specs.Refused(diags)
	if r == nil {
		return ij
	}
	reason := "too_complex"
	switch r.Reason {
	case specs.RefusedSize:
		reason = "too_large"
		ij.err = errdefs.New(errdefs.ErrTooLarge, "job_too_large", "%s", message)
	case specs.RefusedCanceled:
		reason = "canceled"
		ij.err = errdefs.New(errdefs.ErrInvalid, "request_canceled", "%s", message)
	default:
		ij.err = errdefs.New(errdefs.ErrInvalid, "job_too_complex", "%s", message)
	}
	s.metrics.jobFilesRefused.WithLabelValues(reason).Inc()
	return ij
}

func (s *Server) queueExists(name string) bool {
	_, err := s.queues.Queue(name)
	return err == nil
}

// jobRequest is a job file as a request carries it: HCL source with its
// variables, or the JSON model, decoded.
type jobRequest struct {
	hcl      bool
	filename string
	src      []byte
	vars     map[string]string
	model    *specs.File
}

// readJobRequest reads a job file from a request: HCL (Content-Type
// application/hcl, variables as ?var=k=v, the name for messages as
// ?filename=) or the JSON model. It only reads: parsing, which a client can
// make costly, waits for a parse slot.
func readJobRequest(w http.ResponseWriter, r *http.Request) (*jobRequest, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/hcl" && ct != "text/hcl" && ct != "application/x-hcl" {
		var f specs.File
		if err := decode(w, r, &f, false); err != nil {
			return nil, err
		}
		return &jobRequest{model: &f}, nil
	}
	src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJobFile))
	if err != nil {
		return nil, errdefs.New(errdefs.ErrTooLarge, "request_too_large", "job file over %d bytes", maxJobFile)
	}
	in := &jobRequest{hcl: true, filename: r.URL.Query().Get("filename"), src: src, vars: map[string]string{}}
	for _, kv := range r.URL.Query()["var"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errdefs.New(errdefs.ErrInvalid, "invalid_variable", "var %q: want name=value", kv)
		}
		in.vars[k] = v
	}
	if in.filename == "" {
		in.filename = "job.hcl"
	}
	return in, nil
}

// parseJobFile parses and validates a job file read by readJobRequest. An
// HCL parse stops when ctx ends: the client has left.
func (s *Server) parseJobFile(ctx context.Context, in *jobRequest) (*specs.File, error) {
	if !in.hcl {
		if err := in.model.Validate(specs.ValidateOptions{QueueExists: s.queueExists}); err != nil {
			return nil, &invalidJob{err: errdefs.New(errdefs.ErrInvalid, "invalid_job", "%s", err.Error())}
		}
		return in.model, nil
	}
	limits := s.cfg.JobFileLimits
	if limits.MaxSourceBytes <= 0 {
		limits.MaxSourceBytes = maxJobFile
	}
	f, diags := specs.ParseContext(ctx, in.filename, in.src,
		specs.ParseOptions{Vars: in.vars, QueueExists: s.queueExists, Limits: limits})
	if diags.HasErrors() {
		return nil, s.jobFileError(diags)
	}
	return f, nil
}

// jobParseSlot takes one of the Config.MaxJobParses slots for parsing and
// planning a job file, waiting up to jobParseWait, and returns the function
// that gives it back. A request that gets none is refused with 503
// server_busy and Retry-After: a flood of costly job files must not take
// the CPU from everything else the server does.
func (s *Server) jobParseSlot(w http.ResponseWriter, r *http.Request) (release func(), err error) {
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
	case <-r.Context().Done():
	}
	s.metrics.jobFilesRefused.WithLabelValues("busy").Inc()
	w.Header().Set("Retry-After", "1")
	return nil, errdefs.New(errdefs.ErrUnavailable, "server_busy", "the server is parsing too many job files; retry")
}

// checkJobFile parses a job file, checks its queues against the server's
// and, when plan is set, plans it, all in a parse slot. Registering what
// it returns is left to the caller, out of the slot: it waits for the
// disk, not the CPU.
func (s *Server) checkJobFile(w http.ResponseWriter, r *http.Request, in *jobRequest, plan bool) (*specs.File, *api.PlanResponse, error) {
	release, err := s.jobParseSlot(w, r)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	f, err := s.parseJobFile(r.Context(), in)
	if err != nil {
		return nil, nil, err
	}
	changes, err := s.queueChanges(f)
	if err != nil || !plan {
		return f, nil, err
	}
	p := s.planFile(f, changes)
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

func (s *Server) registerJobs(w http.ResponseWriter, r *http.Request) {
	in, err := readJobRequest(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f, plan, err := s.checkJobFile(w, r, in, r.URL.Query().Get("plan") == "true")
	var ij *invalidJob
	switch {
	case errors.As(err, &ij):
		s.writeInvalidJob(w, ij)
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	case plan != nil:
		writeJSON(w, http.StatusOK, plan)
		return
	}
	var out api.RegisterResponse
	for _, q := range orderQueues(f.Queues) {
		created, err := s.queues.CreateQueue(q.Name, QueueAttributes(q))
		if err != nil {
			s.writeError(w, r, fmt.Errorf("queue %s: %w", q.Name, err))
			return
		}
		info, _ := s.queues.Queue(q.Name)
		out.Queues = append(out.Queues, api.QueueCreated{Queue: apiQueue(info), Created: created})
	}
	for _, spec := range f.Jobs {
		eval := newEval(spec.Name, triggerJobRegister, "")
		res, err := s.state.Apply(state.RegisterJob{Spec: spec, Eval: eval})
		if err != nil {
			s.writeError(w, r, err)
			return
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
	writeJSON(w, http.StatusOK, out)
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

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.block(w, r, func(rd *state.Reader) uint64 { return rd.TableIndex(state.TableJobs) }); !ok {
		return
	}
	out := api.JobList{Jobs: []api.JobStatus{}}
	s.state.View(func(rd *state.Reader) {
		for _, j := range rd.Jobs() {
			out.Jobs = append(out.Jobs, jobStatus(rd, j))
		}
	})
	writeJSON(w, http.StatusOK, out)
}

func jobNotFound(name string) error {
	return errdefs.New(errdefs.ErrNotFound, "job_not_found", "job %q does not exist", name)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := s.block(w, r, func(rd *state.Reader) uint64 { return rd.JobIndex(name) }); !ok {
		return
	}
	var out *api.JobStatus
	s.state.View(func(rd *state.Reader) {
		if j := rd.Job(name); j != nil {
			st := jobStatus(rd, j)
			out = &st
		}
	})
	if out == nil {
		s.writeError(w, r, jobNotFound(name))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	purge := r.URL.Query().Get("purge") == "true"
	eval := newEval(name, triggerJobDeregister, "")
	res, err := s.state.Apply(state.StopJob{Name: name, Purge: purge, Eval: eval})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !purge {
		s.submit(eval)
	}
	s.broker.unblock(s.now())
	writeJSON(w, http.StatusOK, api.JobChangeResponse{Evaluation: eval.ID, Index: res.Index})
}

func (s *Server) scaleJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var in api.ScaleRequest
	if err := decode(w, r, &in, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	var j *state.Job
	s.state.View(func(rd *state.Reader) { j = rd.Job(name) })
	if j == nil {
		s.writeError(w, r, jobNotFound(name))
		return
	}
	if err := checkScale(j.Spec, in.Count); err != nil {
		s.writeError(w, r, err)
		return
	}
	eval := newEval(name, triggerJobScale, "")
	res, err := s.state.Apply(state.ScaleJob{Name: name, Count: in.Count, Eval: eval})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.submit(eval)
	writeJSON(w, http.StatusOK, api.JobChangeResponse{Evaluation: eval.ID, Index: res.Index})
}

// checkScale refuses counts a job cannot take: dispatch jobs run one task
// per message, and scaled jobs stay within their bounds.
func checkScale(spec *specs.Job, count int) error {
	switch {
	case count < 0:
		return errdefs.New(errdefs.ErrInvalid, "invalid_count", "count %d is negative", count)
	case spec.Type == specs.JobDispatch:
		return errdefs.New(errdefs.ErrInvalid, "invalid_count",
			"dispatch job %q runs one task per message; change scaling.max instead", spec.Name)
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
