package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docketd/docket/agent/runtimeapi"
	"github.com/docketd/docket/scheduler/api"
)

// A function's allocation is an execution environment: its task's
// container runs the function's runtime, which the agent serves the
// Lambda runtime API to (AWS_LAMBDA_RUNTIME_API, on the loopback address:
// tasks share the host's network). While the container runs, the agent
// polls the server for the environment's next invocation, hands it to the
// runtime and sends the answer back with its next poll. An environment
// idle for PauseAfter is paused (the cgroup freezer) and resumed when an
// invocation comes. An invocation that runs out of the function's timeout
// kills the container, which restarts at once, as does a runtime that
// exits; either fails the invocation it held, as Lambda reports it.

// defaultPauseAfter is how long an environment waits idle before it is
// paused: long enough that a stream of invocations never pays for a
// resume, short enough that an idle one stops using CPU at once.
const defaultPauseAfter = 100 * time.Millisecond

// initTimeout bounds a runtime's initialization, as Lambda's does.
const initTimeout = 10 * time.Second

// runtimeAddrFile keeps an environment's runtime API address in its
// allocation directory, so that an agent that restarts serves it where
// the running container looks for it.
const runtimeAddrFile = "runtime-api-addr"

// fnEnv is one run of an environment's container.
type fnEnv struct {
	r    *allocRunner
	cid  string
	ln   net.Listener
	hs   *http.Server
	rapi *runtimeapi.Server

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards the fields below
	started time.Time  // the container's start, for the init duration
	paused  bool
	idle    *time.Timer
	// served counts the invocations answered; killed is set when the
	// agent killed the container (a timeout), so that it restarts at once.
	served int
	killed bool
}

