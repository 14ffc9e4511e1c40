package sqs

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	awsproto "github.com/docketd/docket/scheduler/aws"
)

// The Signer's signature is the AWS SDK signer's for the same request,
// and the server accepts what it signs.
func TestSignerMatchesSDK(t *testing.T) {
	h := newHarness(t, Config{})
	at := time.Now()
	body := `{"QueueName":"signed"}`
	newReq := func() *http.Request {
		r, err := http.NewRequestWithContext(ctx(t), http.MethodPost, h.srv.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		r.Header.Set("X-Amz-Target", "AmazonSQS.CreateQueue")
		return r
	}
	ours, sdk := newReq(), newReq()
	s := &awsproto.Signer{KeyID: testKeyID, Secret: testSecret, Region: "eu-west-3", Service: "sqs"}
	s.Sign(ours, []byte(body), at)
	sdk.ContentLength = 0 // the SDK signs Content-Length when set; SDK clients send it unsigned
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(ctx(t), creds, sdk, sha256Hex([]byte(body)), "sqs", "eu-west-3", at); err != nil {
		t.Fatal(err)
	}
	if got, want := ours.Header.Get("Authorization"), sdk.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization\n got %s\nwant %s", got, want)
	}

	for _, tt := range []struct {
		secret string
		status int
	}{{testSecret, http.StatusOK}, {"wrong", http.StatusForbidden}} {
		r := newReq()
		(&awsproto.Signer{KeyID: testKeyID, Secret: tt.secret, Region: "us-east-1", Service: "sqs"}).Sign(r, []byte(body), time.Now())
		resp, err := h.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("secret %q: status %d, want %d", tt.secret, resp.StatusCode, tt.status)
		}
	}
	if _, err := h.engine.Queue("signed"); err != nil {
		t.Errorf("the signed CreateQueue did not create the queue: %v", err)
	}
}
