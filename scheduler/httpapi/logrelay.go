package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
)

// A client reads a task's logs from the server alone, and the server never
// connects to an agent: it hands the request to the agent of the
// allocation's node on the agent's own authenticated channel (the agent
// long-polls GET /v1/nodes/{id}/log-requests), and the agent answers with
// the logs as the body of POST /v1/nodes/{id}/log-requests/{request},
// which the server copies to the client as it comes. No address a node or
// a client names is ever dialled.
const (
	// defaultLogPickup is how long a client waits for the agent to
	// answer (API.logPickup).
	defaultLogPickup = 10 * time.Second
	// logPollWait is the longest an agent's poll waits for a request.
	logPollWait = 30 * time.Second
	// maxLogRequestsPerNode and maxLogRequests bound the requests waiting
	// for agents.
	maxLogRequestsPerNode = 64
	maxLogRequests        = 4096
)

var (
	logPollLimits = limits{body: bodySmall, hold: logPollWait}
	// logUpload is the agent's answer: a body streamed through to the
	// client, of any length, for as long as the client follows it.
	logUpload = limits{upload: true}
)

// logRelay pairs clients' requests for logs with the agents' answers.
type logRelay struct {
	mu    sync.Mutex
	nodes map[string]*nodeLogs
	byID  map[string]*logRequest
}

// nodeLogs are the requests a node's agent has not taken yet, and its
// polls waiting for one; it is dropped when it has neither.
type nodeLogs struct {
	pending []*logRequest
	wake    chan struct{} // closed when one is added
	polls   int
}

// node returns the entry of node, making it. l.mu is held.
func (l *logRelay) node(node string) *nodeLogs {
	n := l.nodes[node]
	if n == nil {
		n = &nodeLogs{wake: make(chan struct{})}
		l.nodes[node] = n
	}
	return n
}

// tidy drops the entry of node if it holds nothing. l.mu is held.
func (l *logRelay) tidy(node string, n *nodeLogs) {
	if len(n.pending) == 0 && n.polls == 0 && l.nodes[node] == n {
		delete(l.nodes, node)
	}
}

// logRequest is one client's request, from its making until the client
// is done.
type logRequest struct {
	api.LogRequest
	node     string
	answered bool            // an agent's answer claimed it; under logRelay.mu
	answer   chan *logAnswer // the agent's answer, once
	gone     chan struct{}   // closed when the client is done
}

// logAnswer is an agent's answer; the client closes done (after sending
// its copy's error) when it no longer reads body.
type logAnswer struct {
	status      int
	contentType string
	body        io.Reader
	done        chan error
}

func newLogRelay() *logRelay {
	return &logRelay{nodes: map[string]*nodeLogs{}, byID: map[string]*logRequest{}}
}

// add makes a request for the logs of alloc on node.
func (l *logRelay) add(node, alloc, query string) (*logRequest, error) {
	var b [16]byte
	rand.Read(b[:])
	req := &logRequest{LogRequest: api.LogRequest{ID: hex.EncodeToString(b[:]), Alloc: alloc, Query: query},
		node: node, answer: make(chan *logAnswer, 1), gone: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.node(node)
	if len(n.pending) >= maxLogRequestsPerNode || len(l.byID) >= maxLogRequests {
		return nil, errdefs.New(errdefs.ErrUnavailable, "server_busy", "too many requests for logs wait for their agents; retry")
	}
	n.pending = append(n.pending, req)
	close(n.wake)
	n.wake = make(chan struct{})
	l.byID[req.ID] = req
	return req, nil
}

// remove ends a request: its client is done.
func (l *logRelay) remove(req *logRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byID, req.ID)
	if n := l.nodes[req.node]; n != nil {
		for i, p := range n.pending {
			if p == req {
				n.pending = append(n.pending[:i], n.pending[i+1:]...)
				break
			}
		}
		l.tidy(req.node, n)
	}
	close(req.gone)
}

// take waits up to wait for requests for node, until ctx ends or stop is
// closed, and hands them over: none when the wait ran out.
func (l *logRelay) take(ctx context.Context, node string, wait time.Duration, stop <-chan struct{}) []api.LogRequest {
	t := time.NewTimer(wait)
	defer t.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.node(node)
	defer l.tidy(node, n)
	for len(n.pending) == 0 {
		wake := n.wake
		n.polls++
		l.mu.Unlock()
		var out []api.LogRequest
		select {
		case <-wake:
		case <-t.C:
			out = []api.LogRequest{}
		case <-ctx.Done():
		case <-stop:
			out = []api.LogRequest{}
		}
		l.mu.Lock()
		n.polls--
		if ctx.Err() != nil {
			return nil // the agent went away: the requests wait for its next poll
		}
		if wake == n.wake { // not woken: the wait is over
			return out
		}
	}
	out := make([]api.LogRequest, len(n.pending))
	for i, p := range n.pending {
		out[i] = p.LogRequest
	}
	n.pending = nil
	return out
}

