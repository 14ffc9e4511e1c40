package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sync/semaphore"

	"github.com/docketd/docket/internal/acltest"
	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// newLimitedServer starts a Server behind HTTPServer with hc's timeouts
// and limits on a loopback port, with a queue "q" and unsigned SQS.
func newLimitedServer(t testing.TB, hc HTTPConfig) (*API, *api.Client, string) {
	t.Helper()
	s := runScheduler(t, scheduler.Config{SQSAllowUnsigned: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := New(s)
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hs, lln := a.HTTPServer(acltest.Credentials(a.Handler(), boot.SecretID), ln, hc)
	go hs.Serve(lln)
	t.Cleanup(func() { hs.Close() })
	base := "http://" + ln.Addr().String()
	// Created on a connection that closes, so that tests of the
	// connection limit start from none.
	resp, body := rawRequest(t, base, "POST /v1/queues HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 12\r\n\r\n{\"name\":\"q\"}", 5*time.Second)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create queue: %d %s", resp.StatusCode, body)
	}
	return a, api.NewClient(ln.Addr().String()), base
}

// rawConn dials the server of base.
func rawConn(t testing.TB, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawRequest writes req as it is on a new connection and reads the answer
// within timeout.
func rawRequest(t testing.TB, base, req string, timeout time.Duration) (*http.Response, []byte) {
	t.Helper()
	c := rawConn(t, base)
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	return readResponse(t, bufio.NewReader(c))
}

func readResponse(t testing.TB, br *bufio.Reader) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// sqsCode is the error code of an answer of the SQS endpoint, in either
// protocol.
func sqsCode(body []byte) string {
	var j struct {
		Type string `json:"__type"`
	}
	if json.Unmarshal(body, &j) == nil && j.Type != "" {
		_, code, _ := strings.Cut(j.Type, "#")
		return code
	}
	if _, rest, ok := bytes.Cut(body, []byte("<Code>")); ok {
		code, _, _ := bytes.Cut(rest, []byte("</Code>"))
		return string(code)
	}
	return ""
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func refused(a *API, reason string) float64 {
	return value(a.metrics.refused.WithLabelValues(reason))
}

func timeouts(a *API, which string) float64 {
	return value(a.metrics.timeouts.WithLabelValues(which))
}

// A Content-Length over the route's limit is refused at once, before the
// body is sent; a chunked body is cut at the limit. The SQS endpoint
// answers in its own shapes.
func TestBodyLimits(t *testing.T) {
	s, _, base := newLimitedServer(t, HTTPConfig{})
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, method, path, header string
		length                     int64
		wantCode                   string
	}{
		{"send", "POST", "/v1/queues/q/messages", "", bodySend + 1, "request_too_large"},
		{"job", "POST", "/v1/jobs", "", bodyJob + 1, "request_too_large"},
		{"control", "POST", "/v1/queues", "", bodySmall + 1, "request_too_large"},
		{"heartbeat", "PUT", "/v1/nodes/n1/heartbeat", "", bodyHeartbeat + 1, "request_too_large"},
		{"no body expected", "GET", "/v1/queues", "", bodySmall + 1, "request_too_large"},
		{"sqs json", "POST", "/", "X-Amz-Target: AmazonSQS.SendMessage\r\nContent-Type: application/x-amz-json-1.0\r\n", 31 << 20, "RequestEntityTooLarge"},
		{"sqs query", "POST", "/", "Content-Type: " + form + "\r\n", 31 << 20, "RequestEntityTooLarge"},
		{"sqs query to a queue url", "POST", "/000000000000/q", "Content-Type: " + form + "\r\n", 9 << 20, "RequestEntityTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/content-length", func(t *testing.T) {
			before := refused(s, "body_too_large")
			// Only the headers are sent: the answer must not wait for the body.
			req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n", tt.method, tt.path, tt.header, tt.length)
			resp, body := rawRequest(t, base, req, 5*time.Second)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("got %d %s, want 413", resp.StatusCode, body)
			}
			if code := answerCode(t, tt.path, body); code != tt.wantCode {
				t.Errorf("code %q, want %q (%s)", code, tt.wantCode, body)
			}
			if got := refused(s, "body_too_large"); got != before+1 {
				t.Errorf("body_too_large refusals went from %v to %v, want one more", before, got)
			}
		})
		if tt.method != "POST" {
			continue
		}
		t.Run(tt.name+"/chunked", func(t *testing.T) {
			c := rawConn(t, base)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n", tt.method, tt.path, tt.header)
			go func() { // the server may stop reading at any point
				chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("a", 64<<10))
				for range (tt.length >> 16) + 2 {
					if _, err := io.WriteString(c, chunk); err != nil {
						return
					}
				}
				io.WriteString(c, "0\r\n\r\n")
			}()
			resp, body := readResponse(t, bufio.NewReader(c))
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("got %d %s, want 413", resp.StatusCode, body)
			}
			if code := answerCode(t, tt.path, body); code != tt.wantCode {
				t.Errorf("code %q, want %q (%s)", code, tt.wantCode, body)
			}
		})
	}
}

