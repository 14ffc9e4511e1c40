package main

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/internal/pubsub/snsverify"
)

// subscriber is an HTTPS endpoint that does what an SNS subscriber does:
// it checks each message's signature with the certificate at its
// SigningCertURL, confirms a SubscriptionConfirmation by visiting its
// SubscribeURL, and keeps the notifications that verify.
type subscriber struct {
	*httptest.Server
	mu        sync.Mutex
	confirmed []string // SubscribeURL visits' answers
	got       chan snsverify.Message
	errs      chan error
}

func newSubscriber(t *testing.T) *subscriber {
	s := &subscriber{got: make(chan snsverify.Message, 10), errs: make(chan error, 10)}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.handle(r); err != nil {
			s.errs <- err
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *subscriber) handle(r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	m, err := snsverify.Parse(b)
	if err != nil {
		return err
	}
	if m.Type != r.Header.Get("x-amz-sns-message-type") {
		return fmt.Errorf("message type %q, header %q", m.Type, r.Header.Get("x-amz-sns-message-type"))
	}
	resp, err := http.Get(m.SigningCertURL)
	if err != nil {
		return err
	}
	cert, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := m.Verify(cert); err != nil {
		return fmt.Errorf("%s %s: %w", m.Type, m.MessageId, err)
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		resp, err := http.Get(m.SubscribeURL)
		if err != nil {
			return err
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.mu.Lock()
		s.confirmed = append(s.confirmed, string(answer))
		s.mu.Unlock()
	case "Notification":
		s.got <- m
	}
	return nil
}

// The real server delivers to an HTTPS endpoint: the endpoint confirms
// the signed SubscriptionConfirmation by its SubscribeURL and receives
// the notifications that pass its filter policy, each signed, verified
// with the certificate the server serves — all through the CLI, the
// server verifying the endpoint's certificate with --endpoint-ca and
// reaching loopback only because --endpoint-allow lets it.
func TestE2EEndpointSubscriber(t *testing.T) {
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket")
	sub := newSubscriber(t)
	ca := filepath.Join(t.TempDir(), "endpoint-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sub.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, token := startServerProcess(t, bin, "--data-dir", t.TempDir(), "--endpoint-allow", "127.0.0.0/8", "--endpoint-ca", ca)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKET_ADDR="+addr, "DOCKET_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docket %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("topic", "create", "orders")
	out := run("topic", "subscribe", "orders", "--endpoint", sub.URL+"/sns", "--filter-policy", `{"kind":["paid"]}`)
	if !strings.Contains(out, "pending its confirmation") {
		t.Errorf("subscribe printed %q", out)
	}
	confirmations := func() int {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return len(sub.confirmed)
	}
	for deadline := time.Now().Add(30 * time.Second); confirmations() == 0 || strings.Contains(run("topic", "status", "orders"), "(pending)"); {
		if time.Now().After(deadline) {
			t.Fatalf("the subscription was not confirmed:\n%s", run("topic", "status", "orders"))
		}
		select {
		case err := <-sub.errs:
			t.Fatal(err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	sub.mu.Lock()
	if len(sub.confirmed) != 1 || !strings.Contains(sub.confirmed[0], "<SubscriptionArn>arn:aws:sns:us-east-1:000000000000:orders:") {
		t.Errorf("SubscribeURL answers %q", sub.confirmed)
	}
	sub.mu.Unlock()
	run("topic", "publish", "orders", "refund 1", "--attribute", "kind=refund")
	run("topic", "publish", "orders", "paid 1", "--attribute", "kind=paid", "--subject", "Order")
	select {
	case m := <-sub.got:
		if m.Message != "paid 1" || m.Subject != "Order" || m.MessageAttributes["kind"].Value != "paid" ||
			!strings.HasPrefix(m.UnsubscribeURL, "http://"+addr+"/?Action=Unsubscribe") {
			t.Errorf("notification %+v", m)
		}
	case err := <-sub.errs:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("no notification arrived")
	}
	select {
	case m := <-sub.got:
		t.Errorf("a filtered message arrived: %+v", m)
	case err := <-sub.errs:
		t.Fatal(err)
	case <-time.After(300 * time.Millisecond):
	}
	metrics := scrapeWith(t, "http://"+addr, token)
	if !strings.Contains(metrics, `docket_topic_deliveries_total{outcome="ok",protocol="https"} 1`) {
		t.Errorf("metrics lack one https delivery:\n%s", grepLines(metrics, "docket_topic_"))
	}
}
