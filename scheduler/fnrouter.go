package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
)

// A function's invocations meet its execution environments in its pool.
// Each environment's agent polls the server for the next invocation
// (NextInvocation), sending the previous one's answer with the poll; an
// invocation arriving while an environment waits is handed to it at once,
// and otherwise waits in the pool while the function's driver scales out.
// The pool is memory only: a synchronous invocation lives as long as its
// caller's request, and everything that must survive the server (an
// asynchronous invocation, a queue's message) is held by a queue until
// the invocation that carried it succeeds.

// fnRouter holds every function's pool.
type fnRouter struct {
	mu    sync.Mutex
	pools map[string]*fnPool
}

// fnPool is one function's pending invocations and environments.
type fnPool struct {
	pending []*fnCall
	envs    map[string]*fnEnv // by allocation ID
	// kick wakes the function's driver; nil while it has none.
	kick func()
}

// fnEnv is one execution environment the pool knows from its polls.
type fnEnv struct {
	alloc, node string
	// poll is set while the environment's agent waits for an invocation.
	poll chan *fnCall
	busy *fnCall
	// lastUsed is when it last finished an invocation, or first polled.
	lastUsed    time.Time
	invocations int
}

// fnCall is one invocation on its way through a pool.
type fnCall struct {
	inv  api.Invocation
	done chan fnOutcome
}

type fnOutcome struct {
	res api.InvocationResult
	err error
}

func newFnRouter() *fnRouter { return &fnRouter{pools: map[string]*fnPool{}} }

// pool returns the pool of function name, creating it. Called with r.mu.
func (r *fnRouter) pool(name string) *fnPool {
	p := r.pools[name]
	if p == nil {
		p = &fnPool{envs: map[string]*fnEnv{}}
		r.pools[name] = p
	}
	return p
}

// busy counts the environments running an invocation.
func (p *fnPool) busy() int {
	n := 0
	for _, e := range p.envs {
		if e.busy != nil {
			n++
		}
	}
	return n
}

// idle returns the waiting environment used last, so that the others stay
// idle long enough to be scaled in; nil if none waits.
func (p *fnPool) idle() *fnEnv {
	var best *fnEnv
	for _, e := range p.envs {
		if e.poll != nil && e.busy == nil && (best == nil || e.lastUsed.After(best.lastUsed)) {
			best = e
		}
	}
	return best
}

// hand gives c to e, whose agent is waiting. Called with r.mu.
func (e *fnEnv) hand(c *fnCall) {
	e.busy = c
	e.poll <- c
	e.poll = nil
}

// errThrottled is a synchronous invocation refused because every
// environment the function may run is busy.
func errThrottled(name string) error {
	return errdefs.New(errdefs.ErrTooManyRequests, "throttled",
		"function %q is running as many invocations as its concurrency.max allows", name)
}

// submit puts c in function name's pool: to a waiting environment, or in
// line. A call with limit > 0 is refused when limit invocations run or
// wait already (a synchronous invocation, which Lambda throttles);
// others wait their turn.
func (r *fnRouter) submit(name string, c *fnCall, limit int) error {
	r.mu.Lock()
	p := r.pool(name)
	if limit > 0 && p.busy()+len(p.pending) >= limit {
		r.mu.Unlock()
		return errThrottled(name)
	}
	if e := p.idle(); e != nil {
		e.hand(c)
		r.mu.Unlock()
		return nil
	}
	p.pending = append(p.pending, c)
	kick := p.kick
	r.mu.Unlock()
	if kick != nil {
		kick()
	}
	return nil
}

// withdraw takes c out of line if no environment took it yet, and
// reports whether it did.
func (r *fnRouter) withdraw(name string, c *fnCall) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[name]
	if p == nil {
		return false
	}
	for i, pc := range p.pending {
		if pc == c {
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			return true
		}
	}
	return false
}

// errEnvLost fails the invocation an environment held when it ended or
// its agent lost track of it.
func errEnvLost(alloc string) error {
	return errdefs.New(errdefs.ErrUnavailable, "environment_lost",
		"the execution environment %s ended before the invocation finished", alloc)
}

