package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/docketd/docket/scheduler/aws"
)

// bench queue --protocol sqs runs the cycle over the native API, then
// through the SQS endpoint with the lean signed client and with the AWS
// SDK, and reports each against the native run.
func TestBenchQueueSQS(t *testing.T) {
	env := startServerWith(t, serverOptions{sqsKeys: aws.StaticKeys{"AKBENCH": {ID: "AKBENCH", Secret: "s3cret", Access: aws.Everything}}})
	base := "http://" + strings.TrimPrefix(env[0], "DOCKET_ADDR=")
	bench := func(args ...string) (string, int) {
		out, errOut, code := runCLI(t, env, append([]string{"bench", "queue", "-d", "300ms", "-c", "2", "-b", "5"}, args...)...)
		return out + errOut, code
	}

	out, code := bench("--protocol", "sqs", "--sqs-key-id", "AKBENCH", "--sqs-secret", "s3cret")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	runs := regexp.MustCompile(`queue cycle \(([^)]*)\)[^\n]*\n\s+throughput\s+\d+ messages/s \((\d+) messages`).FindAllStringSubmatch(out, -1)
	var labels []string
	for _, r := range runs {
		labels = append(labels, r[1])
		if n, _ := strconv.Atoi(r[2]); n == 0 {
			t.Errorf("%s moved no messages", r[1])
		}
	}
	if want := []string{"native API", "SQS endpoint, lean SigV4 client", "SQS endpoint, AWS SDK"}; strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Fatalf("runs %q, want %q:\n%s", labels, want, out)
	}
	for _, c := range []string{"signed", "sdk"} {
		if !regexp.MustCompile(`SQS endpoint \(` + c + `\) / native API: \d+\.\d\d`).MatchString(out) {
			t.Errorf("no ratio for the %s client:\n%s", c, out)
		}
	}
	// Both SQS runs went through the endpoint, signed.
	m := grepLines(scrapeWith(t, base, envValue(env, "DOCKET_TOKEN")), `docket_sqs_requests_total{action="SendMessageBatch",outcome="ok",protocol="json"}`)
	if n, _ := strconv.Atoi(strings.TrimSpace(m[strings.LastIndex(m, " ")+1:])); m == "" || n < 2 {
		t.Errorf("server counted %q SendMessageBatch requests, want at least one per SQS run", m)
	}

	if out, code := bench("--protocol", "sqs", "--sqs-client", "signed", "--sqs-key-id", "AKBENCH", "--sqs-secret", "wrong"); code == 0 || !strings.Contains(out, "SignatureDoesNotMatch") {
		t.Errorf("a wrong secret: exit %d:\n%s", code, out)
	}
	if out, code := bench("--protocol", "sqs", "--sqs-client", "boto"); code == 0 || !strings.Contains(out, `unknown --sqs-client "boto"`) {
		t.Errorf("an unknown client: exit %d:\n%s", code, out)
	}
}