func answerCode(t testing.TB, path string, body []byte) string {
	if code := sqsCode(body); code != "" && !strings.HasPrefix(path, "/v1/") {
		return code
	}
	return errorCode(t, body)
}

// Ten messages of a queue's default largest size fit in a send even when
// their JSON escapes every character (six bytes each).
func TestSendLimitTakesTenEscapedMessages(t *testing.T) {
	_, _, base := newLimitedServer(t, HTTPConfig{})
	body := strings.Repeat("<", 256<<10)
	msgs := make([]api.SendMessage, 10)
	for i := range msgs {
		msgs[i].Body = body
	}
	b, err := json.Marshal(api.SendRequest{Messages: msgs}) // escapes < as \u003c
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 15<<20 {
		t.Fatalf("the request is %d bytes, want the worst case of over 15 MiB", len(b))
	}
	resp, err := http.Post(base+"/v1/queues/q/messages", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("send of %d bytes: got %d %s, want 200 with ten ids", len(b), resp.StatusCode, out)
	}
}

// Long polls, blocking queries and the event stream wait past the read and
// write timeouts, which would otherwise cancel them (the background read
// net/http does after the body) or fail their answer.
func TestLongPollsOutliveTimeouts(t *testing.T) {
	_, cl, base := newLimitedServer(t, HTTPConfig{ReadTimeout: time.Second, WriteTimeout: time.Second, ReadHeaderTimeout: time.Second})
	const wait = 3 * time.Second
	atLeast := func(t *testing.T, start time.Time) {
		if d := time.Since(start); d < wait-100*time.Millisecond {
			t.Errorf("answered after %v, want a wait of %v", d, wait)
		}
	}
	t.Run("queue receive", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		d := specs.Duration(wait)
		msgs, err := cl.Receive(context.Background(), "q", api.ReceiveRequest{Wait: &d})
		if err != nil || len(msgs) != 0 {
			t.Fatalf("receive: %v, %d messages; want none after the wait", err, len(msgs))
		}
		atLeast(t, start)
	})
	t.Run("sqs receive", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader(`{"QueueUrl":"`+base+`/000000000000/q","WaitTimeSeconds":3}`))
		req.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d %s, want 200", resp.StatusCode, b)
		}
		atLeast(t, start)
	})
	t.Run("blocking query", func(t *testing.T) {
		t.Parallel()
		_, index, err := cl.Jobs(context.Background(), api.QueryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := http.Get(fmt.Sprintf("%s/v1/jobs?index=%d&wait=3s", base, max(index, 1)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d %s, want 200", resp.StatusCode, b)
		}
		atLeast(t, start)
	})
	t.Run("event stream", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Get(base + "/v1/events?topic=Node")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		time.Sleep(wait) // past both timeouts, with nothing to send
		if _, err := cl.RegisterNode(context.Background(), api.RegisterNodeRequest{ID: "n1", Name: "n1", OS: "linux", Arch: "amd64", CPU: 1000, Memory: 1024}); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("the stream ended before the node's event")
				}
				if strings.Contains(l, `"n1"`) {
					return
				}
			case <-timeout:
				t.Fatal("no event for the node")
			}
		}
	})
}

