package scheduler

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// Functions: a function job's allocations are its execution environments.
// Invoke runs one invocation in one of them (fnrouter.go); the function's
// driver (functionLoop) keeps as many as its invocations need and takes
// its event sources' work: its asynchronous invocations, queued durably in
// the function's outbox, and its queue's messages in batches
// (fnsources.go).

// Limits of a function's invocations, Lambda's.
const (
	// MaxSyncPayload is the largest payload of a synchronous invocation,
	// and of a response.
	MaxSyncPayload = 6 << 20
	// MaxAsyncPayload is the largest payload of an asynchronous one.
	MaxAsyncPayload = 256 << 10
	// FunctionVersion is the version every invocation runs.
	FunctionVersion = "$LATEST"
	// MaxInvocationPoll is the longest an environment's poll waits.
	MaxInvocationPoll = 20 * time.Second
	// fnStartAllowance is how long an invocation may wait for an
	// environment to take it (placement, image, the runtime's init)
	// beyond its function's timeout before it fails.
	fnStartAllowance = 60 * time.Second
	// fnRecheck is the longest a function's driver waits before it looks
	// at its environments again: how late an idle one may be scaled in.
	fnRecheck = time.Second
)

// FunctionARN is a function's ARN as Lambda clients expect it.
func (s *Server) FunctionARN(name string) string {
	return "arn:aws:lambda:" + s.sqsRegion() + ":" + s.accountID() + ":function:" + name
}

// QueueARN is a queue's ARN, as SQS clients and Lambda's events name it.
func (s *Server) QueueARN(name string) string {
	return "arn:aws:sqs:" + s.sqsRegion() + ":" + s.accountID() + ":" + name
}

// accountID is the account the AWS-compatible APIs' ARNs name.
func (s *Server) accountID() string {
	if s.cfg.SQSAccountID != "" {
		return s.cfg.SQSAccountID
	}
	return "000000000000"
}

func functionNotFound(name string) error {
	return errdefs.New(errdefs.ErrNotFound, "function_not_found", "function %q does not exist", name)
}

// function returns the running function job called name.
func (s *Server) function(name string) (*state.Job, error) {
	var j *state.Job
	s.state.View(func(rd *state.Reader) { j = rd.Job(name) })
	if j == nil || j.Stopped || j.Spec == nil || j.Spec.Function == nil {
		return nil, functionNotFound(name)
	}
	return j, nil
}

// Invoke invokes function name: synchronously (the answer returns), as an
// event (queued durably, answered with 202), or as a dry run.
func (s *Server) Invoke(ctx context.Context, caller Identity, name string, in api.InvokeRequest) (api.InvokeResponse, error) {
	if err := caller.can("function", name, "invoke"); err != nil {
		return api.InvokeResponse{}, err
	}
	j, err := s.function(name)
	if err != nil {
		return api.InvokeResponse{}, err
	}
	switch in.Type {
	case "", api.InvokeSync:
	case api.InvokeAsync:
		return s.invokeAsync(j, in)
	case api.InvokeDryRun:
		return api.InvokeResponse{StatusCode: 204, ExecutedVersion: FunctionVersion}, nil
	default:
		return api.InvokeResponse{}, errdefs.New(errdefs.ErrInvalid, "invalid_invocation_type",
			"invocation type %q: use %s, %s or %s", in.Type, api.InvokeSync, api.InvokeAsync, api.InvokeDryRun)
	}
	if len(in.Payload) > MaxSyncPayload {
		return api.InvokeResponse{}, errdefs.New(errdefs.ErrTooLarge, "request_too_large",
			"the payload is %d bytes; a synchronous invocation takes at most %d", len(in.Payload), MaxSyncPayload)
	}
	inv := api.Invocation{RequestID: aws.NewRequestID(), Payload: in.Payload, TraceID: in.TraceID, ClientContext: in.ClientContext}
	res, err := s.invokeFn(ctx, j, inv, j.Spec.Function.Concurrency.Max)
	if err != nil {
		return api.InvokeResponse{}, err
	}
	out := api.InvokeResponse{RequestID: inv.RequestID, StatusCode: 200, Payload: res.Payload, ExecutedVersion: FunctionVersion}
	if res.Error {
		out.FunctionError = api.FunctionErrorUnhandled
	}
	return out, nil
}

