package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/imagetest"
)

// sqsClient is a real AWS client program that a scenario script drives.
type sqsClient struct {
	name   string   // for the subtest
	argv   []string // the script's command line
	env    []string // added to the environment
	debian bool     // Debian's package: speaks the query protocol
}

const (
	debianAWS    = "/usr/bin/aws"
	debianPython = "/usr/bin/python3"
)

// findSQSClients returns the AWS CLIs and boto3 installations on this
// machine, Debian's first; another install on PATH (newer, speaking the
// JSON protocol) is driven too. In CI, where .ci/run installs Debian's
// awscli and python3-boto3, missing ones fail the test.
func findSQSClients(t *testing.T) []sqsClient {
	t.Helper()
	return findAWSClients(t, "sqsclients")
}

// findAWSClients is findSQSClients for the scenario scripts in
// testdata/dir (awscli.sh, boto3_scenarios.py).
func findAWSClients(t *testing.T, dir string) []sqsClient {
	t.Helper()
	script := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var clients []sqsClient
	seen := map[string]bool{}
	addCLI := func(path string, debian bool) {
		out, err := exec.Command(path, "--version").CombinedOutput()
		version := strings.TrimSpace(string(out))
		if err != nil || seen[version] {
			return
		}
		seen[version] = true
		clients = append(clients, sqsClient{name: strings.Fields(version)[0], debian: debian,
			argv: []string{"bash", script("awscli.sh")}, env: []string{"AWS=" + path}})
	}
	addPython := func(path string, debian bool) {
		out, err := exec.Command(path, "-c", "import boto3, botocore; print(boto3.__version__, botocore.__version__)").Output()
		version := strings.TrimSpace(string(out))
		if err != nil || seen["boto3 "+version] {
			return
		}
		seen["boto3 "+version] = true
		clients = append(clients, sqsClient{name: "boto3 " + strings.Fields(version)[0], debian: debian,
			argv: []string{path, script("boto3_scenarios.py")}})
	}
	addCLI(debianAWS, true)
	addPython(debianPython, true)
	if p, err := exec.LookPath("aws"); err == nil {
		addCLI(p, false)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		addPython(p, false)
	}
	var debian int
	for _, c := range clients {
		if c.debian {
			debian++
		}
	}
	if debian < 2 {
		msg := fmt.Sprintf("Debian's awscli (%s) and python3-boto3 (%s) are needed: found %d of 2", debianAWS, debianPython, debian)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		if len(clients) == 0 {
			t.Skip(msg)
		}
		t.Log(msg)
	}
	return clients
}

// TestSQSClients runs the scenario scripts in testdata/sqsclients with
// each real AWS client found against its own real `docket server`, signed
// with an operator key, and checks from the server's metrics which
// protocol each client spoke and that no request was an internal error.
func TestSQSClients(t *testing.T) {
	if testing.Short() {
		t.Skip("client scenarios skipped in -short mode")
	}
	clients := findSQSClients(t)
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket")
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("AKIDCLIENTS clients/secret+key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // the CLI's scenario takes ~25 s of Python start-ups
			addr, token := startServerProcess(t, bin, "--data-dir", t.TempDir(), "--sqs-keys", keys)
			endpoint := "http://" + addr
			before := sqsRequests(t, endpoint, token)
			cmd := exec.Command(c.argv[0], c.argv[1:]...)
			cmd.Env = append(os.Environ(), "DOCKET_SQS_ENDPOINT="+endpoint, "AWS_ACCESS_KEY_ID=AKIDCLIENTS",
				"AWS_SECRET_ACCESS_KEY=clients/secret+key", "AWS_DEFAULT_REGION=eu-west-1",
				"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			cmd.Env = append(cmd.Env, c.env...)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil || !regexp.MustCompile(`# \d+ checks passed`).Match(out) {
				t.Fatalf("%s: %v\n%s", strings.Join(c.argv, " "), err, out)
			}
			t.Logf("%s", firstLine(out))
			after := sqsRequests(t, endpoint, token)
			json, query := after["json"]-before["json"], after["query"]-before["query"]
			if json+query < 20 {
				t.Errorf("the server counted %.0f SQS requests, want the script's (at least 20)", json+query)
			}
			if c.debian && (query == 0 || json != 0) {
				t.Errorf("Debian's %s sent %.0f query and %.0f JSON requests, want the query protocol only", c.name, query, json)
			}
			if n := after["InternalError"] - before["InternalError"]; n != 0 {
				t.Errorf("%.0f requests were internal errors", n)
			}
		})
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// sqsRequests sums docket_sqs_requests_total by protocol and by outcome.
func sqsRequests(t *testing.T, endpoint, token string) map[string]float64 {
	t.Helper()
	line := regexp.MustCompile(`(?m)^docket_sqs_requests_total\{action="[^"]*",outcome="([^"]*)",protocol="([^"]*)"\} (\S+)$`)
	sums := map[string]float64{}
	for _, m := range line.FindAllStringSubmatch(scrapeWith(t, endpoint, token), -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		sums[m[1]] += v
		sums[m[2]] += v
	}
	return sums
}
