package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/internal/ocibuild"
	"github.com/docketd/docket/scheduler/api"
)

// echoFunctionImage builds examples/functions/echo — an aws-lambda-go
// function, its module through the Go module proxy — into an image as
// Lambda users build theirs: the binary as the entrypoint.
func echoFunctionImage(t testing.TB) string {
	t.Helper()
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/examples/functions/echo")
	return imagetest.Archive(t, "docket.test/echo-fn:latest", map[string]string{"/var/task/bootstrap": bin}, "/var/task/bootstrap")
}

// freezerState reads the freezer state of container cid's cgroup:
// "FROZEN" or "THAWED" (cgroup v1's freezer.state; v2's cgroup.freeze
// as 1 or 0 is given the same names).
func freezerState(t testing.TB, cid string) string {
	t.Helper()
	if m, _ := filepath.Glob("/sys/fs/cgroup/freezer/*/" + cid + "/freezer.state"); len(m) > 0 {
		b, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, pattern := range []string{"/sys/fs/cgroup/*/" + cid + "/cgroup.freeze", "/sys/fs/cgroup/unified/*/" + cid + "/cgroup.freeze"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			b, err := os.ReadFile(m[0])
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(b)) == "1" {
				return "FROZEN"
			}
			return "THAWED"
		}
	}
	t.Fatalf("no freezer cgroup for container %s", cid)
	return ""
}

