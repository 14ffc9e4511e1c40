package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/docketd/docket/scheduler/api"
)

// logPollWait is how long one poll for log requests waits at the server.
const logPollWait = 30 * time.Second

// relayLogs answers clients' requests for task logs, which the server
// hands over on the node's own channel: the agent asks for them and
// sends the logs back itself, so the server never connects to it. Each
// request is served by the agent's logs handler, its answer streamed to
// the server as it is written, until the client goes away or ctx ends.
func (a *Agent) relayLogs(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		reqs, err := a.client().LogRequests(ctx, a.nodeID, logPollWait)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !a.retryAfter(ctx, &delay, "poll for log requests", err) {
				return nil
			}
			continue
		}
		delay = 100 * time.Millisecond
		for _, req := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.answerLogRequest(ctx, req)
			}()
		}
	}
	return nil
}

// retryAfter logs a failed call to the server and waits *delay before
// the next try, doubling it up to 5s; it is false if ctx ended first.
func (a *Agent) retryAfter(ctx context.Context, delay *time.Duration, what string, err error) bool {
	a.logger.Warn(what, "err", err, "retry_in", *delay)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*delay):
	}
	*delay = min(*delay*2, 5*time.Second)
	return true
}

// answerLogRequest serves one request for logs to the server.
func (a *Agent) answerLogRequest(ctx context.Context, req api.LogRequest) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "/v1/allocations/"+req.Alloc+"/logs?"+req.Query, nil)
	if err != nil {
		return
	}
	hr.SetPathValue("id", req.Alloc)
	pr, pw := io.Pipe()
	w := &relayWriter{header: http.Header{}, pw: pw, started: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		a.logs(w, hr)
		w.start(http.StatusOK) // an answer with no body
		pw.Close()
	}()
	<-w.started
	err = a.client().AnswerLogRequest(ctx, a.nodeID, req.ID, w.status, w.header.Get("Content-Type"), pr)
	if err != nil && ctx.Err() == nil {
		a.logger.Debug("answer a log request", "alloc", req.Alloc, "err", err)
	}
	// The client is done or gone: a followed log stops.
	cancel()
	pr.CloseWithError(errors.Join(errRelayEnded, err))
	<-served
}

var errRelayEnded = errors.New("the log request has ended")

// relayWriter is the ResponseWriter of the logs handler serving a relayed
// request: the status and headers are taken once, then the body goes into
// the pipe whose reader is the answer's body. A write blocks until the
// answer's transport has taken it.
type relayWriter struct {
	header  http.Header
	pw      *io.PipeWriter
	once    sync.Once
	status  int
	started chan struct{}
}

func (w *relayWriter) Header() http.Header { return w.header }

func (w *relayWriter) start(status int) {
	w.once.Do(func() {
		w.status = status
		close(w.started)
	})
}

func (w *relayWriter) WriteHeader(status int) { w.start(status) }

func (w *relayWriter) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	return w.pw.Write(b)
}

// Flush is a no-op: every write reaches the transport at once.
func (w *relayWriter) Flush() {}
