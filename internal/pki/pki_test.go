package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/pki"
	"github.com/docketd/docket/internal/pkitest"
)

func parse(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssue(t *testing.T) {
	p := pkitest.New(t)
	for _, r := range pki.Roles {
		cert, _ := p.Issue(string(r), pki.CertRequest{Role: r, DNSNames: []string{"node1.example"}, IPs: []net.IP{net.ParseIP("10.0.0.7")}})
		c := parse(t, cert)
		if pki.RoleOf(c) != r {
			t.Errorf("%s: pki.RoleOf = %q, SANs %v", r, pki.RoleOf(c), c.DNSNames)
		}
		if !strings.Contains(strings.Join(c.DNSNames, ","), "node1.example") || len(c.IPAddresses) == 0 {
			t.Errorf("%s: SANs %v %v, want the extra names", r, c.DNSNames, c.IPAddresses)
		}
		serves := false
		for _, u := range c.ExtKeyUsage {
			serves = serves || u == x509.ExtKeyUsageServerAuth
		}
		if serves != (r == pki.RoleServer) {
			t.Errorf("%s: server auth usage %v", r, serves)
		}
		if c.NotAfter.Sub(c.NotBefore) < pki.DefaultCertValidity {
			t.Errorf("%s: valid %v, want %v", r, c.NotAfter.Sub(c.NotBefore), pki.DefaultCertValidity)
		}
	}
	if _, _, err := p.CA.Issue(pki.CertRequest{Role: "root"}); err == nil {
		t.Error("a certificate for an unknown role was issued")
	}
	if _, err := pki.ParseCA([]byte("x"), []byte("y")); err == nil {
		t.Error("pki.ParseCA took garbage")
	}
}

// handshake runs a TLS handshake between a server and a client with the
// configurations over loopback TCP and returns the server's and the
// client's errors, and the server's view of the connection (first).
func handshake(t *testing.T, srv, cli *tls.Config) (cs tls.ConnectionState, serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err error
		cs  tls.ConnectionState
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		s := tls.Server(c, srv)
		s.SetDeadline(time.Now().Add(10 * time.Second))
		err = s.Handshake()
		if err == nil {
			s.Write([]byte("k"))
		}
		done <- result{err, s.ConnectionState()}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err == nil {
		// A TLS 1.3 client finishes before the server has checked its
		// certificate: reading the server's byte makes it see the verdict.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	r := <-done
	return r.cs, r.err, err
}

func TestMutualTLS(t *testing.T) {
	p := pkitest.New(t)
	sc, sk := p.Issue("server", pki.CertRequest{Role: pki.RoleServer})
	ac, ak := p.Issue("agent", pki.CertRequest{Role: pki.RoleAgent})
	cc, ck := p.Issue("cli", pki.CertRequest{Role: pki.RoleCLI})
	expC, expK := p.Expired("expired", pki.RoleAgent)
	other := pkitest.New(t)
	oc, ok := other.Issue("other-agent", pki.CertRequest{Role: pki.RoleAgent})
	osc, osk := other.Issue("other-server", pki.CertRequest{Role: pki.RoleServer})

	srv, err := pki.ServerConfig(sc, sk, p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.ServerConfig(ac, ak, p.CAFile()); err == nil || !strings.Contains(err.Error(), "the certificate of a server is needed") {
		t.Errorf("pki.ServerConfig with an agent certificate: %v", err)
	}
	if _, err := pki.ServerConfig(osc, osk, p.CAFile()); err == nil {
		t.Error("pki.ServerConfig with a server certificate of another CA succeeded")
	}
	if _, err := pki.ClientConfig(p.CAFile(), cc, ck, pki.RoleAgent); err == nil {
		t.Error("an agent's pki.ClientConfig took a CLI certificate")
	}
	client := func(cert, key string) *tls.Config {
		cfg, err := pki.ClientConfig(p.CAFile(), cert, key, "")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	for _, tt := range []struct {
		name       string
		cert, key  string
		role       pki.Role
		serverFail bool
	}{
		{"agent", ac, ak, pki.RoleAgent, false},
		{"cli", cc, ck, pki.RoleCLI, false},
		{"no certificate", "", "", "", false},
		{"expired agent certificate", expC, expK, "", true},
		{"agent certificate of another CA", oc, ok, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs, serr, cerr := handshake(t, srv, client(tt.cert, tt.key))
			if tt.serverFail {
				var ve *tls.CertificateVerificationError
				if !errors.As(serr, &ve) {
					t.Errorf("server's error %v, want a certificate verification error", serr)
				}
				return
			}
			if serr != nil || cerr != nil {
				t.Fatalf("handshake: server %v, client %v", serr, cerr)
			}
			if got := pki.PeerRole(&cs); got != tt.role {
				t.Errorf("pki.PeerRole = %q, want %q", got, tt.role)
			}
		})
	}

	// A client refuses a server that holds an agent certificate of the
	// right CA, and a server certificate of another CA.
	fake := srv.Clone()
	pair, _ := tls.LoadX509KeyPair(ac, ak)
	fake.Certificates = []tls.Certificate{pair}
	if _, _, cerr := handshake(t, fake, client(ac, ak)); cerr == nil || !strings.Contains(cerr.Error(), "server.docket") {
		t.Errorf("client to a server holding an agent certificate: %v, want refused for server.docket", cerr)
	}
	foreign := srv.Clone()
	pair, _ = tls.LoadX509KeyPair(osc, osk)
	foreign.Certificates = []tls.Certificate{pair}
	if _, _, cerr := handshake(t, foreign, client("", "")); cerr == nil || !strings.Contains(cerr.Error(), "unknown authority") {
		t.Errorf("client to a server of another CA: %v, want unknown authority", cerr)
	}
}