// TestE2EFunctionAWSLambdaGo runs an aws-lambda-go image unchanged on
// real containerd: synchronous invocations in a warm environment, paused
// (the cgroup freezer) while idle and resumed for the next; a timeout;
// an SQS-triggered batch with partial failures, whose failed record is
// dead-lettered after max_receives; an asynchronous invocation; and the
// CLI's fn commands.
func TestE2EFunctionAWSLambdaGo(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("AKIDLAMBDA lambda/secret+key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startE2E(t, "--aws-keys", keys)
	image := echoFunctionImage(t)
	e.run(strings.ReplaceAll(`
queue "orders" {
  max_receives = 2
  dead_letter  = "orders-dlq"
}
queue "orders-dlq" {
}
job "echo" {
  type  = "function"
  queue = "orders"
  function {
    timeout = "2s"
    event_source {
      batch_size                 = 10
      batching_window            = "300ms"
      report_batch_item_failures = true
    }
  }
  task "fn" {
    image = "oci-archive:ECHO"
    retry {
      delay = "1s"
    }
  }
}
`, "ECHO", image))
	ctx := context.Background()
	invoke := func(payload string) *api.InvokeResponse {
		t.Helper()
		out, err := e.cl.Invoke(ctx, "echo", api.InvokeRequest{Payload: []byte(payload)})
		if err != nil {
			t.Fatalf("invoke %s: %v", payload, err)
		}
		return out
	}
	// Cold, then warm.
	coldStart := time.Now()
	out := invoke(`{"hello":"lambda"}`)
	cold := time.Since(coldStart)
	var got struct {
		Event      map[string]string `json:"event"`
		RequestID  string            `json:"request_id"`
		ARN        string            `json:"function_arn"`
		DeadlineMS int64             `json:"deadline_ms"`
	}
	if err := json.Unmarshal(out.Payload, &got); err != nil || out.FunctionError != "" {
		t.Fatalf("invoke: %+v %s (%v)", out, out.Payload, err)
	}
	if got.Event["hello"] != "lambda" || got.RequestID != out.RequestID || got.ARN != "arn:aws:lambda:us-east-1:000000000000:function:echo" ||
		time.Until(time.UnixMilli(got.DeadlineMS)) > 2*time.Second {
		t.Errorf("the function saw %+v", got)
	}
	for i := range 10 {
		if out := invoke(fmt.Sprintf(`{"n":"%d"}`, i)); !strings.Contains(string(out.Payload), fmt.Sprintf(`"n":"%d"`, i)) {
			t.Fatalf("warm invocation %d: %s", i, out.Payload)
		}
	}
	fn, err := e.cl.Function(ctx, "echo")
	if err != nil || len(fn.Environments) != 1 {
		t.Fatalf("function: %+v, %v", fn, err)
	}
	cid := fn.Environments[0].Alloc + "-fn"
	// Idle, the environment is frozen; an invocation thaws it.
	e.waitFor(10*time.Second, func() error {
		if s := freezerState(t, cid); s != "FROZEN" {
			return fmt.Errorf("freezer state %s", s)
		}
		return nil
	})
	if out := invoke(`{"after":"pause"}`); !strings.Contains(string(out.Payload), `"after":"pause"`) {
		t.Fatalf("after the pause: %s", out.Payload)
	}
	if s := freezerState(t, cid); s != "THAWED" {
		t.Errorf("freezer state %s right after an invocation, want THAWED", s)
	}
	out = invoke(`{"fail":"bad input"}`)
	if out.FunctionError != "Unhandled" || !strings.Contains(string(out.Payload), `"errorMessage":"bad input"`) {
		t.Errorf("function error: %+v %s", out, out.Payload)
	}
	out = invoke(`{"sleep_ms":5000}`)
	if out.FunctionError == "" || !strings.Contains(string(out.Payload), "Task timed out after 2.00 seconds") {
		t.Errorf("timeout: %+v %s", out, out.Payload)
	}
	if out := invoke(`{"after":"timeout"}`); !strings.Contains(string(out.Payload), `"after":"timeout"`) {
		t.Fatalf("after the timeout: %s", out.Payload)
	}

	// SQS: ten messages, one failing; nine deleted, one dead-lettered.
	var bodies []string
	for i := range 10 {
		if i == 3 {
			bodies = append(bodies, "please fail")
			continue
		}
		bodies = append(bodies, fmt.Sprintf("order %d", i))
	}
	e.send("orders", bodies...)
	e.waitFor(30*time.Second, func() error {
		q, dlq := e.queue("orders"), e.queue("orders-dlq")
		if q.Visible+q.InFlight+q.Delayed != 0 || dlq.Visible != 1 || q.Deleted != 9 {
			return fmt.Errorf("orders %+v, dlq %+v", q, dlq)
		}
		return nil
	})
	msgs, err := e.cl.Receive(ctx, "orders-dlq", api.ReceiveRequest{Max: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Body != "please fail" {
		t.Errorf("dead letters: %+v, %v", msgs, err)
	}

	// An event: 202 now, run soon.
	async, err := e.cl.Invoke(ctx, "echo", api.InvokeRequest{Payload: []byte(`{"async":"yes"}`), Type: api.InvokeAsync})
	if err != nil || async.StatusCode != 202 {
		t.Fatalf("async: %+v, %v", async, err)
	}
	e.waitFor(20*time.Second, func() error {
		fn, err := e.cl.Function(ctx, "echo")
		if err != nil || fn.Queued != 0 {
			return fmt.Errorf("function %+v, %v", fn, err)
		}
		return nil
	})

	// A topic's subscribed function gets Lambda's SNS event.
	invocations := func() int {
		fn, err := e.cl.Function(ctx, "echo")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, env := range fn.Environments {
			n += env.Invocations
		}
		return n
	}
	if _, err := e.cl.CreateTopic(ctx, api.TopicSettings{Name: "news"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.Subscribe(ctx, "news", api.SubscribeRequest{Protocol: "lambda", Endpoint: "arn:aws:lambda:us-east-1:000000000000:function:echo"}); err != nil {
		t.Fatal(err)
	}
	before := invocations()
	if _, err := e.cl.Publish(ctx, "news", api.PublishRequest{Message: "extra, extra"}); err != nil {
		t.Fatal(err)
	}
	e.waitFor(20*time.Second, func() error {
		if n := invocations(); n != before+1 {
			return fmt.Errorf("%d invocations, want %d", n, before+1)
		}
		return nil
	})

	// Lambda's API: the AWS CLI and aws-sdk-go-v2, signed.
	lambdaClients(t, e.url(), "AKIDLAMBDA", "lambda/secret+key")

	// The CLI.
	run := cliRunner(t, []string{"DOCKET_ADDR=" + e.url(), "DOCKET_TOKEN=" + e.token})
	if out := run(0, "fn", "invoke", "echo", `{"from":"cli"}`); !strings.Contains(out, `"from":"cli"`) {
		t.Errorf("docket fn invoke: %s", out)
	}
	if out := run(1, "fn", "invoke", "echo", `{"fail":"cli failure"}`); !strings.Contains(out, "cli failure") {
		t.Errorf("docket fn invoke of a failure: %s", out)
	}
	if out := run(0, "fn", "invoke", "--type", "Event", "echo"); !strings.Contains(out, "Queued") {
		t.Errorf("docket fn invoke --type Event: %s", out)
	}
	if out := run(0, "fn", "list"); !strings.Contains(out, "echo") {
		t.Errorf("docket fn list: %s", out)
	}
	if out := run(0, "fn", "status", "echo"); !strings.Contains(out, "arn:aws:lambda:") || !strings.Contains(out, "idle") && !strings.Contains(out, "busy") {
		t.Errorf("docket fn status: %s", out)
	}
	run(0, "fn", "logs", "echo")
	m := scrapeWith(t, e.url(), e.token)
	for _, want := range []string{`docket_function_invocations_total{function="echo",outcome="success"}`,
		`docket_function_starts_total{function="echo",start="cold"}`, `docket_function_event_source_messages_total{function="echo",outcome="dead-lettered"} 1`,
		`docket_topic_deliveries_total{outcome="ok",protocol="lambda"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "docket_function"))
		}
	}
	am := e.agentMetrics()
	if !strings.Contains(am, "docket_agent_function_pauses_total") {
		t.Errorf("agent metrics lack pauses:\n%s", grepLines(am, "docket_agent_function"))
	}
	// The figures, for the record: resume of a paused environment, the
	// runtime's init (cold start) and the container's start.
	mean := func(m, name string) string {
		var sum, count float64
		fmt.Sscan(metricValue(m, name+"_sum"), &sum)
		fmt.Sscan(metricValue(m, name+"_count"), &count)
		if count == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f ms over %.0f", sum/count*1000, count)
	}
	t.Logf("cold invoke %.1f ms (from zero environments: scale, place, start, init, run); resume %s; init %s; container start %s",
		cold.Seconds()*1000, mean(am, "docket_agent_function_resume_duration_seconds"),
		mean(m, `docket_function_init_duration_seconds`), mean(am, "docket_agent_task_start_duration_seconds"))
}

// lambdaClients invokes function echo through Lambda's API at endpoint
// with the AWS CLI (`aws lambda invoke`) and aws-sdk-go-v2's Lambda
// client, as their users do.
func lambdaClients(t *testing.T, endpoint, keyID, secret string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.json")
	cli := exec.Command(awsCLI(t), "lambda", "invoke", "--endpoint-url", endpoint, "--function-name", "echo",
		"--cli-binary-format", "raw-in-base64-out", "--payload", `{"via":"aws-cli"}`, out)
	cli.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	stdout, err := cli.CombinedOutput()
	body, _ := os.ReadFile(out)
	if err != nil || !strings.Contains(string(stdout), `"StatusCode": 200`) || !strings.Contains(string(body), `"via":"aws-cli"`) {
		t.Errorf("aws lambda invoke: %v\n%s\n%s", err, stdout, body)
	}
	cli = exec.Command(awsCLI(t), "lambda", "invoke", "--endpoint-url", endpoint, "--function-name", "echo",
		"--cli-binary-format", "raw-in-base64-out", "--payload", `{"fail":"from the cli"}`, out)
	cli.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	stdout, err = cli.CombinedOutput()
	if err != nil || !strings.Contains(string(stdout), `"FunctionError": "Unhandled"`) {
		t.Errorf("aws lambda invoke of a failure: %v\n%s", err, stdout)
	}

	ctx := context.Background()
	sdk := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: awssdk.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
	res, err := sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: awssdk.String("arn:aws:lambda:us-east-1:000000000000:function:echo"),
		Payload: []byte(`{"via":"sdk"}`)})
	if err != nil || res.StatusCode != 200 || res.FunctionError != nil || !strings.Contains(string(res.Payload), `"via":"sdk"`) ||
		awssdk.ToString(res.ExecutedVersion) != "$LATEST" {
		t.Errorf("sdk invoke: %+v, %v", res, err)
	}
	res, err = sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: awssdk.String("echo"), InvocationType: lambdatypes.InvocationTypeEvent,
		Payload: []byte(`{"via":"sdk-event"}`)})
	if err != nil || res.StatusCode != 202 {
		t.Errorf("sdk event invoke: %+v, %v", res, err)
	}
	_, err = sdk.Invoke(ctx, &lambda.InvokeInput{FunctionName: awssdk.String("nope")})
	var nf *lambdatypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("sdk invoke of an unknown function: %v, want ResourceNotFoundException", err)
	}
	list, err := sdk.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 || awssdk.ToString(list.Functions[0].FunctionName) != "echo" {
		t.Errorf("sdk list functions: %+v, %v", list, err)
	}
	bad := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: awssdk.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(keyID, "wrong", "")})
	if _, err := bad.Invoke(ctx, &lambda.InvokeInput{FunctionName: awssdk.String("echo")}); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("invoke with a wrong secret: %v, want InvalidSignatureException", err)
	}
}

// TestE2EFunctionAgentKilled: the agent is killed (SIGKILL) while warm
// environments take a queue's batches; the restarted agent reattaches or
// replaces them, every message is processed and deleted once the batch
// carrying it succeeded, none is lost, and synchronous invocations work
// again.
func TestE2EFunctionAgentKilled(t *testing.T) {
	e := startE2E(t)
	e.run(strings.ReplaceAll(`
queue "work" {
  visibility_timeout = "5s"
}
job "echo" {
  type  = "function"
  queue = "work"
  function {
    timeout = "3s"
    concurrency {
      max = 2
    }
    warm {
      min = 2
    }
    event_source {
      batch_size = 5
    }
  }
  task "fn" {
    image = "oci-archive:ECHO"
    retry {
      delay = "1s"
    }
  }
}
`, "ECHO", echoFunctionImage(t)))
	ctx := context.Background()
	e.waitFor(30*time.Second, func() error {
		_, err := e.cl.Invoke(ctx, "echo", api.InvokeRequest{Payload: []byte(`{}`)})
		return err
	})
	var bodies []string
	for i := range 200 {
		bodies = append(bodies, fmt.Sprintf(`{"sleep_ms":20,"n":%d}`, i))
	}
	e.send("work", bodies...)
	e.waitFor(30*time.Second, func() error {
		if q := e.queue("work"); q.Deleted < 20 {
			return fmt.Errorf("%d deleted", q.Deleted)
		}
		return nil
	})
	e.killAgent()
	e.startAgent()
	e.waitFor(60*time.Second, func() error {
		q := e.queue("work")
		if q.Deleted != 200 || q.Visible+q.InFlight+q.Delayed != 0 {
			return fmt.Errorf("work %+v", q)
		}
		return nil
	})
	e.waitFor(30*time.Second, func() error {
		out, err := e.cl.Invoke(ctx, "echo", api.InvokeRequest{Payload: []byte(`{"after":"restart"}`)})
		if err != nil {
			return err
		}
		if !strings.Contains(string(out.Payload), `"after":"restart"`) {
			return fmt.Errorf("answer %s", out.Payload)
		}
		return nil
	})
}

// bootstrapScript is AWS's tutorial custom runtime, in sh with curl: it
// polls for the next event, reads its request id from the headers and
// posts the handler's answer (an echo; {"fail":...} posts an error).
const bootstrapScript = `#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=/tmp/headers
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  REQUEST_ID=$(busybox grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | busybox tr -d '[:space:]' | busybox cut -d: -f2)
  case "$EVENT" in
    *'"fail"'*)
      curl -sS -X POST "$API/invocation/$REQUEST_ID/error" -d '{"errorMessage":"shell failure","errorType":"ShellError"}' > /dev/null ;;
    *)
      curl -sS -X POST "$API/invocation/$REQUEST_ID/response" -d "{\"shell\":$EVENT,\"handler\":\"$_HANDLER\",\"function\":\"$AWS_LAMBDA_FUNCTION_NAME\"}" > /dev/null ;;
  esac
done
`

// shellRuntimeImage builds an image of the tutorial's bootstrap: Debian's
// static busybox as /bin/sh, and the host's curl with the libraries it
// links.
func shellRuntimeImage(t testing.TB) string {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("busybox is not installed (Debian's busybox-static)")
		}
		t.Skip("busybox is not installed (Debian's busybox-static)")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	out, err := exec.Command("ldd", curl).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", curl, err)
	}
	img := ocibuild.Image{Name: "docket.test/shell-fn:latest", Entrypoint: []string{"/var/runtime/bootstrap"}, Files: []ocibuild.File{
		{Path: "/bin/sh", HostPath: busybox, Mode: 0o755},
		{Path: "/bin/busybox", HostPath: busybox, Mode: 0o755},
		{Path: "/usr/bin/curl", HostPath: curl, Mode: 0o755},
		{Path: "/var/runtime/bootstrap", Data: []byte(bootstrapScript), Mode: 0o755},
		{Path: "/tmp", Mode: os.ModeDir | 0o1777},
	}}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0] // the dynamic loader
		}
		if lib != "" {
			real, err := filepath.EvalSymlinks(lib)
			if err != nil {
				t.Fatal(err)
			}
			img.Files = append(img.Files, ocibuild.File{Path: lib, HostPath: real, Mode: 0o755})
		}
	}
	img.Env = []string{"PATH=/usr/bin:/bin"}
	return imagetest.WriteArchive(t, img)
}

// TestE2EFunctionShellRuntime runs AWS's tutorial custom runtime (a shell
// bootstrap with curl) unchanged: synchronous invocations, a function
// error, an SQS batch.
func TestE2EFunctionShellRuntime(t *testing.T) {
	e := startE2E(t)
	e.run(strings.ReplaceAll(`
queue "jobs" {
}
job "shell" {
  type  = "function"
  queue = "jobs"
  function {
    handler = "function.handler"
  }
  task "fn" {
    image = "oci-archive:SHELL"
  }
}
`, "SHELL", shellRuntimeImage(t)))
	ctx := context.Background()
	var out *api.InvokeResponse
	e.waitFor(30*time.Second, func() error {
		var err error
		out, err = e.cl.Invoke(ctx, "shell", api.InvokeRequest{Payload: []byte(`{"n":1}`)})
		return err
	})
	if out.FunctionError != "" || !strings.Contains(string(out.Payload), `"shell":{"n":1}`) ||
		!strings.Contains(string(out.Payload), `"handler":"function.handler"`) || !strings.Contains(string(out.Payload), `"function":"shell"`) {
		t.Fatalf("invoke: %+v %s", out, out.Payload)
	}
	for i := range 5 {
		out, err := e.cl.Invoke(ctx, "shell", api.InvokeRequest{Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil || !strings.Contains(string(out.Payload), fmt.Sprintf(`{"n":%d}`, i)) {
			t.Fatalf("invoke %d: %+v, %v", i, out, err)
		}
	}
	out, err := e.cl.Invoke(ctx, "shell", api.InvokeRequest{Payload: []byte(`{"fail":true}`)})
	if err != nil || out.FunctionError != "Unhandled" || !strings.Contains(string(out.Payload), "shell failure") {
		t.Errorf("failing invoke: %+v, %v", out, err)
	}
	e.send("jobs", "a", "b", "c")
	e.waitFor(30*time.Second, func() error {
		if q := e.queue("jobs"); q.Deleted != 3 {
			return fmt.Errorf("jobs %+v", q)
		}
		return nil
	})
}

// metricValue is the value of the first sample of name (with any labels)
// in an exposition.
func metricValue(exposition, name string) string {
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	return ""
}
