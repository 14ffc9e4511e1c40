package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/imagetest"
)

// TestSNSClients runs the scenario scripts in testdata/snsclients with
// each real AWS client found (Debian's AWS CLI and boto3) against its own
// real `docket server`, signed with an operator key, and checks from the
// server's metrics that the requests reached the SNS endpoint and none
// was an internal error.
func TestSNSClients(t *testing.T) {
	if testing.Short() {
		t.Skip("client scenarios skipped in -short mode")
	}
	clients := findAWSClients(t, "snsclients")
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket")
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("AKIDCLIENTS clients/secret+key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr, token := startServerProcess(t, bin, "--data-dir", t.TempDir(), "--aws-keys", keys, "--endpoint-allow", "127.0.0.0/8")
			endpoint := "http://" + addr
			cmd := exec.Command(c.argv[0], c.argv[1:]...)
			cmd.Env = append(os.Environ(), "DOCKET_ENDPOINT="+endpoint, "AWS_ACCESS_KEY_ID=AKIDCLIENTS",
				"AWS_SECRET_ACCESS_KEY=clients/secret+key", "AWS_DEFAULT_REGION=us-east-1", // the server's region, in its ARNs
				"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			cmd.Env = append(cmd.Env, c.env...)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil || !regexp.MustCompile(`# \d+ checks passed`).Match(out) {
				t.Fatalf("%s: %v\n%s", strings.Join(c.argv, " "), err, out)
			}
			t.Logf("%s", firstLine(out))
			metrics := scrapeWith(t, endpoint, token)
			var ok, internal float64
			for _, m := range regexp.MustCompile(`(?m)^docket_sns_requests_total\{action="[A-Za-z]+",outcome="([A-Za-z]+)"\} (\S+)$`).FindAllStringSubmatch(metrics, -1) {
				v, _ := strconv.ParseFloat(m[2], 64)
				switch m[1] {
				case "ok":
					ok += v
				case "InternalError":
					internal += v
				}
			}
			if ok < 8 {
				t.Errorf("the server counted %.0f successful SNS requests, want the script's (at least 8)", ok)
			}
			if internal != 0 {
				t.Errorf("%.0f SNS requests were internal errors", internal)
			}
		})
	}
}
