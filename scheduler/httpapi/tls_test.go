package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/pki"
	"github.com/docketd/docket/internal/pkitest"
	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
)

// newTLSServer starts a Server behind HTTPServer serving HTTPS with a
// server certificate of p's CA, and returns it, its address and the
// management token.
func newTLSServer(t *testing.T, p *pkitest.PKI) (*API, string, string) {
	t.Helper()
	s := runScheduler(t, scheduler.Config{})
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc, sk := p.Issue("server", pki.CertRequest{Role: pki.RoleServer})
	cfg, err := pki.ServerConfig(sc, sk, p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := New(s)
	hs, lln := a.HTTPServer(a.Handler(), ln, HTTPConfig{TLS: cfg, ReadHeaderTimeout: 2 * time.Second})
	go hs.Serve(lln)
	t.Cleanup(func() { hs.Close() })
	return a, ln.Addr().String(), boot.SecretID
}

// TestTLS: the server speaks only TLS, counts each handshake by the role
// of the client's certificate and each failure by why, and over TLS keeps
// the agents' routes for agents' certificates.
func TestTLS(t *testing.T) {
	p := pkitest.New(t)
	a, addr, token := newTLSServer(t, p)
	ctx := context.Background()
	client := func(role pki.Role, ca string) *api.Client {
		var cert, key string
		if role != "" {
			cert, key = p.Issue(string(role)+"-client", pki.CertRequest{Role: role})
		}
		cfg, err := pki.ClientConfig(ca, cert, key, "")
		if err != nil {
			t.Fatal(err)
		}
		return api.NewClient(addr).WithTLS(cfg).WithToken(token)
	}
	handshakes := func(role string) float64 { return value(a.tls.handshakes.WithLabelValues(role)) }
	failures := func(reason string) float64 { return value(a.tls.failures.WithLabelValues(reason)) }
	node := api.RegisterNodeRequest{ID: "0123456789abcdef0123456789abcdef", Name: "n1", OS: "linux", Arch: "amd64", CPU: 1000, Memory: 1024}

	// A CLI certificate and none at all reach the API, but not an
	// agent's route.
	for _, role := range []pki.Role{pki.RoleCLI, ""} {
		cl := client(role, p.CAFile())
		if _, err := cl.Queues(ctx); err != nil {
			t.Fatalf("%q certificate: list queues: %v", role, err)
		}
		var ae *api.Error
		if _, err := cl.RegisterNode(ctx, node); !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != "tls_agent_certificate_required" {
			t.Errorf("%q certificate: register a node: %v, want 403 tls_agent_certificate_required", role, err)
		}
	}
	if handshakes("cli") != 1 || handshakes("none") != 1 {
		t.Errorf("handshakes: cli %v, none %v; want 1 each (a keep-alive connection per client)", handshakes("cli"), handshakes("none"))
	}

	// An agent's certificate registers its node.
	if _, err := client(pki.RoleAgent, p.CAFile()).RegisterNode(ctx, node); err != nil {
		t.Fatalf("agent certificate: register a node: %v", err)
	}
	if handshakes("agent") != 1 {
		t.Errorf("agent handshakes %v, want 1", handshakes("agent"))
	}

	// Plain HTTP is answered 400, as net/http's TLS server does.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(b), "HTTP/1.0 400") || !strings.Contains(string(b), "HTTPS server") {
		t.Errorf("plain HTTP answered %q", b)
	}

	// A certificate of another CA or an expired one fails the handshake;
	// so does a client that does not trust the server.
	other := pkitest.New(t)
	oc, ok := other.Issue("agent", pki.CertRequest{Role: pki.RoleAgent})
	ec, ek := p.Expired("expired", pki.RoleAgent)
	for name, files := range map[string][3]string{
		"another CA's agent certificate": {p.CAFile(), oc, ok},
		"an expired agent certificate":   {p.CAFile(), ec, ek},
		"a client of another CA":         {other.CAFile(), "", ""},
	} {
		cfg, err := pki.ClientConfig(files[0], files[1], files[2], "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := api.NewClient(addr).WithTLS(cfg).WithToken(token).Queues(ctx); err == nil {
			t.Errorf("%s: the request was served", name)
		}
	}
	polltest.WaitFor(t, 10*time.Second, func() error {
		if got := [3]float64{failures("plain_http"), failures("bad_certificate"), failures("rejected")}; got != [3]float64{1, 2, 1} {
			return fmt.Errorf("failures: plain_http, bad_certificate, rejected = %v (other %v), want [1 2 1]", got, failures("other"))
		}
		return nil
	})
}
