package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/httpbody"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/acl"
)

// Every route names the largest body it takes (routes.go). A request
// whose Content-Length is over it is refused before a byte of the body is
// read; one without a length (chunked) is read through a reader that stops
// at the limit. The limits:
const (
	// bodySmall is for control routes: queue settings, receive, delete,
	// visibility, node registration, allocation reports, and routes that
	// take no body at all.
	bodySmall = 64 << 10
	// bodyJob is for a job file, HCL or JSON.
	bodyJob = 1 << 20
	// bodyHeartbeat is for a node's heartbeat, which lists every running
	// task's use (about 150 bytes a task).
	bodyHeartbeat = 1 << 20
	// bodySend is for a send of up to ten messages. A queue's default
	// max_message_size is 256 KiB of decoded text, and JSON can spend six
	// bytes on one (\u003c: encoding/json escapes < > & so unless told
	// not to), so ten messages of that size need 15 MiB at the very most;
	// the rest is for field names and attributes. A queue whose messages
	// may be larger (up to 1 MiB) takes ten of them when their JSON is
	// plain, fewer when it is heavily escaped.
	bodySend = 16 << 20
	// bodyPolicy is for an ACL policy: its rules (at most
	// acl.MaxPolicyBytes) JSON-escaped, with room for its description.
	bodyPolicy = 2*acl.MaxPolicyBytes + 4<<10
)

// Large bodies are also bounded together: bodyMemory is the most bytes
// of bodies over bodySmall that are read or held by handlers at once (a
// body without a length counts as its route's limit). A request over it
// waits up to bodyMemoryWait for others to finish, then is refused with
// 503. Small bodies are bounded by the connection limit.
const (
	bodyMemory     = 64 << 20
	bodyMemoryWait = 10 * time.Second
)

// maxRequestURI bounds the request target (path and query); the header
// limit bounds it too, but a long path is refused with its own code.
const maxRequestURI = 8 << 10

// holdSlack is how long a request that waited (a long poll, a blocking
// query) has to write its answer once its wait is over.
const holdSlack = 30 * time.Second

// streamWriteTimeout bounds each write of a streaming answer, so that a
// client that stops reading cannot hold its connection for ever.
const streamWriteTimeout = 30 * time.Second

// limits are what a route accepts.
type limits struct {
	// body is the largest request body, in bytes.
	body int64
	// hold is the longest a route may wait before it answers (a long
	// poll); 0 for routes that answer at once.
	hold time.Duration
	// stream is set for routes that answer with a stream of unbounded
	// length (the event stream, followed logs).
	stream bool
	// upload is set for a route whose body is a stream of unbounded
	// length that its handler copies through (an agent's logs to their
	// client): it is read without a limit, a memory reservation or the
	// server's read and write timeouts.
	upload bool
}

var (
	smallLimits   = limits{body: bodySmall}
	blockingQuery = limits{body: bodySmall, hold: scheduler.MaxWait}
	streaming     = limits{body: bodySmall, stream: true}
	receiveLimits = limits{body: bodySmall, hold: queue.MaxReceiveWait}
)

// readTimeoutKey is the context key under which [Server.HTTPServer]
// gives handlers its read timeout.
type readTimeoutKey struct{}

// errReadTimeout is the class of a request whose body did not arrive in
// time: 408.
var errReadTimeout = errors.New("request timeout")

// bodyGate admits requests to their routes: it applies a route's body
// limit and the limit on bodies held at once, and lifts the server's read
// and write deadlines for routes that wait or stream (see
// [Server.HTTPServer]).
type bodyGate struct {
	memory *semaphore.Weighted // bodyMemory bytes
	wait   time.Duration       // bodyMemoryWait
	m      *httpMetrics
}

func newBodyGate(m *httpMetrics) *bodyGate {
	return &bodyGate{memory: semaphore.NewWeighted(bodyMemory), wait: bodyMemoryWait, m: m}
}

// admit prepares r for a route with limits l, or returns why it is
// refused: a Content-Length over the limit (errdefs.ErrTooLarge, code
// request_too_large) or no room for the body (errdefs.ErrUnavailable, code
// server_busy). r.Body is replaced by a reader that stops at the limit.
// release must be called once the handler is done with the body.
func (g *bodyGate) admit(w http.ResponseWriter, r *http.Request, l limits) (release func(), err error) {
	if l.upload {
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Time{})
		rc.SetWriteDeadline(time.Time{})
		return func() {}, nil
	}
	if r.ContentLength > l.body {
		// Closing spares net/http reading the body it would otherwise
		// discard before answering.
		w.Header().Set("Connection", "close")
		g.m.refuse("body_too_large")
		return nil, errdefs.New(errdefs.ErrTooLarge, "request_too_large",
			"request body of %d bytes is over this route's limit of %d bytes", r.ContentLength, l.body)
	}
	release = func() {}
	hasBody := r.Body != nil && r.Body != http.NoBody
	if n := r.ContentLength; hasBody && (n > bodySmall || n < 0 && l.body > bodySmall) {
		if n < 0 {
			n = l.body
		}
		if !g.memory.TryAcquire(n) {
			g.m.bodyWaiting.Inc()
			ctx, cancel := context.WithTimeout(r.Context(), g.wait)
			err := g.memory.Acquire(ctx, n)
			cancel()
			g.m.bodyWaiting.Dec()
			if err != nil {
				g.m.refuse("body_memory")
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Connection", "close")
				return nil, errdefs.New(errdefs.ErrUnavailable, "server_busy",
					"the server is reading too many large request bodies; retry")
			}
			// The wait was the server's: the client gets its whole read
			// timeout for the body from now.
			if d, ok := r.Context().Value(readTimeoutKey{}).(time.Duration); ok && d > 0 {
				http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
			}
		}
		release = func() { g.memory.Release(n) }
	}
	lift := func() {}
	if l.hold > 0 || l.stream {
		lift = func() { liftDeadlines(w, l) }
	}
	if !hasBody {
		lift()
		return release, nil
	}
	r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, l.body), limit: l.body, w: w, atEOF: lift, m: g.m}
	return release, nil
}