// invokeFn runs inv in one of j's environments and returns its answer.
// limit > 0 throttles it (a synchronous invocation) once limit
// invocations run or wait.
func (s *Server) invokeFn(ctx context.Context, j *state.Job, inv api.Invocation, limit int) (api.InvocationResult, error) {
	c := &fnCall{inv: inv, done: make(chan fnOutcome, 1)}
	m := s.metrics
	if err := s.fns.submit(j.Name, c, limit); err != nil {
		m.fnThrottles.WithLabelValues(j.Name).Inc()
		return api.InvocationResult{}, err
	}
	t := time.NewTimer(j.Spec.Function.Timeout.Std() + fnStartAllowance)
	defer t.Stop()
	select {
	case o := <-c.done:
		if o.err != nil {
			m.fnInvocations.WithLabelValues(j.Name, "lost").Inc()
			return api.InvocationResult{}, o.err
		}
		outcome := "success"
		if o.res.Error {
			outcome = "error"
		}
		m.fnInvocations.WithLabelValues(j.Name, outcome).Inc()
		m.fnDuration.WithLabelValues(j.Name).Observe(o.res.Duration.Seconds())
		start := "warm"
		if o.res.Init > 0 {
			start = "cold"
			m.fnInitDuration.WithLabelValues(j.Name).Observe(o.res.Init.Seconds())
		}
		m.fnStarts.WithLabelValues(j.Name, start).Inc()
		return o.res, nil
	case <-ctx.Done():
		s.fns.withdraw(j.Name, c)
		return api.InvocationResult{}, ctx.Err()
	case <-t.C:
		if s.fns.withdraw(j.Name, c) {
			return api.InvocationResult{}, errdefs.New(errdefs.ErrUnavailable, "no_environment",
				"no execution environment of function %q became available within %s", j.Name, fnStartAllowance)
		}
		m.fnInvocations.WithLabelValues(j.Name, "lost").Inc()
		return api.InvocationResult{}, errdefs.New(errdefs.ErrUnavailable, "environment_lost",
			"the execution environment running the invocation did not answer")
	}
}

// NextInvocation is an environment's poll: its agent answers the
// invocation it was handed (prev) and waits up to wait for the next one;
// nil when none came. A negative wait is the environment's last report:
// its container ended, and it takes no more invocations until its next
// run polls again. Only the agent of the environment's node may poll.
func (s *Server) NextInvocation(ctx context.Context, caller Identity, allocID string, prev *api.InvocationResult, wait time.Duration) (*api.Invocation, error) {
	var a *state.Allocation
	var node *state.Node
	var j *state.Job
	s.state.View(func(rd *state.Reader) {
		if a = rd.Alloc(allocID); a != nil {
			node = rd.Node(a.NodeID)
			j = rd.Job(a.Job)
		}
	})
	if a == nil {
		return nil, allocNotFound(allocID)
	}
	if err := caller.can("node", a.NodeID, "write"); err != nil {
		return nil, err
	}
	if err := checkNodeSecret(caller, node, a.NodeID); err != nil {
		return nil, err
	}
	if j == nil || j.Spec == nil || j.Spec.Function == nil {
		return nil, errdefs.New(errdefs.ErrInvalid, "not_a_function", "allocation %s is not an execution environment of a function", allocID)
	}
	if prev != nil && len(prev.Payload) > MaxSyncPayload {
		return nil, errdefs.New(errdefs.ErrTooLarge, "response_too_large",
			"a response is at most %d bytes, got %d", MaxSyncPayload, len(prev.Payload))
	}
	if wait < 0 || !a.Live() || a.DesiredStatus == state.DesiredStop {
		// The environment's last word (its runtime exited or was killed),
		// or it is ending: what it answers still counts, but it gets no
		// more work.
		s.fns.gone(j.Name, allocID, prev)
		return nil, nil
	}
	wait = min(max(wait, 0), MaxInvocationPoll)
	ctx, cancel := s.UntilStopping(ctx)
	defer cancel()
	c := s.fns.next(ctx, j.Name, allocID, a.NodeID, prev, wait, s.now())
	if c == nil {
		return nil, nil
	}
	inv := c.inv
	inv.Deadline = s.now().Add(j.Spec.Function.Timeout.Std())
	return &inv, nil
}