// claim returns the request id of node for its agent to answer, once.
func (l *logRelay) claim(node, id string) *logRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	req := l.byID[id]
	if req == nil || req.node != node || req.answered {
		return nil
	}
	req.answered = true
	return req
}

// allocLogs serves a task's logs, which the agent of the allocation's
// node sends through the server: at once, or as they come with ?follow,
// until the client goes away, the task's logs end, or the server stops.
func (a *API) allocLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	node, err := a.srv.AllocLogsNode(r.Context(), identity(r), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	req, err := a.logs.add(node, id, r.URL.RawQuery)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer a.logs.remove(req)
	t := time.NewTimer(a.logPickup)
	defer t.Stop()
	var ans *logAnswer
	select {
	case ans = <-req.answer:
	case <-t.C:
		a.fail(w, r, errdefs.New(errdefs.ErrUnavailable, "node_unreachable",
			"the agent of node %s did not answer for the logs of allocation %s within %s", node, id, a.logPickup))
		return
	case <-r.Context().Done():
		return
	case <-a.srv.Stopping():
		a.fail(w, r, errdefs.New(errdefs.ErrUnavailable, "shutting_down", "the server is stopping"))
		return
	}
	if ans.contentType != "" {
		w.Header().Set("Content-Type", ans.contentType)
	}
	w.WriteHeader(ans.status)
	ans.done <- copyFlushing(w, ans.body)
	close(ans.done)
}

// copyFlushing copies src to w, flushing each piece at once: a followed
// log reaches its reader as it is written.
func copyFlushing(w http.ResponseWriter, src io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// logRequests is an agent's poll for clients' requests for its node's
// logs.
func (a *API) logRequests(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("id")
	if err := a.srv.CheckNodeChannel(r.Context(), identity(r), node); err != nil {
		a.fail(w, r, err)
		return
	}
	wait := logPollWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > logPollWait {
			a.fail(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_wait", "wait %q: want a duration of at most %s", v, logPollWait))
			return
		}
		wait = d
	}
	reqs := a.logs.take(r.Context(), node, wait, a.srv.Stopping())
	if reqs == nil {
		return // the agent went away
	}
	answer(a, w, r, http.StatusOK, api.LogRequests{Requests: reqs}, nil)
}

// answerLogRequest is an agent's answer to a log request: its body goes
// to the request's client as it comes.
func (a *API) answerLogRequest(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("id")
	if err := a.srv.CheckNodeChannel(r.Context(), identity(r), node); err != nil {
		a.fail(w, r, err)
		return
	}
	status, err := strconv.Atoi(r.Header.Get(api.LogStatusHeader))
	if err != nil || status < 200 || status > 599 {
		a.fail(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_log_status", "%s %q is not an HTTP status", api.LogStatusHeader, r.Header.Get(api.LogStatusHeader)))
		return
	}
	req := a.logs.claim(node, r.PathValue("request"))
	if req == nil {
		a.fail(w, r, errdefs.New(errdefs.ErrNotFound, "log_request_not_found",
			"no request %q for logs waits for node %s (its client may have gone)", r.PathValue("request"), node))
		return
	}
	// The body is read here alone, and handed over through a pipe, so
	// that nothing reads it once this handler has returned.
	pr, pw := io.Pipe()
	ans := &logAnswer{status: status, contentType: r.Header.Get("Content-Type"), body: pr, done: make(chan error, 1)}
	copied := make(chan struct{})
	go func() {
		_, err := io.Copy(pw, r.Body)
		pw.CloseWithError(err)
		close(copied)
	}()
	req.answer <- ans
	select {
	case <-ans.done:
	case <-req.gone:
	case <-r.Context().Done():
	case <-a.srv.Stopping():
	}
	pr.CloseWithError(errLogClientGone) // ends a write to the pipe
	select {
	case <-copied:
	default:
		// ends a read of the body: what is left of it is not wanted
		http.NewResponseController(w).SetReadDeadline(time.Now())
		<-copied
	}
	w.WriteHeader(http.StatusNoContent)
}

var errLogClientGone = errors.New("the client of the logs has gone")
