// Package pki makes and loads what Docket's mutual TLS needs: a CA, and
// certificates for servers, agents and CLI users signed by it, each
// carrying its role as a DNS name in its SANs (server.docket,
// agent.docket, cli.docket), as Nomad's carry server.<region>.nomad. A
// client checks that the server it reaches holds a server certificate by
// asking for that name, so an agent's or a user's certificate, signed by
// the same CA, cannot stand in for a server; a server reads its peers'
// roles from their verified certificates.
//
// Keys are ECDSA P-256. Certificates and keys are PEM files.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"time"
)

// Role is what a certificate's holder is in the cluster.
type Role string

// The roles.
const (
	RoleServer Role = "server"
	RoleAgent  Role = "agent"
	RoleCLI    Role = "cli"
)

// Roles lists the roles.
var Roles = []Role{RoleServer, RoleAgent, RoleCLI}

// DNSName is the name in a certificate's SANs that gives its role.
func (r Role) withArticle() string {
	if r == RoleAgent {
		return "an agent"
	}
	return "a " + string(r)
}

func (r Role) DNSName() string { return string(r) + ".docket" }

// ServerName is the name clients verify a server's certificate for.
var ServerName = RoleServer.DNSName()

// Default validities.
const (
	DefaultCAValidity   = 5 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// CA is a certificate authority that issues certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// newKey makes a certificate's key and a random serial number for it.
func newKey() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	return key, sn, nil
}

// NewCA makes a CA valid from notBefore to notAfter, and returns its
// certificate and key as PEM.
func NewCA(name string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, sn, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Docket"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return encode(der, key)
}

func encode(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// ParseCA reads a CA's certificate and key.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("CA: the key is not an ECDSA key")
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
	}
	if !cert.IsCA {
		return nil, errors.New("CA: the certificate is not a CA's")
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA's certificate and key from files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	c, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	k, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	return ParseCA(c, k)
}

// CertRequest is what to put in a certificate.
type CertRequest struct {
	Role Role
	// DNSNames and IPs are further names the holder answers to, beside
	// its role's name (servers also get localhost, 127.0.0.1 and ::1).
	DNSNames []string
	IPs      []net.IP
	// NotBefore and NotAfter bound its validity; zero: from now, for
	// DefaultCertValidity.
	NotBefore, NotAfter time.Time
}

// Issue makes a certificate for req signed by the CA, and returns it and
// its key as PEM. Servers' certificates serve TLS and may act as clients
// (to other servers); agents' and CLI users' only as clients.
func (ca *CA) Issue(req CertRequest) (certPEM, keyPEM []byte, err error) {
	if !slices.Contains(Roles, req.Role) {
		return nil, nil, fmt.Errorf("unknown role %q: want server, agent or cli", req.Role)
	}
	if req.NotBefore.IsZero() {
		req.NotBefore = time.Now().Add(-time.Minute)
	}
	if req.NotAfter.IsZero() {
		req.NotAfter = req.NotBefore.Add(DefaultCertValidity)
	}
	if req.NotAfter.After(ca.Cert.NotAfter) {
		req.NotAfter = ca.Cert.NotAfter
	}
	key, sn, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	names := []string{req.Role.DNSName()}
	ips := slices.Clone(req.IPs)
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if req.Role == RoleServer {
		names = append(names, "localhost")
		ips = append(ips, net.IPv4(127, 0, 0, 1), net.IPv6loopback)
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	for _, n := range req.DNSNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: req.Role.DNSName(), Organization: []string{"Docket"}},
		NotBefore:    req.NotBefore,
		NotAfter:     req.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	return encode(der, key)
}

// RoleOf is the role a certificate names in its SANs, or "" if it names
// none, or more than one.
func RoleOf(cert *x509.Certificate) Role {
	var found Role
	for _, r := range Roles {
		if slices.Contains(cert.DNSNames, r.DNSName()) {
			if found != "" {
				return ""
			}
			found = r
		}
	}
	return found
}

// PeerRole is the role of the verified certificate a TLS peer presented,
// or "" if it presented none.
func PeerRole(cs *tls.ConnectionState) Role {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return RoleOf(cs.VerifiedChains[0][0])
}

func loadPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
	}
	return pool, nil
}

// loadPair loads a certificate and key, checks that the certificate has
// role want and is signed by pool for usage, and returns it.
func loadPair(certFile, keyFile string, pool *x509.CertPool, want Role, usage x509.ExtKeyUsage) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return tls.Certificate{}, err
		}
	}
	if got := RoleOf(leaf); got != want {
		return tls.Certificate{}, fmt.Errorf("%s: the certificate of %s is needed here, this one is for %q (make one with docket tls cert create --%s)", certFile, want.withArticle(), got, want)
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certFile, err)
	}
	return pair, nil
}

// ServerConfig is the TLS configuration of a server holding the server
// certificate in certFile and keyFile: it verifies client certificates
// against the CA in caFile when clients present one (the transport decides
// which routes need which role), and speaks HTTP/1.1. The certificate
// must be a server's, signed by the CA, and valid now.
func ServerConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	pair, err := loadPair(certFile, keyFile, pool, RoleServer, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// ClientConfig is the TLS configuration of a client of the servers whose
// CA is in caFile: it accepts only server certificates (server.docket)
// signed by that CA, and presents the certificate in certFile and keyFile
// when they are given (role is what it must be: agent for an agent, "" for
// any).
func ClientConfig(caFile, certFile, keyFile string, role Role) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: ServerName, MinVersion: tls.VersionTLS12}
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, errors.New("a client certificate needs both its file and its key's")
	default:
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		if role != "" {
			if pair, err = loadPair(certFile, keyFile, pool, role, x509.ExtKeyUsageClientAuth); err != nil {
				return nil, err
			}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
