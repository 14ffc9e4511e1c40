package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/docketd/docket/internal/promreg"
)

// HTTPConfig holds the HTTP server's timeouts and connection limits; the
// limits of request bodies are per route (routes.go). Zero fields take the
// defaults noted.
type HTTPConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers; default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body;
	// default 60s (a 16 MiB send at 280 KB/s). Routes that wait (long
	// polls, blocking queries, streams) are freed from it once their body
	// is read.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its answer, from
	// the end of its headers; default 60s. Routes that wait have their
	// longest wait added; streams have it for each write.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request; default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; default 64 KiB
	// (net/http allows 4 KiB more).
	MaxHeaderBytes int
	// MaxConns is the most connections open at once; default 4096. A
	// connection over it closes the one idle the longest, or waits up to
	// MaxConnsWait (default 5s) for one to close, or is closed.
	MaxConns     int
	MaxConnsWait time.Duration
	// TLS, if set, serves HTTPS only (a plain HTTP request is answered
	// 400 and closed), with this configuration (internal/pki's
	// ServerConfig); handshakes have ReadHeaderTimeout.
	TLS *tls.Config
}

func (c HTTPConfig) withDefaults() HTTPConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.ReadTimeout, 60*time.Second)
	def(&c.WriteTimeout, 60*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.MaxConnsWait, 5*time.Second)
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4096
	}
	return c
}

// HTTPServer returns the HTTP server for handler (normally a.Handler(),
// perhaps wrapped) with cfg's timeouts and limits, and ln wrapped to hold
// at most cfg.MaxConns connections: serve it with hs.Serve(lln). Refusals
// and timeouts are counted on the server's registry.
func (a *API) HTTPServer(handler http.Handler, ln net.Listener, cfg HTTPConfig) (hs *http.Server, lln net.Listener) {
	cfg = cfg.withDefaults()
	cl := newConnLimiter(ln, cfg.MaxConns, cfg.MaxConnsWait, a.metrics)
	a.limitersMu.Lock()
	a.limiters = append(a.limiters, cl)
	a.limitersMu.Unlock()
	lln = cl
	if cfg.TLS != nil {
		lln = newTLSListener(cl, cfg.TLS, cfg.ReadHeaderTimeout, a.tls)
	}
	hs = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnState:         cl.connState,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, readTimeoutKey{}, cfg.ReadTimeout)
		},
		ErrorLog: slog.NewLogLogger(a.logger.With("component", "http").Handler(), slog.LevelWarn),
	}
	return hs, lln
}

// httpMetrics time every request and count what the HTTP limits refuse
// and cut.
type httpMetrics struct {
	requestDuration *prometheus.HistogramVec
	refused         *prometheus.CounterVec
	timeouts        *prometheus.CounterVec
	conns           prometheus.Gauge
	connWaiting     prometheus.Gauge
	evicted         prometheus.Counter
	bodyWaiting     prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "docket_http_request_duration_seconds",
			Help:    "Time to answer an HTTP API request, by route and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25},
		}, []string{"method", "route", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_http_refused_total",
			Help: "Requests and connections refused by a limit, by reason: body_too_large, body_memory (too many large bodies at once), header_too_large, uri_too_long, invalid_path or connection_limit.",
		}, []string{"reason"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_http_timeouts_total",
			Help: "Connections cut by a timeout, by which: idle (no request), header, read (the body) or write.",
		}, []string{"timeout"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "docket_http_connections",
			Help: "HTTP connections open.",
		}),
		connWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "docket_http_connections_waiting",
			Help: "Connections over the connection limit waiting for one to close.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "docket_http_connections_evicted_total",
			Help: "Idle connections closed to make room for a new one at the connection limit.",
		}),
		bodyWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "docket_http_body_memory_waiting",
			Help: "Requests with large bodies waiting for others to finish.",
		}),
	}
	// A second API on the same server's registry shares the first's
	// instruments.
	m.requestDuration = promreg.Register(reg, m.requestDuration)
	m.refused = promreg.Register(reg, m.refused)
	m.timeouts = promreg.Register(reg, m.timeouts)
	m.conns = promreg.Register(reg, m.conns)
	m.connWaiting = promreg.Register(reg, m.connWaiting)
	m.evicted = promreg.Register(reg, m.evicted)
	m.bodyWaiting = promreg.Register(reg, m.bodyWaiting)
	return m
}

// instrument times every request by its route pattern, so that the label
// set stays small whatever paths clients send.
func (m *httpMetrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requestDuration.WithLabelValues(r.Method, route, strconv.Itoa(sw.status)).
			Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the writer underneath, for the
// deadlines of routes that wait (limits.go).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets streaming handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (m *httpMetrics) refuse(reason string) { m.refused.WithLabelValues(reason).Inc() }

// minIdleToEvict is how long a connection must have been idle before a
// new one may close it: one about to send its request is left alone.
const minIdleToEvict = time.Second

// connLimiter is a listener that keeps at most max connections open. At
// the limit, a new connection closes the one that has been idle the
// longest (a keep-alive connection between requests, or one that has not
// finished its first request's headers); when none is, it waits for one
// to close, and is closed itself if none does within wait.
type connLimiter struct {
	net.Listener
	wait  time.Duration
	m     *httpMetrics
	slots chan struct{} // one token per open connection
	done  chan struct{} // closed by Close
	once  sync.Once

	mu    sync.Mutex // guards conns
	conns map[*limitedConn]struct{}
}

func newConnLimiter(ln net.Listener, max int, wait time.Duration, m *httpMetrics) *connLimiter {
	return &connLimiter{Listener: ln, wait: wait, m: m, slots: make(chan struct{}, max),
		done: make(chan struct{}), conns: map[*limitedConn]struct{}{}}
}

// Accept returns the next connection once there is room for it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.acquire() {
			// Counted before the close, which the client may see first.
			l.m.refuse("connection_limit")
			c.Close()
			continue
		}
		lc := &limitedConn{Conn: c, l: l}
		lc.since.Store(time.Now().UnixNano())
		l.mu.Lock()
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		l.m.conns.Inc()
		return lc, nil
	}
}

