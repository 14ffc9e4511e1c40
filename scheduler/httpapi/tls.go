package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/pki"
	"github.com/docketd/docket/internal/promreg"
)

// tlsMetrics count the TLS handshakes the server completes, by the role
// of the certificate the client presented, and those that fail, by why.
type tlsMetrics struct {
	handshakes *prometheus.CounterVec
	failures   *prometheus.CounterVec
}

func newTLSMetrics(reg prometheus.Registerer) *tlsMetrics {
	return &tlsMetrics{
		handshakes: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_tls_handshakes_total",
			Help: "TLS handshakes completed, by the role of the client's certificate: server, agent, cli, or none.",
		}, []string{"role"})),
		failures: promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_tls_handshake_failures_total",
			Help: "TLS handshakes that failed, by reason: bad_certificate (the client's certificate did not verify: another CA, expired), rejected (the client refused the server's certificate), plain_http (an HTTP request to the TLS port), timeout, closed, or other.",
		}, []string{"reason"})),
	}
}

// handshakeReason classifies a failed handshake for the failures metric.
func handshakeReason(err error) string {
	var ve *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &ve):
		return "bad_certificate"
	case errors.As(err, &rh):
		if rh.Conn != nil && looksLikeHTTP(rh.RecordHeader[:]) {
			return "plain_http"
		}
		return "other"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
		return "closed"
	case strings.Contains(err.Error(), "remote error"):
		return "rejected"
	case strings.Contains(err.Error(), "certificate"):
		return "bad_certificate"
	}
	return "other"
}

func looksLikeHTTP(hdr []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "DELET", "PATCH", "OPTIO"} {
		if string(hdr) == m[:5] {
			return true
		}
	}
	return false
}

// plainHTTPAnswer is what a client speaking plain HTTP to the TLS port
// reads, as net/http's own TLS server answers.
const plainHTTPAnswer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

// tlsListener serves TLS on the connections of an inner listener: each
// handshake runs in its own goroutine, within timeout, so a slow client
// holds up no other, and Accept hands over connections whose handshake
// succeeded. Doing the handshake here, rather than in net/http, lets the
// server count each one by the peer's role, and each failure by its
// reason. The inner listener (the connection limiter) bounds how many
// handshakes run at once.
type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	m       *tlsMetrics

	start sync.Once
	ready chan net.Conn
	err   chan error // the inner listener's error, once
	done  chan struct{}
	stop  sync.Once
}

func newTLSListener(inner net.Listener, cfg *tls.Config, timeout time.Duration, m *tlsMetrics) *tlsListener {
	return &tlsListener{Listener: inner, cfg: cfg, timeout: timeout, m: m,
		ready: make(chan net.Conn), err: make(chan error, 1), done: make(chan struct{})}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.err:
		l.err <- err // for the next caller
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.err <- err
			return
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	tc.SetDeadline(time.Now().Add(l.timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		reason := handshakeReason(err)
		l.m.failures.WithLabelValues(reason).Inc()
		var rh tls.RecordHeaderError
		if reason == "plain_http" && errors.As(err, &rh) {
			rh.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(rh.Conn, plainHTTPAnswer)
		}
		c.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	role := string(pki.PeerRole(&cs))
	if role == "" {
		role = "none"
	}
	l.m.handshakes.WithLabelValues(role).Inc()
	select {
	case l.ready <- tc:
	case <-l.done:
		tc.Close()
	}
}

func (l *tlsListener) Close() error {
	l.stop.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// agentRoles are the certificate roles that may call an agent's routes.
var agentRoles = map[pki.Role]bool{pki.RoleAgent: true, pki.RoleServer: true}

// checkAgentCert refuses a request to an agent's route that came over TLS
// without an agent's (or a server's) verified certificate: over TLS, only
// agents register nodes, heartbeat, watch a node's allocations and report
// their status. Plain HTTP (a server without TLS, or a test's handler)
// is left to the token and the node secret.
func checkAgentCert(r *http.Request) error {
	if r.TLS == nil {
		return nil
	}
	role := pki.PeerRole(r.TLS)
	if agentRoles[role] {
		return nil
	}
	got := "no certificate"
	if role != "" {
		got = "a " + string(role) + " certificate"
	}
	return errdefs.New(errdefs.ErrPermissionDenied, "tls_agent_certificate_required",
		"this route is for agents: it needs an agent's TLS certificate (docket tls cert create --agent), and the request presented %s", got)
}
