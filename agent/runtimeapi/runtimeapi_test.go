package runtimeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/imagetest"
)

const arn = "arn:aws:lambda:us-east-1:000000000000:function:echo"

// startRuntime runs the aws-lambda-go function examples/functions/echo
// against the runtime API at hs, as a Lambda environment runs its
// runtime, and returns a function that waits for it to exit.
func startRuntime(t testing.TB, hs *httptest.Server) (wait func() error) {
	t.Helper()
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/examples/functions/echo")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(hs.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=echo", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("runtime output:\n%s", out.String())
		}
	})
	return func() error {
		select {
		case err := <-exited:
			exited <- err
			return err
		case <-time.After(20 * time.Second):
			return fmt.Errorf("the runtime did not exit")
		}
	}
}

func invoke(t *testing.T, s *Server, id, payload string, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	r, err := s.Invoke(ctx, Invocation{RequestID: id, Payload: []byte(payload), Deadline: dl, TraceID: "Root=1-abc"})
	if err != nil {
		t.Fatalf("invoke %s: %v", id, err)
	}
	return r
}

// An image's runtime built with aws-lambda-go runs unchanged against the
// server: it takes events one after another with their request id,
// deadline and ARN, answers them, and reports its handler's errors.
func TestAWSLambdaGoRuntime(t *testing.T) {
	s := New(Config{FunctionARN: arn})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(s.Close)
	wait := startRuntime(t, hs)
	for i := range 3 {
		id := fmt.Sprint("req-", i)
		r := invoke(t, s, id, fmt.Sprintf(`{"n":%d}`, i), 20*time.Second)
		var got struct {
			Event       map[string]int `json:"event"`
			RequestID   string         `json:"request_id"`
			FunctionARN string         `json:"function_arn"`
			DeadlineMs  int64          `json:"deadline_ms"`
		}
		if r.Error != nil || json.Unmarshal(r.Payload, &got) != nil || got.Event["n"] != i || got.RequestID != id ||
			got.FunctionARN != arn || got.DeadlineMs < time.Now().UnixMilli() {
			t.Fatalf("invocation %d: %s, %v", i, r.Payload, r.Error)
		}
	}
	r := invoke(t, s, "req-fail", `{"fail":"no such order"}`, 20*time.Second)
	if r.Error == nil || r.Error.Message != "no such order" || r.Error.Type == "" || !json.Valid(r.Error.Body) {
		t.Fatalf("a failing handler: %s, %+v", r.Payload, r.Error)
	}
	r = invoke(t, s, "req-big", fmt.Sprintf(`{"big":%d}`, MaxResponse+10), 20*time.Second)
	if r.Error == nil || r.Error.Type != "Function.ResponseSizeTooLarge" {
		t.Fatalf("a response over 6 MiB: %d bytes, %+v", len(r.Payload), r.Error)
	}
	// aws-lambda-go's runtime exits when its response is refused, as on
	// Lambda; the environment's next runtime takes the next event.
	if err := wait(); err == nil {
		t.Fatalf("the runtime went on after its response was refused")
	}
	startRuntime(t, hs)
	if r := invoke(t, s, "req-after", `{}`, 20*time.Second); r.Error != nil {
		t.Fatalf("the restarted runtime: %+v", r.Error)
	}
	// A timed-out invocation ends Invoke with the context's error.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Invoke(ctx, Invocation{RequestID: "slow", Payload: []byte(`{"sleep_ms":2000}`), Deadline: time.Now().Add(100 * time.Millisecond)}); err != context.DeadlineExceeded {
		t.Fatalf("a timed-out invocation: %v", err)
	}
}

// Calls out of order are refused as the runtime interface emulator
// refuses them.
func TestOutOfOrderCalls(t *testing.T) {
	s := New(Config{FunctionARN: arn})
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(hs.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct{ ErrorType string }
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.ErrorType
	}
	if code, typ := post("/2018-06-01/runtime/invocation/nope/response", "{}"); code != 400 || typ != "InvalidRequestID" {
		t.Errorf("a response with no invocation in progress: %d %s", code, typ)
	}
	done := make(chan Result, 1)
	go func() {
		r, _ := s.Invoke(context.Background(), Invocation{RequestID: "r1", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
		done <- r
	}()
	resp, err := http.Get(hs.URL + "/2018-06-01/runtime/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id"); id != "r1" || resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn") != arn ||
		resp.Header.Get("Lambda-Runtime-Deadline-Ms") == "" {
		t.Fatalf("next: headers %v", resp.Header)
	}
	if code, typ := post("/2018-06-01/runtime/invocation/r2/response", "{}"); code != 400 || typ != "InvalidRequestID" {
		t.Errorf("a response for another request id: %d %s", code, typ)
	}
	if code, typ := post("/2018-06-01/runtime/init/error", `{"errorType":"x","errorMessage":"y"}`); code != 403 || typ != "InvalidStateTransition" {
		t.Errorf("an init error after the first next: %d %s", code, typ)
	}
	if code, _ := post("/2018-06-01/runtime/invocation/r1/response", `"ok"`); code != 202 {
		t.Errorf("the response: %d", code)
	}
	if r := <-done; string(r.Payload) != `"ok"` {
		t.Errorf("Invoke got %+v", r)
	}
	if code, typ := post("/2018-06-01/runtime/invocation/r1/response", `"again"`); code != 400 || typ != "InvalidRequestID" {
		t.Errorf("a second response: %d %s", code, typ)
	}
}

// A runtime that fails to initialize reports it, and the environment's
// invocations fail with Runtime.InitError.
func TestInitError(t *testing.T) {
	s := New(Config{FunctionARN: arn})
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	done := make(chan Result, 1)
	go func() {
		r, _ := s.Invoke(context.Background(), Invocation{RequestID: "r1", Payload: []byte(`{}`), Deadline: time.Now().Add(time.Minute)})
		done <- r
	}()
	for s.queuedForTest() == nil {
		time.Sleep(time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/2018-06-01/runtime/init/error", strings.NewReader(`{"errorMessage":"cannot load handler","errorType":"Runtime.HandlerNotFound"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("init error: %v %v", resp, err)
	}
	resp.Body.Close()
	if r := <-done; r.Error == nil || r.Error.Type != "Runtime.InitError" || r.Error.Message != "cannot load handler" {
		t.Fatalf("the waiting invocation: %+v", r)
	}
	if _, err := s.Invoke(context.Background(), Invocation{RequestID: "r2"}); err != ErrInit {
		t.Fatalf("after the init error: %v", err)
	}
	if fe := s.InitError(); fe == nil || fe.Type != "Runtime.HandlerNotFound" {
		t.Fatalf("InitError %+v", fe)
	}
}
