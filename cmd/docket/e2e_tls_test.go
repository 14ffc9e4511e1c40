package main

import (
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