// Slow clients are cut by the timeouts: a body that does not arrive gets
// 408, headers that do not arrive and idle keep-alive connections are
// closed. Each is counted.
func TestTimeouts(t *testing.T) {
	s, _, base := newLimitedServer(t, HTTPConfig{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, IdleTimeout: 500 * time.Millisecond})
	t.Run("slow body", func(t *testing.T) {
		resp, body := rawRequest(t, base, "POST /v1/queues/q/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"body\":", 5*time.Second)
		if resp.StatusCode != http.StatusRequestTimeout || errorCode(t, body) != "request_timeout" {
			t.Fatalf("got %d %s, want 408 request_timeout", resp.StatusCode, body)
		}
		waitFor(t, time.Second, func() error { return atLeastOne(timeouts(s, "read"), "read timeouts") })
	})
	t.Run("slow headers", func(t *testing.T) {
		c := rawConn(t, base)
		io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("read %d bytes, want the connection closed", n)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the connection is still open after 5s")
		}
		waitFor(t, time.Second, func() error { return atLeastOne(timeouts(s, "header"), "header timeouts") })
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := rawConn(t, base)
		io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		if resp, body := readResponse(t, br); resp.StatusCode != http.StatusOK {
			t.Fatalf("health: %d %s", resp.StatusCode, body)
		}
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after the answer: %v, want the idle connection closed", err)
		}
		waitFor(t, time.Second, func() error { return atLeastOne(timeouts(s, "idle"), "idle timeouts") })
	})
	t.Run("headers over the limit", func(t *testing.T) {
		resp, body := rawRequest(t, base, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 80<<10)+"\r\n\r\n", 5*time.Second)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("got %d %s, want 431", resp.StatusCode, body)
		}
		if got := refused(s, "header_too_large"); got != 1 {
			t.Errorf("header_too_large refusals: %v, want 1", got)
		}
	})
}

func atLeastOne(v float64, what string) error {
	if v < 1 {
		return fmt.Errorf("%s: %v, want at least 1", what, v)
	}
	return nil
}

// At the connection limit a new connection closes the longest idle one;
// with none idle, it waits and is then closed.
func TestConnectionLimit(t *testing.T) {
	t.Run("evicts the idlest", func(t *testing.T) {
		s, _, base := newLimitedServer(t, HTTPConfig{MaxConns: 2})
		keepAlive := func() (net.Conn, *bufio.Reader) {
			c := rawConn(t, base)
			io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			if resp, body := readResponse(t, br); resp.StatusCode != http.StatusOK {
				t.Fatalf("health: %d %s", resp.StatusCode, body)
			}
			return c, br
		}
		waitFor(t, 2*time.Second, func() error {
			if n := value(s.metrics.conns); n != 0 {
				return fmt.Errorf("%v connections open, want 0", n)
			}
			return nil
		})
		_, first := keepAlive()
		time.Sleep(100 * time.Millisecond)
		keepAlive()
		time.Sleep(minIdleToEvict)
		keepAlive() // over the limit
		if _, err := first.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the first connection: %v, want it closed", err)
		}
		if got := value(s.metrics.evicted); got != 1 {
			t.Errorf("evicted %v, want 1", got)
		}
	})
	t.Run("refuses when all are busy", func(t *testing.T) {
		s, _, base := newLimitedServer(t, HTTPConfig{MaxConns: 1, MaxConnsWait: 200 * time.Millisecond})
		waitFor(t, 2*time.Second, func() error {
			if n := value(s.metrics.conns); n != 0 {
				return fmt.Errorf("%v connections open, want 0", n)
			}
			return nil
		})
		busy := rawConn(t, base)
		fmt.Fprintf(busy, "POST /v1/queues/q/receive HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"wait\":\"2s\"}")
		waitFor(t, 2*time.Second, func() error {
			if n := value(s.metrics.conns); n != 1 {
				return fmt.Errorf("%v connections open, want 1", n)
			}
			return nil
		})
		c := rawConn(t, base)
		io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %d bytes (%v), want the connection closed", n, err)
		}
		if got := refused(s, "connection_limit"); got != 1 {
			t.Errorf("connection_limit refusals: %v, want 1", got)
		}
		busy.SetReadDeadline(time.Now().Add(5 * time.Second))
		if resp, body := readResponse(t, bufio.NewReader(busy)); resp.StatusCode != http.StatusOK {
			t.Fatalf("the long poll: %d %s", resp.StatusCode, body)
		}
	})
}