// newFnEnv prepares the runtime API for one run of container cid,
// listening where an earlier agent served it when reattach is set.
func (r *allocRunner) newFnEnv(cid string, reattach bool) (*fnEnv, error) {
	addrFile := filepath.Join(r.dir, runtimeAddrFile)
	addr := "127.0.0.1:0"
	if b, err := os.ReadFile(addrFile); err == nil && reattach {
		addr = strings.TrimSpace(string(b))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && reattach {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	os.MkdirAll(r.dir, 0o755)
	if err := os.WriteFile(addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
		ln.Close()
		return nil, err
	}
	arn := ""
	r.mu.Lock()
	if f := r.alloc.Function; f != nil {
		arn = f.ARN
	}
	r.mu.Unlock()
	e := &fnEnv{r: r, cid: cid, ln: ln, rapi: runtimeapi.New(runtimeapi.Config{FunctionARN: arn}), done: make(chan struct{})}
	e.hs = &http.Server{Handler: e.rapi.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go e.hs.Serve(ln)
	return e, nil
}

// Addr is the runtime API's address, for AWS_LAMBDA_RUNTIME_API.
func (e *fnEnv) Addr() string { return e.ln.Addr().String() }

// start begins serving invocations to the container, which runs.
func (e *fnEnv) start(ctx context.Context) {
	e.mu.Lock()
	e.started = time.Now()
	e.mu.Unlock()
	e.ctx, e.cancel = context.WithCancel(ctx)
	go func() {
		defer close(e.done)
		e.serve()
	}()
}

// close ends the run: the invocation in progress, if any, fails (the
// runtime exited) and is reported; the runtime API stops. It reports
// whether the container should restart at once.
func (e *fnEnv) close() (quick bool) {
	e.rapi.Close()
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	e.hs.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.idle != nil {
		e.idle.Stop()
	}
	return e.served > 0 || e.killed
}

// serve polls for invocations and runs them until the run ends.
func (e *fnEnv) serve() {
	var prev *api.InvocationResult
	first := true
	delay := 100 * time.Millisecond
	for e.ctx.Err() == nil {
		inv, err := e.r.a.client().NextInvocation(e.ctx, e.r.id, prev, 20*time.Second)
		if err != nil {
			if e.ctx.Err() != nil {
				break
			}
			var apiErr *api.Error
			if errors.As(err, &apiErr) && apiErr.Status < 500 && apiErr.Status != http.StatusTooManyRequests {
				e.r.a.logger.Warn("function invocation poll refused", "alloc", e.r.id, "err", err)
				prev = nil // the server will not take it
			}
			select {
			case <-e.ctx.Done():
			case <-time.After(delay):
			}
			delay = min(delay*2, 5*time.Second)
			continue
		}
		delay = 100 * time.Millisecond
		prev = nil
		if inv == nil {
			continue
		}
		res := e.invoke(inv, first)
		first = false
		prev = &res
		if e.ctx.Err() != nil || e.ending() {
			break
		}
		e.armPause()
	}
	if prev != nil {
		// The run ended as the invocation did (the runtime exited, or was
		// killed for its timeout): its answer still goes to the server,
		// as the environment's last report, which takes no more work.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 5*time.Second)
		e.r.a.client().NextInvocation(ctx, e.r.id, prev, -1)
		cancel()
	}
}

// ending reports whether the run is over though its container may not
// have exited yet: the agent killed it, or its runtime API closed.
func (e *fnEnv) ending() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.killed || e.rapi.Closed()
}

// fnFailure is an invocation's failure as Lambda reports it.
func fnFailure(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	return b
}

// invoke runs one invocation in the runtime.
func (e *fnEnv) invoke(inv *api.Invocation, first bool) api.InvocationResult {
	e.resume()
	out := api.InvocationResult{RequestID: inv.RequestID}
	timeout := e.r.spec.Function.Timeout.Std()
	select {
	case <-e.rapi.Ready():
	default:
		// A cold start: the runtime's init runs before the invocation's
		// time starts, within its own limit.
		select {
		case <-e.rapi.Ready():
		case <-e.ctx.Done():
		case <-time.After(initTimeout):
			e.kill()
			out.Error, out.Payload = true, fnFailure("Runtime.InitTimeout",
				fmt.Sprintf("RequestId: %s Error: the runtime did not finish its initialization within %s", inv.RequestID, initTimeout))
			return out
		}
	}
	start := time.Now()
	if first {
		e.mu.Lock()
		out.Init = max(start.Sub(e.started), time.Microsecond)
		e.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	res, err := e.rapi.Invoke(ctx, runtimeapi.Invocation{
		RequestID: inv.RequestID, Payload: inv.Payload, Deadline: start.Add(timeout),
		TraceID: inv.TraceID, ClientContext: inv.ClientContext,
	})
	out.Duration = time.Since(start)
	switch {
	case err == nil && res.Error == nil:
		out.Payload = res.Payload
		e.mu.Lock()
		e.served++
		e.mu.Unlock()
	case err == nil:
		out.Error, out.Payload = true, res.Error.Body
		e.mu.Lock()
		e.served++
		e.mu.Unlock()
	case errors.Is(err, runtimeapi.ErrInit):
		fe := e.rapi.InitError()
		out.Error, out.Payload = true, fnFailure("Runtime.InitError", fe.Message)
	case errors.Is(err, context.DeadlineExceeded):
		e.kill()
		out.Error, out.Payload = true, fnFailure("Sandbox.Timedout",
			fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.RequestID, timeout.Seconds()))
	default: // the runtime exited, or the environment is stopping
		out.Error, out.Payload = true, fnFailure("Runtime.ExitError",
			fmt.Sprintf("RequestId: %s Error: Runtime exited before answering the invocation", inv.RequestID))
	}
	return out
}

// kill stops the container: its invocation ran out of time (or its
// runtime of its init), and its state is unknown.
func (e *fnEnv) kill() {
	e.mu.Lock()
	e.killed = true
	e.mu.Unlock()
	e.resume()
	ctx := context.WithoutCancel(e.ctx)
	if _, err := e.r.a.cfg.Runtime.Stop(ctx, e.cid, "SIGKILL", time.Second); err != nil && !errors.Is(err, ErrNotFound) {
		e.r.a.logger.Warn("kill timed-out environment", "alloc", e.r.id, "err", err)
	}
}

// armPause pauses the environment once it has been idle PauseAfter.
func (e *fnEnv) armPause() {
	p, ok := e.r.a.cfg.Runtime.(Pauser)
	if !ok || e.r.a.cfg.FunctionPauseAfter < 0 {
		return
	}
	after := e.r.a.cfg.FunctionPauseAfter
	if after == 0 {
		after = defaultPauseAfter
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.idle != nil {
		e.idle.Stop()
	}
	e.idle = time.AfterFunc(after, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.paused || e.ctx.Err() != nil {
			return
		}
		if err := p.Pause(e.ctx, e.cid); err != nil {
			e.r.a.logger.Debug("pause idle environment", "alloc", e.r.id, "err", err)
			return
		}
		e.paused = true
		e.r.a.metrics.fnPaused.Inc()
	})
}

// resume thaws the environment if it is paused.
func (e *fnEnv) resume() {
	p, ok := e.r.a.cfg.Runtime.(Pauser)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.idle != nil {
		e.idle.Stop()
	}
	if !e.paused {
		return
	}
	start := time.Now()
	if err := p.Resume(context.WithoutCancel(e.ctx), e.cid); err != nil {
		e.r.a.logger.Warn("resume environment", "alloc", e.r.id, "err", err)
		return
	}
	e.paused = false
	e.r.a.metrics.fnResume.Observe(time.Since(start).Seconds())
}

// functionEnv adds the Lambda environment variables of a function's
// environment to env.
func (r *allocRunner) functionEnv(env map[string]string, e *fnEnv) {
	f := r.spec.Function
	r.mu.Lock()
	fe := r.alloc.Function
	r.mu.Unlock()
	region, version := "us-east-1", "$LATEST"
	if fe != nil {
		region, version = fe.Region, fe.Version
	}
	env["AWS_LAMBDA_RUNTIME_API"] = e.Addr()
	env["AWS_LAMBDA_FUNCTION_NAME"] = r.spec.Name
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(f.Memory)
	env["AWS_LAMBDA_FUNCTION_VERSION"] = version
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(int(f.Timeout.Std().Seconds()))
	env["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + r.spec.Name
	env["AWS_LAMBDA_LOG_STREAM_NAME"] = r.id
	env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "on-demand"
	env["AWS_REGION"] = region
	env["AWS_DEFAULT_REGION"] = region
	env["_HANDLER"] = f.Handler
	env["LAMBDA_TASK_ROOT"] = "/var/task"
	env["LAMBDA_RUNTIME_DIR"] = "/var/runtime"
	if _, ok := env["TZ"]; !ok {
		env["TZ"] = ":UTC"
	}
}