// next is an environment's poll: it settles the invocation the
// environment held with prev (or fails it, when prev does not answer it:
// the agent lost it), then hands it the next pending call or waits for
// one until ctx ends or wait passes (nil).
func (r *fnRouter) next(ctx context.Context, name, alloc, node string, prev *api.InvocationResult, wait time.Duration, now time.Time) *fnCall {
	r.mu.Lock()
	p := r.pool(name)
	e := p.envs[alloc]
	if e == nil {
		e = &fnEnv{alloc: alloc, node: node, lastUsed: now}
		p.envs[alloc] = e
	}
	e.settle(prev, now)
	if e.poll != nil {
		// A poll of the same environment still waits (its agent gave up
		// on it): it ends empty, and this one takes its place.
		close(e.poll)
		e.poll = nil
	}
	if len(p.pending) > 0 {
		c := p.pending[0]
		p.pending = p.pending[1:]
		e.busy = c
		r.mu.Unlock()
		return c
	}
	poll := make(chan *fnCall, 1)
	e.poll = poll
	r.mu.Unlock()
	// No kick: an idle environment matters to the driver only once its
	// idle timeout runs out, which the driver's own recheck finds.
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case c := <-poll:
		return c
	case <-ctx.Done():
	case <-t.C:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.poll == poll {
		e.poll = nil
		return nil
	}
	// Handed (or replaced) as the wait ended.
	c, ok := <-poll
	if !ok {
		return nil
	}
	if ctx.Err() != nil {
		// Its agent is gone: it goes to another environment that waits,
		// or back to the front of the line.
		e.busy = nil
		if other := p.idle(); other != nil {
			other.hand(c)
		} else {
			p.pending = append([]*fnCall{c}, p.pending...)
		}
		return nil
	}
	return c
}

// settle ends the invocation e holds with prev, its answer, or fails it
// when prev does not answer it (the agent lost it). Called with r.mu.
func (e *fnEnv) settle(prev *api.InvocationResult, now time.Time) {
	c := e.busy
	if c == nil {
		return
	}
	e.busy = nil
	e.lastUsed = now
	if prev != nil && prev.RequestID == c.inv.RequestID {
		e.invocations++
		c.done <- fnOutcome{res: *prev}
		return
	}
	c.done <- fnOutcome{err: errEnvLost(e.alloc)}
}

// end settles what e holds with prev, its last answer (nil: none), and
// ends its waiting poll: the environment is gone.
func (e *fnEnv) end(prev *api.InvocationResult, now time.Time) {
	e.settle(prev, now)
	if e.poll != nil {
		close(e.poll)
		e.poll = nil
	}
}

// gone forgets an environment that ended, settling what it held with
// prev (nil when it ended without a last answer).
func (r *fnRouter) gone(name, alloc string, prev *api.InvocationResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[name]
	if p == nil {
		return
	}
	e := p.envs[alloc]
	if e == nil {
		return
	}
	delete(p.envs, alloc)
	e.end(prev, time.Now())
}

// fnFigures are what a function's driver scales on.
type fnFigures struct {
	pending, busy, registered int
	// expired lists the idle environments unused for the idle timeout.
	expired map[string]bool
	// nextExpiry is when the next idle environment expires (zero: none).
	nextExpiry time.Time
}

// figures reads function name's pool. Environments beyond keep are
// expired once idle for idle.
func (r *fnRouter) figures(name string, idle time.Duration, now time.Time) fnFigures {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[name]
	f := fnFigures{expired: map[string]bool{}}
	if p == nil {
		return f
	}
	f.pending = len(p.pending)
	for id, e := range p.envs {
		f.registered++
		if e.busy != nil {
			f.busy++
			continue
		}
		if at := e.lastUsed.Add(idle); !at.After(now) {
			f.expired[id] = true
		} else if f.nextExpiry.IsZero() || at.Before(f.nextExpiry) {
			f.nextExpiry = at
		}
	}
	return f
}

// setKick sets (or, with nil, clears) the function's driver's wake-up.
func (r *fnRouter) setKick(name string, kick func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pool(name).kick = kick
}

// environments lists a function's environments, and its pending calls.
func (r *fnRouter) environments(name string) ([]api.FunctionEnvironment, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[name]
	if p == nil {
		return nil, 0
	}
	out := make([]api.FunctionEnvironment, 0, len(p.envs))
	for _, e := range p.envs {
		st := "idle"
		if e.busy != nil {
			st = "busy"
		}
		out = append(out, api.FunctionEnvironment{Alloc: e.alloc, Node: e.node, State: st, Invocations: e.invocations, LastUsed: e.lastUsed})
	}
	return out, len(p.pending)
}

// drop forgets a function that is gone, failing what waits in its pool.
func (r *fnRouter) drop(name string) {
	r.mu.Lock()
	defer r.mu.Unlock() // an environment's poll may still look at it
	p := r.pools[name]
	delete(r.pools, name)
	if p == nil {
		return
	}
	for _, c := range p.pending {
		c.done <- fnOutcome{err: errdefs.New(errdefs.ErrNotFound, "function_not_found", "function %q was stopped", name)}
	}
	now := time.Now()
	for _, e := range p.envs {
		e.end(nil, now)
	}
}