// Message text outside SQS's characters, or that encoding/json would
// alter, is refused by both APIs; nothing of it is stored.
func TestInvalidMessageContents(t *testing.T) {
	_, cl, base := newLimitedServer(t, HTTPConfig{})
	const form = "application/x-www-form-urlencoded"
	sqsURL := base + "/000000000000/q"
	tests := []struct {
		name, path, contentType, target, body string
		want                                  string
	}{
		{"raw invalid utf-8", "/v1/queues/q/messages", "application/json", "", "{\"body\":\"a\xffb\"}", "invalid_message_contents"},
		{"escaped control", "/v1/queues/q/messages", "application/json", "", `{"body":"a\u0001b"}`, "invalid_message_contents"},
		{"raw control", "/v1/queues/q/messages", "application/json", "", "{\"body\":\"a\x01b\"}", "invalid_json"},
		{"lone surrogate", "/v1/queues/q/messages", "application/json", "", `{"body":"x\ud800"}`, "invalid_message_contents"},
		{"attribute value", "/v1/queues/q/messages", "application/json", "", `{"body":"ok","attributes":{"k":"\ufffe"}}`, "invalid_message_contents"},
		{"attribute name", "/v1/queues/q/messages", "application/json", "", `{"body":"ok","attributes":{"\u0007":"v"}}`, "invalid_message_contents"},
		{"native batch entry", "/v1/queues/q/messages", "application/json", "", `{"messages":[{"body":"in a batch"},{"body":"\u0000"}]}`, "invalid_message_contents"},
		{"invalid utf-8 elsewhere", "/v1/queues", "application/json", "", "{\"name\":\"\xff\"}", "invalid_json"},
		{"sqs json raw", "/", "application/x-amz-json-1.0", "SendMessage", "{\"QueueUrl\":\"" + sqsURL + "\",\"MessageBody\":\"a\xffb\"}", "InvalidMessageContents"},
		{"sqs json surrogate", "/", "application/x-amz-json-1.0", "SendMessage", `{"QueueUrl":"` + sqsURL + `","MessageBody":"\udc00"}`, "InvalidMessageContents"},
		{"sqs json batch, raw", "/", "application/x-amz-json-1.0", "SendMessageBatch", "{\"QueueUrl\":\"" + sqsURL + "\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":\"\xc0\xaf\"}]}", "InvalidMessageContents"},
		{"sqs json batch entry", "/", "application/x-amz-json-1.0", "SendMessageBatch", `{"QueueUrl":"` + sqsURL + `","Entries":[{"Id":"a","MessageBody":"\u0001"}]}`, "InvalidMessageContents"},
		{"sqs query", "/", form, "", "Action=SendMessage&QueueUrl=" + sqsURL + "&MessageBody=a%FFb", "InvalidMessageContents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", "AmazonSQS."+tt.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.HasSuffix(tt.name, "batch entry") {
				// A batch fails its entries one by one; text that cannot
				// be decoded as sent fails the whole request.
				if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(tt.want)) {
					t.Fatalf("got %d %s, want 200 with a failed entry %s", resp.StatusCode, b, tt.want)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", resp.StatusCode, b)
			}
			if code := answerCode(t, tt.path, b); code != tt.want {
				t.Errorf("code %q, want %q (%s)", code, tt.want, b)
			}
		})
	}
	// Valid text outside ASCII goes through as sent, escaped or not.
	for _, body := range []string{`{"body":"héllo \ud83d\ude00"}`, `{"body":"tab\tnew\nline ✓"}`} {
		if status, b := call(t, base, "POST", "/v1/queues/q/messages", body); status != http.StatusOK {
			t.Fatalf("send %s: %d %s", body, status, b)
		}
	}
	msgs, err := cl.Receive(context.Background(), "q", api.ReceiveRequest{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range msgs {
		got[m.Body] = true
	}
	if len(msgs) != 3 || !got["héllo 😀"] || !got["tab\tnew\nline ✓"] || !got["in a batch"] {
		t.Errorf("the queue holds %+v, want exactly the three valid messages", msgs)
	}
}

// Request targets no route has are refused with 4xx and a code, not
// redirected to their cleaned form.
func TestPathTricks(t *testing.T) {
	s, _, base := newLimitedServer(t, HTTPConfig{})
	tests := []struct {
		target     string
		wantStatus int
		wantCode   string
	}{
		{"/v1/queues/../jobs", 400, "invalid_path"},
		{"/v1/queues/%2e%2e/jobs", 400, "invalid_path"},
		{"/v1/queues/%2E%2E", 400, "invalid_path"},
		{"/./v1/health", 400, "invalid_path"},
		{"/v1//queues", 400, "invalid_path"},
		{"/v1/queues/a%00b", 400, "invalid_path"},
		{"/v1/queues/a%0ab", 400, "invalid_path"},
		{"/v1/queues/a%2F..%2Fb", 400, "invalid_path"},
		{"/v1/queues/" + strings.Repeat("a", maxRequestURI), 414, "uri_too_long"},
		{"/v1/nothing", 404, "route_not_found"},
		{"/v1/queues/q/", 404, "route_not_found"},
	}
	for _, tt := range tests {
		name := tt.target
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		t.Run(name, func(t *testing.T) {
			resp, body := rawRequest(t, base, "GET "+tt.target+" HTTP/1.1\r\nHost: x\r\n\r\n", 5*time.Second)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if code := errorCode(t, body); code != tt.wantCode {
				t.Errorf("code %q, want %q", code, tt.wantCode)
			}
		})
	}
	if got := refused(s, "invalid_path"); got != 8 {
		t.Errorf("invalid_path refusals: %v, want 8", got)
	}
	// A raw NUL in the request line never reaches a handler.
	resp, _ := rawRequest(t, base, "GET /v1/he\x00alth HTTP/1.1\r\nHost: x\r\n\r\n", 5*time.Second)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("raw NUL: got %d, want 400", resp.StatusCode)
	}
}