// Functions lists the functions the caller may read.
func (s *Server) Functions(caller Identity) api.Functions {
	var jobs []*state.Job
	s.state.View(func(rd *state.Reader) { jobs = rd.Jobs() })
	out := api.Functions{Functions: []api.Function{}}
	for _, j := range jobs {
		if j.Spec == nil || j.Spec.Function == nil || j.Stopped || caller.can("function", j.Name, "read") != nil {
			continue
		}
		out.Functions = append(out.Functions, s.apiFunction(j))
	}
	return out
}

// Function describes one function and its environments.
func (s *Server) Function(caller Identity, name string) (api.Function, error) {
	if err := caller.can("function", name, "read"); err != nil {
		return api.Function{}, err
	}
	j, err := s.function(name)
	if err != nil {
		return api.Function{}, err
	}
	return s.apiFunction(j), nil
}

func (s *Server) apiFunction(j *state.Job) api.Function {
	f := j.Spec.Function
	out := api.Function{
		Name: j.Name, ARN: s.FunctionARN(j.Name), Version: j.Version, Handler: f.Handler, Memory: f.Memory,
		Timeout: f.Timeout.String(), Concurrency: f.Concurrency.Max, WarmMin: f.Warm.Min, Queue: j.Spec.Queue,
		Desired: j.Count,
	}
	envs, pending := s.fns.environments(j.Name)
	have := map[string]bool{}
	for _, e := range envs {
		have[e.Alloc] = true
	}
	s.state.View(func(rd *state.Reader) {
		for _, a := range rd.Allocs(j.Name, "", "") {
			if a.Live() && !have[a.ID] {
				envs = append(envs, api.FunctionEnvironment{Alloc: a.ID, Node: a.NodeID, State: "starting"})
			}
		}
	})
	slices.SortFunc(envs, func(a, b api.FunctionEnvironment) int {
		switch {
		case a.Alloc < b.Alloc:
			return -1
		case a.Alloc > b.Alloc:
			return 1
		}
		return 0
	})
	out.Environments, out.Pending = envs, pending
	if st, err := s.queues.Outbox(asyncOutbox(j.Name)).Stats(); err == nil {
		out.Queued = st.Visible + st.InFlight + st.Delayed
	}
	return out
}

// fnFloor is the environments a function keeps whatever its load.
func fnFloor(f *specs.Function) int { return max(f.Warm.Min, f.Concurrency.Reserved) }

// functionLoop is a function's driver: it keeps the environments its
// invocations need, from its floor up to concurrency.max, scaling out at
// once when invocations wait and in when environments have been idle for
// warm.idle_timeout; and it runs the function's event sources.
func (s *Server) functionLoop(ctx context.Context, j *state.Job, kick chan struct{}) {
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	s.fns.setKick(j.Name, poke)
	defer s.fns.setKick(j.Name, nil)
	done := make(chan struct{})
	sources := s.runFunctionSources(ctx, j)
	defer func() {
		close(done)
		sources.Wait()
	}()
	recheck := time.NewTimer(time.Hour)
	defer recheck.Stop()
	for {
		// Looked at again when an invocation waits (a kick), when the
		// next idle environment expires, and every fnRecheck at least:
		// environments going idle do not wake the driver.
		wait := fnRecheck
		if at := s.scaleFunction(j.Name); !at.IsZero() {
			wait = min(max(time.Until(at), time.Millisecond), fnRecheck)
		}
		recheck.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-recheck.C:
		}
	}
}

