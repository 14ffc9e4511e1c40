// Package webhook POSTs notifications to the HTTP(S) endpoints subscribed
// to topics, one attempt at a time; retrying is the caller's (the
// server's deliverer, scheduler/endpoints.go).
//
// It connects only where its Config lets it. Loopback, link-local (where
// cloud metadata services answer), unspecified and multicast addresses
// are refused unless Allow names them; Deny refuses more. The check is on
// the address dialed, after name resolution, so a name that resolves to
// a refused address is refused too, and no proxy sits between (a proxy
// would hide the address). Redirects are not followed: a 3xx is a failed
// attempt, as in SNS.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultTimeout bounds one attempt unless Config.Timeout says otherwise,
// as SNS's.
const DefaultTimeout = 15 * time.Second

// maxResponseBody is how much of an answer is read (and thrown away), so
// the connection can be reused.
const maxResponseBody = 64 << 10

// Config says where deliveries may go.
type Config struct {
	// Allow lists networks deliveries may go to although they are refused
	// by default; a single-host setup allows 127.0.0.0/8.
	Allow []netip.Prefix
	// Deny adds networks deliveries may not go to.
	Deny []netip.Prefix
	// RootCAs verify HTTPS endpoints' certificates; default the system's.
	RootCAs *x509.CertPool
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
}

// AttemptTimeout is how long one attempt may take: Timeout, or
// DefaultTimeout.
func (c Config) AttemptTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// deniedByDefault are the networks no delivery goes to unless allowed.
var deniedByDefault = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("255.255.255.255/32"),
}

// ErrRefusedAddress fails a delivery to an address the Config refuses.
var ErrRefusedAddress = errors.New("the endpoint's address is refused by the server's endpoint policy (--endpoint-allow)")

// Client makes delivery attempts.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	c := &Client{cfg: cfg}
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !c.Allowed(ap.Addr()) {
			return ErrRefusedAddress
		}
		return nil
	}}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	c.http = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return c
}

// Allowed reports whether deliveries may connect to addr.
func (c *Client) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range c.cfg.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	for _, p := range c.cfg.Deny {
		if p.Contains(addr) {
			return false
		}
	}
	for _, p := range deniedByDefault {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Post POSTs body with header to url, within ctx and the Config's
// timeout. It returns "" when the endpoint answered 2xx, else why not:
// status_3xx, status_4xx, status_5xx, timeout, refused_address or
// connect.
func (c *Client) Post(ctx context.Context, url string, header map[string]string, body []byte) string {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "connect"
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, ErrRefusedAddress):
			return "refused_address"
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return "timeout"
		}
		return "connect"
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return ""
	}
	return fmt.Sprintf("status_%dxx", resp.StatusCode/100)
}