// Large bodies share a memory budget: one that does not fit waits, and is
// refused with server_busy if nothing finishes in time. Small bodies are
// not counted.
func TestBodyMemoryGate(t *testing.T) {
	g := &bodyGate{memory: semaphore.NewWeighted(1 << 20), wait: 100 * time.Millisecond, m: newHTTPMetrics(prometheus.NewRegistry())}
	send := limits{body: bodySend}
	admit := func(length int64, l limits) (func(), error) {
		r := httptest.NewRequest("POST", "/", strings.NewReader("x"))
		r.ContentLength = length
		return g.admit(httptest.NewRecorder(), r, l)
	}
	first, err := admit(1<<20, send)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := admit(512<<10, send); !errors.Is(err, errdefs.ErrUnavailable) || errdefs.Code(err, "") != "server_busy" {
		t.Fatalf("a body over the budget: %v, want server_busy", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("refused after %v, want a wait of 100ms", d)
	}
	if _, err := admit(bodySmall, send); err != nil {
		t.Errorf("a small body: %v, want it admitted outside the budget", err)
	}
	if _, err := admit(-1, smallLimits); err != nil {
		t.Errorf("a chunked body on a small route: %v, want it admitted outside the budget", err)
	}
	first()
	if release, err := admit(512<<10, send); err != nil {
		t.Errorf("after the first finished: %v, want it admitted", err)
	} else {
		release()
	}
	if got := value(g.m.refused.WithLabelValues("body_memory")); got != 1 {
		t.Errorf("body_memory refusals: %v, want 1", got)
	}
}