// scaleFunction makes one scaling decision for a function and returns
// when to look again (zero: when something changes).
func (s *Server) scaleFunction(name string) time.Time {
	var j *state.Job
	s.state.View(func(rd *state.Reader) { j = rd.Job(name) })
	if j == nil || j.Stopped || j.Spec == nil || j.Spec.Function == nil {
		return time.Time{}
	}
	f := j.Spec.Function
	now := s.now()
	fig := s.fns.figures(name, f.Warm.IdleTimeout.Std(), now)
	s.metrics.fnConcurrent.WithLabelValues(name).Set(float64(fig.busy))
	// Environments placed but not yet polling take the waiting
	// invocations first; the rest need new ones. Expired idle ones go.
	starting := max(j.Count-fig.registered, 0)
	desired := j.Count - len(fig.expired) + max(fig.pending-starting, 0)
	desired = min(max(desired, fnFloor(f)), f.Concurrency.Max)
	s.metrics.desired.WithLabelValues(name).Set(float64(desired))
	if desired == j.Count {
		return fig.nextExpiry
	}
	eval := newEval(name, triggerFunction, "")
	if _, err := s.state.Apply(state.ScaleJob{Name: name, Count: desired, Eval: eval}); err != nil {
		if !errors.Is(err, errdefs.ErrClosed) {
			s.logger.Error("scale function", "function", name, "err", err)
		}
		return now.Add(time.Second)
	}
	s.submit(eval)
	direction := "out"
	if desired < j.Count {
		direction = "in"
	}
	s.metrics.decisions.WithLabelValues(name, direction).Inc()
	s.logger.Info("scaled function", "function", name, "from", j.Count, "to", desired, "pending", fig.pending, "busy", fig.busy, "expired", len(fig.expired))
	return fig.nextExpiry
}

// fnExpired lists the environments of a function job that scaling in
// should stop first: those idle for its idle timeout. Reconciliation
// counts every other environment busy.
func (s *Server) fnExpired(j *state.Job) map[string]bool {
	return s.fns.figures(j.Name, j.Spec.Function.Warm.IdleTimeout.Std(), s.now()).expired
}

// asyncOutbox is the id of the outbox holding a function's asynchronous
// invocations.
func asyncOutbox(function string) string { return "fn-" + function }

// asyncAttempts is how often an asynchronous invocation runs before it is
// given up: once and twice more, as Lambda retries.
const asyncAttempts = 3

// invokeAsync queues an asynchronous invocation on the function's outbox,
// durably, before it answers.
func (s *Server) invokeAsync(j *state.Job, in api.InvokeRequest) (api.InvokeResponse, error) {
	if len(in.Payload) > MaxAsyncPayload {
		return api.InvokeResponse{}, errdefs.New(errdefs.ErrTooLarge, "request_too_large",
			"the payload is %d bytes; an asynchronous invocation takes at most %d", len(in.Payload), MaxAsyncPayload)
	}
	if len(in.Payload) == 0 {
		in.Payload = []byte("{}") // a queue message has a body
	}
	ob, err := s.asyncOutbox(j)
	if err != nil {
		return api.InvokeResponse{}, err
	}
	id := aws.NewRequestID()
	attrs := []queue.Attr{{Name: "request_id", Type: "String", Value: []byte(id)}}
	if in.ClientContext != "" {
		attrs = append(attrs, queue.Attr{Name: "client_context", Type: "String", Value: []byte(in.ClientContext)})
	}
	res, err := ob.Send([]queue.SendInput{{Body: in.Payload, Attributes: attrs, TraceHeader: in.TraceID}})
	if err != nil {
		return api.InvokeResponse{}, err
	}
	if res[0].Err != nil {
		return api.InvokeResponse{}, res[0].Err
	}
	s.kickDrivers(j.Name)
	return api.InvokeResponse{RequestID: id, StatusCode: 202, ExecutedVersion: FunctionVersion}, nil
}

// asyncOutbox returns j's outbox of asynchronous invocations, creating
// it. One created by an earlier version of the function (another
// timeout) is used as it is.
func (s *Server) asyncOutbox(j *state.Job) (*queue.Outbox, error) {
	ob, err := s.queues.CreateOutbox(asyncOutbox(j.Name), asyncAttributes(j.Spec.Function))
	if errors.Is(err, errdefs.ErrConflict) {
		return s.queues.Outbox(asyncOutbox(j.Name)), nil
	}
	return ob, err
}

// asyncAttributes are the function's outbox's: an event is kept six
// hours, as Lambda keeps one, and hidden while it runs.
func asyncAttributes(f *specs.Function) queue.Attributes {
	a := queue.DefaultAttributes()
	a.VisibilityTimeout = f.Timeout.Std() + fnStartAllowance
	a.Retention = 6 * time.Hour
	return a
}
