package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/internal/pki"
	"github.com/docketd/docket/scheduler/api"
)

// TestE2ETLS: a cluster made with docket tls speaks mutual TLS: the agent
// registers with its certificate, queue workers inside containers reach
// the SQS endpoint over HTTPS with the CA the agent mounts for them, the
// CLI and the AWS CLI work with the CA, and what lacks it is refused.
func TestE2ETLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	awscli := awsCLI(t)
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket")
	dir := t.TempDir()
	f := func(name string) string { return filepath.Join(dir, name) }
	docket := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) {
		t.Helper()
		if out, err := docket(nil, args...); err != nil {
			t.Fatalf("docket %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	refused := func(env []string, want string, args ...string) {
		t.Helper()
		out, err := docket(env, args...)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("docket %s: %v\n%s\nwant it refused with %q", strings.Join(args, " "), err, out, want)
		}
	}
	must("tls", "ca", "create", "--dir", dir)
	for _, role := range []string{"server", "agent", "cli"} {
		must("tls", "cert", "create", "--"+role, "--dir", dir)
	}
	refused(nil, "exists", "tls", "ca", "create", "--dir", dir)
	refused(nil, "give one of", "tls", "cert", "create", "--dir", dir)
	refused(nil, "the certificate of a server is needed", "server", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0",
		"--tls-cert", f("docket-agent.pem"), "--tls-key", f("docket-agent-key.pem"), "--tls-ca", f("docket-ca.pem"))
	refused(nil, "TLS needs all of", "server", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--tls-cert", f("docket-server.pem"))
	refused(nil, "the certificate of an agent is needed", "agent", "--data-dir", t.TempDir(),
		"--tls-cert", f("docket-cli.pem"), "--tls-key", f("docket-cli-key.pem"), "--tls-ca", f("docket-ca.pem"))

	cfg, err := pki.ClientConfig(f("docket-ca.pem"), f("docket-cli.pem"), f("docket-cli-key.pem"), "")
	if err != nil {
		t.Fatal(err)
	}
	e := startE2EWith(t, e2eOptions{
		serverArgs: []string{"--aws-keys", producerKeys(t),
			"--tls-cert", f("docket-server.pem"), "--tls-key", f("docket-server-key.pem"), "--tls-ca", f("docket-ca.pem")},
		agentArgs: []string{"--tls-ca", f("docket-ca.pem"), "--tls-cert", f("docket-agent.pem"), "--tls-key", f("docket-agent-key.pem")},
		tls:       cfg,
		caFile:    f("docket-ca.pem"),
	})
	e.drainWithSQSWorkers(awscli)

	// Dispatch works over TLS, in the sandbox: the task reads its message,
	// and containerd's seccomp profile refuses keyctl, the missing
	// CAP_NET_RAW a raw socket. An archive outside the agent's image
	// directories and a root user are refused.
	e.run(`
queue "probe" {}

job "probe" {
  type  = "dispatch"
  queue = "probe"
  task "main" {
    image = "IMAGE"
    args  = ["cat", "/docket/message", ";", "echo", "", ";", "try", "keyctl", ";", "try", "raw-socket"]
  }
}

job "shadow" {
  type = "batch"
  task "main" {
    image = "oci-archive:/etc/shadow"
    restart {
      attempts = 0
    }
  }
}

job "rooted" {
  type = "batch"
  task "main" {
    image = "IMAGE"
    user  = "0:0"
    args  = ["id"]
    restart {
      attempts = 0
    }
  }
}
`)
	e.send("probe", "over TLS")
	e.waitFor(time.Minute, func() error {
		if q := e.queue("probe"); q.Deleted != 1 {
			return fmt.Errorf("queue probe %+v", q)
		}
		return nil
	})
	probe := e.allocs("probe")
	if len(probe) != 1 {
		t.Fatalf("probe allocations %+v", probe)
	}
	if logs := e.logs(probe[0].ID); logs != "over TLS\nkeyctl: EPERM\nraw-socket: EPERM\n" {
		t.Errorf("the dispatch task printed %q", logs)
	}
	for job, want := range map[string]string{"shadow": "outside the directories", "rooted": "root tasks are not allowed"} {
		e.waitFor(time.Minute, func() error {
			for _, a := range e.allocs(job) {
				if a.ClientStatus == "failed" && strings.Contains(a.ClientReason, want) {
					return nil
				}
			}
			return fmt.Errorf("no allocation of %s failed with %q: %+v", job, want, e.allocs(job))
		})
	}

	// The CLI with the CA (and its certificate) from the environment.
	env := []string{"DOCKET_ADDR=" + e.addr, "DOCKET_TOKEN=" + e.token, "DOCKET_CACERT=" + f("docket-ca.pem"),
		"DOCKET_CLIENT_CERT=" + f("docket-cli.pem"), "DOCKET_CLIENT_KEY=" + f("docket-cli-key.pem")}
	if out, err := docket(env, "queue", "list"); err != nil || !strings.Contains(out, "orders") {
		t.Errorf("docket queue list over TLS: %v\n%s", err, out)
	}
	if out, err := docket(env[:3], "node", "status"); err != nil || !strings.Contains(out, "e2e-node") {
		t.Errorf("docket node status over TLS without a client certificate: %v\n%s", err, out)
	}
	// Without the CA, with another CA's, or in plain HTTP, it is refused.
	refused([]string{"DOCKET_ADDR=https://" + e.addr, "DOCKET_TOKEN=" + e.token}, "certificate signed by unknown authority", "queue", "list")
	other := t.TempDir()
	must("tls", "ca", "create", "--dir", other)
	refused(append(env[:2:2], "DOCKET_CACERT="+filepath.Join(other, "docket-ca.pem")), "unknown authority", "queue", "list")
	refused(env[:2], "Client sent an HTTP request to an HTTPS server", "queue", "list")
	refused([]string{"DOCKET_ADDR=http://" + e.addr, "DOCKET_TOKEN=" + e.token}, "HTTPS server", "queue", "list")
	refused(env[:2], "a client certificate needs the CA too", "queue", "list", "--client-cert", f("docket-cli.pem"), "--client-key", f("docket-cli-key.pem"))

	// A certificate that has expired is refused.
	ca, err := pki.LoadCA(f("docket-ca.pem"), f("docket-ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue(pki.CertRequest{Role: pki.RoleCLI, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f("expired.pem"), cert, 0o644)
	os.WriteFile(f("expired-key.pem"), key, 0o600)
	refused(append(env[:3:3], "DOCKET_CLIENT_CERT="+f("expired.pem"), "DOCKET_CLIENT_KEY="+f("expired-key.pem")), "expired certificate", "queue", "list")

	// Tokens over TLS: missing, unknown, without the capability, revoked,
	// expired.
	tlsEnv := env[2:] // the CA and the client certificate, no address or token
	withToken := func(token string) []string {
		return append([]string{"DOCKET_ADDR=" + e.addr, "DOCKET_TOKEN=" + token}, tlsEnv...)
	}
	refused(append([]string{"DOCKET_ADDR=" + e.addr}, tlsEnv...), "acl_token_missing", "queue", "list")
	refused(withToken("not-a-token"), "acl_token_invalid", "queue", "list")
	policy := f("reader.hcl")
	os.WriteFile(policy, []byte(`queue "*" { capabilities = ["read"] }`), 0o644)
	if out, err := docket(env, "acl", "policy", "apply", "reader", policy); err != nil {
		t.Fatalf("policy apply: %v\n%s", err, out)
	}
	newToken := func(args ...string) (accessor, secret string) {
		t.Helper()
		out, err := docket(env, append([]string{"acl", "token", "create", "--policy", "reader", "-o", "json"}, args...)...)
		if err != nil {
			t.Fatalf("token create: %v\n%s", err, out)
		}
		var tok struct {
			AccessorID string `json:"accessor_id"`
			SecretID   string `json:"secret_id"`
		}
		if err := json.Unmarshal([]byte(out), &tok); err != nil {
			t.Fatalf("token create printed %s: %v", out, err)
		}
		return tok.AccessorID, tok.SecretID
	}
	accessor, reader := newToken()
	if out, err := docket(withToken(reader), "queue", "list"); err != nil || !strings.Contains(out, "orders") {
		t.Errorf("a reader's queue list: %v\n%s", err, out)
	}
	refused(withToken(reader), "permission_denied", "queue", "create", "not-yours")
	if out, err := docket(env, "acl", "token", "delete", accessor); err != nil {
		t.Fatalf("token delete: %v\n%s", err, out)
	}
	refused(withToken(reader), "acl_token_invalid", "queue", "list")
	_, shortLived := newToken("--ttl", "1s")
	e.waitFor(30*time.Second, func() error {
		if out, err := docket(withToken(shortLived), "queue", "list"); err == nil || !strings.Contains(out, "acl_token_invalid") {
			return fmt.Errorf("the token of a second still works: %v %s", err, out)
		}
		return nil
	})

	// The agent's certificate and token do not make a node's secret.
	agentCfg, err := pki.ClientConfig(f("docket-ca.pem"), f("docket-agent.pem"), f("docket-agent-key.pem"), pki.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	nodes, _, err := e.cl.Nodes(context.Background(), api.QueryOptions{})
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	var ae *api.Error
	_, err = api.NewClient(e.addr).WithTLS(agentCfg).WithToken(e.token).Heartbeat(context.Background(), nodes[0].ID, api.HeartbeatRequest{Healthy: true})
	if !errors.As(err, &ae) || ae.Code != "node_secret_mismatch" {
		t.Errorf("a heartbeat without the node's secret: %v, want node_secret_mismatch", err)
	}

	// A queue worker's AWS key reaches its own queue only, and stops
	// working when its allocation ends.
	e.run(`
queue "mine" {}
queue "theirs" {}

job "keyed" {
  type  = "service"
  queue = "mine"
  scaling {
    min = 1
    max = 1
  }
  task "main" {
    image = "IMAGE"
    args  = ["env", ";", "sleep", "1h"]
    kill_timeout = "1s"
  }
}
`)
	e.waitRunning("keyed", 1)
	keyed := e.allocs("keyed")[0]
	var keyID, secret string
	e.waitFor(30*time.Second, func() error {
		logs := e.logs(keyed.ID)
		for _, line := range strings.Split(logs, "\n") {
			if v, ok := strings.CutPrefix(line, "AWS_ACCESS_KEY_ID="); ok {
				keyID = v
			}
			if v, ok := strings.CutPrefix(line, "AWS_SECRET_ACCESS_KEY="); ok {
				secret = v
			}
		}
		if keyID == "" || secret == "" {
			return fmt.Errorf("the worker's environment has no AWS key:\n%s", logs)
		}
		return nil
	})
	sqs := func(queue string) (string, error) {
		cmd := exec.Command(awscli, "--endpoint-url", e.url(), "sqs", "receive-message", "--queue-url", e.url()+"/000000000000/"+queue)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_CA_BUNDLE="+f("docket-ca.pem"),
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sqs("mine"); err != nil {
		t.Errorf("the worker's key on its own queue: %v\n%s", err, out)
	}
	if out, err := sqs("theirs"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Errorf("the worker's key on another queue: %v\n%s, want AccessDenied", err, out)
	}
	if _, err := e.cl.StopJob(context.Background(), "keyed", false); err != nil {
		t.Fatal(err)
	}
	e.waitFor(time.Minute, func() error {
		if out, err := sqs("mine"); err == nil {
			return fmt.Errorf("the key of a stopped worker still works: %s", out)
		}
		return nil
	})

	// The server counted the agent's handshakes: its connections are kept
	// alive, so a few, not one per heartbeat.
	metrics := scrapeClient(t, &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, e.url(), e.token)
	m := regexp.MustCompile(`(?m)^docket_tls_handshakes_total\{role="agent"\} (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no agent handshakes counted:\n%s", grepLines(metrics, "docket_tls_"))
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 || n > 20 {
		t.Errorf("%d agent handshakes, want a few kept-alive connections", n)
	}
	if !strings.Contains(metrics, `docket_tls_handshake_failures_total{reason="plain_http"} 2`) {
		t.Errorf("the two plain HTTP requests were not counted:\n%s", grepLines(metrics, "docket_tls_"))
	}
}
