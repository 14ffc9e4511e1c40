// Package pkitest gives tests a cluster CA and the certificates it
// issues, as files in a temporary directory.
package pkitest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docketd/docket/internal/pki"
)

// PKI is a CA and a directory of the certificates it issued.
type PKI struct {
	t   testing.TB
	Dir string
	CA  *pki.CA
}

// New makes a CA valid from an hour ago and writes its certificate.
func New(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	c, k, err := pki.NewCA("test CA", time.Now().Add(-time.Hour), time.Now().Add(pki.DefaultCAValidity))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ParseCA(c, k)
	if err != nil {
		t.Fatal(err)
	}
	p := &PKI{t: t, Dir: dir, CA: ca}
	p.write("ca.pem", c, 0o644)
	p.write("ca-key.pem", k, 0o600)
	return p
}

// CAFile is the CA certificate's file.
func (p *PKI) CAFile() string { return filepath.Join(p.Dir, "ca.pem") }

// CAKeyFile is the CA key's file.
func (p *PKI) CAKeyFile() string { return filepath.Join(p.Dir, "ca-key.pem") }

// Issue writes a certificate for req as name.pem and name-key.pem and
// returns their files.
func (p *PKI) Issue(name string, req pki.CertRequest) (cert, key string) {
	p.t.Helper()
	c, k, err := p.CA.Issue(req)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(name+".pem", c, 0o644), p.write(name+"-key.pem", k, 0o600)
}

// Expired issues a certificate for role that ended a day ago.
func (p *PKI) Expired(name string, role pki.Role) (cert, key string) {
	p.t.Helper()
	return p.Issue(name, pki.CertRequest{Role: role, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
}

func (p *PKI) write(name string, b []byte, mode os.FileMode) string {
	p.t.Helper()
	f := filepath.Join(p.Dir, name)
	if err := os.WriteFile(f, b, mode); err != nil {
		p.t.Fatal(err)
	}
	return f
}