// liftDeadlines frees a request that waits or streams from the server's
// read and write timeouts, which bound reading a request and writing an
// ordinary answer. Once its body is read, net/http only reads the
// connection to learn that the client went away, and a read deadline
// passing there would cancel the request as if it had: so the read
// deadline is cleared. The write deadline becomes the route's longest
// wait plus holdSlack; streams set one before each write instead.
func liftDeadlines(w http.ResponseWriter, l limits) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{}) // not supported by test recorders: nothing to lift
	if l.stream {
		rc.SetWriteDeadline(time.Time{})
		return
	}
	rc.SetWriteDeadline(time.Now().Add(l.hold + holdSlack))
}

// limitedBody is a request body read through http.MaxBytesReader: it
// counts a body that goes over its limit, and calls atEOF once it has
// been read to its end. A body that could not be read (over the limit,
// too slow, broken) closes the connection after the answer: what is left
// of it is not to be read.
type limitedBody struct {
	io.ReadCloser
	limit  int64
	w      http.ResponseWriter
	atEOF  func()
	m      *httpMetrics
	failed bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		if b.atEOF != nil {
			b.atEOF()
			b.atEOF = nil
		}
	case !b.failed:
		b.failed = true
		b.w.Header().Set("Connection", "close")
		if errors.As(err, new(*http.MaxBytesError)) {
			b.m.refuse("body_too_large")
		}
	}
	return n, err
}

// readBody reads a request body whole, within its route's limit (see
// [httpbody.Read]).
func readBody(r *http.Request) ([]byte, error) {
	limit := int64(1 << 62)
	if lb, ok := r.Body.(*limitedBody); ok {
		limit = lb.limit
	}
	return httpbody.Read(r.Body, r.ContentLength, limit)
}

// bodyError turns a failure to read a request body into the API's error:
// too large (413), too slow (408) or broken (400).
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errdefs.New(errdefs.ErrTooLarge, "request_too_large", "request body over this route's limit of %d bytes", mbe.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errdefs.New(errReadTimeout, "request_timeout", "the request body did not arrive in time")
	default:
		return errdefs.New(errdefs.ErrInvalid, "invalid_request", "read request body: %v", err)
	}
}

// streamWriter sets a write deadline before each write of a streaming
// answer: a client that reads slowly is fine, one that stops reading is
// cut off after streamWriteTimeout.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func newStreamWriter(w http.ResponseWriter) *streamWriter {
	return &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
}

func (w *streamWriter) Write(b []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	return w.ResponseWriter.Write(b)
}

// Flush sends what is buffered, within its own write deadline.
func (w *streamWriter) Flush() {
	w.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	w.rc.Flush()
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// checkTarget refuses request targets no route has: over maxRequestURI
// (414), or a path that is not clean (400: "." or ".." segments, "//",
// NUL or other control characters, decoded from %XX or not), which
// http.ServeMux would otherwise answer with a redirect to its cleaned
// form.
func checkTarget(r *http.Request) error {
	if len(r.RequestURI) > maxRequestURI {
		return errdefs.New(errURITooLong, "uri_too_long", "request target of %d bytes is over the limit of %d", len(r.RequestURI), maxRequestURI)
	}
	p := r.URL.Path
	if p == "" || p[0] != '/' {
		return errdefs.New(errdefs.ErrInvalid, "invalid_path", "the request path must start with /")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x20 || c == 0x7f {
			return errdefs.New(errdefs.ErrInvalid, "invalid_path", "the request path holds a control character at byte %d", i)
		}
		if c != '/' {
			continue
		}
		seg := p[i+1:]
		if j := strings.IndexByte(seg, '/'); j >= 0 {
			seg = seg[:j]
		}
		if seg == "." || seg == ".." || seg == "" && i+1 < len(p) {
			return errdefs.New(errdefs.ErrInvalid, "invalid_path", "the request path is not clean (a \".\", \"..\" or empty segment)")
		}
	}
	return nil
}

// errURITooLong is the class of a request target over maxRequestURI: 414.
var errURITooLong = errors.New("request target too long")