// Close stops accepting; open connections stay open.
func (l *connLimiter) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// acquire takes a slot for a new connection: a free one, one freed by
// closing an idle connection, or one freed within l.wait.
func (l *connLimiter) acquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if victim := l.idlest(); victim != nil {
		l.m.evicted.Inc()
		victim.Close() // frees its slot before it returns
		select {
		case l.slots <- struct{}{}:
			return true
		default: // another took it
		}
	}
	l.m.connWaiting.Inc()
	defer l.m.connWaiting.Dec()
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-l.done:
		return false
	}
}

// idlest returns the connection idle the longest, if one has been idle
// for minIdleToEvict.
func (l *connLimiter) idlest() *limitedConn {
	cutoff := time.Now().Add(-minIdleToEvict).UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	var victim *limitedConn
	oldest := cutoff
	for c := range l.conns {
		st := http.ConnState(c.state.Load())
		if st != http.StateNew && st != http.StateIdle {
			continue
		}
		if since := c.since.Load(); since <= oldest {
			victim, oldest = c, since
		}
	}
	return victim
}

// closeSilentConns closes the connections that have read nothing since
// they were accepted.
func (a *API) closeSilentConns() {
	a.limitersMu.Lock()
	ls := slices.Clone(a.limiters)
	a.limitersMu.Unlock()
	for _, l := range ls {
		l.mu.Lock()
		var silent []*limitedConn
		for c := range l.conns {
			if http.ConnState(c.state.Load()) == http.StateNew && !c.gotBytes.Load() {
				silent = append(silent, c)
			}
		}
		l.mu.Unlock()
		for _, c := range silent {
			c.Close()
		}
	}
}

// connState follows each connection's state, as http.Server reports it.
func (l *connLimiter) connState(nc net.Conn, st http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	if st == http.StateNew || st == http.StateIdle {
		c.since.Store(time.Now().UnixNano())
		c.gotBytes.Store(false)
	}
	c.state.Store(int32(st))
}

// limitedConn is a connection of a connLimiter: it frees its slot when
// closed and counts the timeouts that cut it.
type limitedConn struct {
	net.Conn
	l *connLimiter

	state    atomic.Int32 // http.ConnState
	since    atomic.Int64 // when it became new or idle, in Unix ns
	gotBytes atomic.Bool  // it read bytes since then
	// aborting is set while net/http interrupts its own background read
	// with a deadline in the past, which is not a timeout.
	aborting atomic.Bool
	counted  atomic.Bool // a timeout was counted
	once     sync.Once
}

func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.gotBytes.Load() {
		c.gotBytes.Store(true)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.aborting.Load() {
		switch st := http.ConnState(c.state.Load()); {
		case st == http.StateActive:
			c.timedOut("read")
		case c.gotBytes.Load():
			c.timedOut("header")
		default:
			c.timedOut("idle")
		}
	}
	return n, err
}

// header431 starts the answer net/http writes itself to headers over
// MaxHeaderBytes.
var header431 = []byte("HTTP/1.1 431 ")

func (c *limitedConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, header431) {
		c.l.m.refuse("header_too_large")
	}
	n, err := c.Conn.Write(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut("write")
	}
	return n, err
}

func (c *limitedConn) timedOut(which string) {
	if c.counted.CompareAndSwap(false, true) {
		c.l.m.timeouts.WithLabelValues(which).Inc()
	}
}

// SetReadDeadline notes a deadline in the past, net/http's way of
// interrupting its own read.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	c.aborting.Store(!t.IsZero() && t.Before(time.Now()))
	return c.Conn.SetReadDeadline(t)
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.slots
		c.l.m.conns.Dec()
	})
	return c.Conn.Close()
}

// Serve runs the server's loops and serves hs on ln until ctx ends; then
// it ends the long polls, blocking queries and streams (StopWaits), shuts
// hs down (waiting up to five seconds for requests in progress), and only
// then stops the server's loops and closes its stores.
func (a *API) Serve(ctx context.Context, hs *http.Server, ln net.Listener) error {
	// The server runs until the HTTP server has stopped, so that requests
	// in progress finish on open stores.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.srv.Run(runCtx) })
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		defer stopRun()
		a.srv.StopWaits() // long polls and streams answer now
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		// A connection that has sent nothing has no request to finish,
		// but http.Server waits five seconds for one (a client's pool
		// dials ahead, and a dial's request may be canceled): close them
		// while the shutdown waits for the others.
		swept := make(chan struct{})
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				a.closeSilentConns()
				select {
				case <-swept:
					return
				case <-t.C:
				}
			}
		}()
		err := hs.Shutdown(sctx)
		close(swept)
		if err != nil {
			// Say what held it up: the goroutines' stacks.
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 2)
			a.srv.Config().Logger.Error("shutdown timed out with requests still running", "err", err, "goroutines", b.String())
		}
		return err
	})
	return g.Wait()
}
