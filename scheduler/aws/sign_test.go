package aws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testKeyID  = "AKIDDOCKETTEST"
	testSecret = "s3cr3t/with+chars"
)

// newSignable returns a POST of body as SDKs send them to the JSON
// protocols.
func newSignable(t testing.TB, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:3625/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "Service.Action")
	return r
}

// The Signer's signature is the AWS SDK signer's for the same request,
// for whichever service it signs for.
func TestSignerMatchesSDK(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	const body = `{"QueueName":"signed"}`
	creds := sdkaws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	for _, service := range []string{"sqs", "sns", "lambda"} {
		t.Run(service, func(t *testing.T) {
			ours, sdk := newSignable(t, body), newSignable(t, body)
			(&Signer{KeyID: testKeyID, Secret: testSecret, Region: "eu-west-3", Service: service}).Sign(ours, []byte(body), at)
			sdk.ContentLength = 0 // the SDK signs Content-Length when set; SDK clients send it unsigned
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, sdk, sha256Hex([]byte(body)), service, "eu-west-3", at); err != nil {
				t.Fatal(err)
			}
			if got, want := ours.Header.Get("Authorization"), sdk.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization\n got %s\nwant %s", got, want)
			}
		})
	}
}

// A signature is for one service: a request signed for SNS with a key
// that SQS knows too is refused by the SQS verifier and accepted by the
// SNS one, and the other way round.
func TestVerifierChecksTheService(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	keys := StaticKeys{testKeyID: {ID: testKeyID, Secret: testSecret}}
	verifiers := map[string]*Verifier{}
	for _, service := range []string{"sqs", "sns"} {
		verifiers[service] = NewVerifier(VerifierConfig{Service: service, Keys: keys, Now: func() time.Time { return now }})
	}
	const body = `{"TopicArn":"arn:aws:sns:us-east-1:000000000000:t","Message":"hi"}`
	for _, tt := range []struct {
		signedFor, verifier string
		code                string // "" when accepted
	}{
		{"sns", "sns", ""},
		{"sns", "sqs", "SignatureDoesNotMatch"},
		{"sqs", "sqs", ""},
		{"sqs", "sns", "SignatureDoesNotMatch"},
	} {
		t.Run(tt.signedFor+" to "+tt.verifier, func(t *testing.T) {
			r := newSignable(t, body)
			(&Signer{KeyID: testKeyID, Secret: testSecret, Region: "us-east-1", Service: tt.signedFor}).Sign(r, []byte(body), now)
			key, err := verifiers[tt.verifier].Verify(r, []byte(body))
			got := ""
			if err != nil {
				got = err.Code
			}
			if got != tt.code {
				t.Fatalf("got code %q (%v), want %q", got, err, tt.code)
			}
			if tt.code == "" && key.ID != testKeyID {
				t.Errorf("got key %q, want %q", key.ID, testKeyID)
			}
			if tt.code != "" && !strings.Contains(err.Message, `service "`+tt.verifier+`", not "`+tt.signedFor+`"`) {
				t.Errorf("got message %q, want it to name both services", err.Message)
			}
		})
	}
}

// What a verifier refuses, with AWS's error codes.
func TestVerify(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	v := NewVerifier(VerifierConfig{Service: "sns", Keys: StaticKeys{testKeyID: {ID: testKeyID, Secret: testSecret}},
		Now: func() time.Time { return now }})
	const body = `{"Message":"hi"}`
	signer := func(id, secret string) *Signer {
		return &Signer{KeyID: id, Secret: secret, Region: "ap-south-1", Service: "sns"}
	}
	for _, tt := range []struct {
		name   string
		sign   func(r *http.Request)
		body   string // verified, when not the body signed
		code   string
		status int
	}{
		{"good", func(r *http.Request) { signer(testKeyID, testSecret).Sign(r, []byte(body), now) }, "", "", 0},
		{"small skew", func(r *http.Request) { signer(testKeyID, testSecret).Sign(r, []byte(body), now.Add(10*time.Minute)) }, "", "", 0},
		{"unsigned", func(*http.Request) {}, "", "MissingAuthenticationToken", http.StatusForbidden},
		{"wrong secret", func(r *http.Request) { signer(testKeyID, "not-it").Sign(r, []byte(body), now) }, "", "SignatureDoesNotMatch", http.StatusForbidden},
		{"unknown key", func(r *http.Request) { signer("NOBODY", testSecret).Sign(r, []byte(body), now) }, "", "InvalidClientTokenId", http.StatusForbidden},
		{"clock skew", func(r *http.Request) { signer(testKeyID, testSecret).Sign(r, []byte(body), now.Add(-20*time.Minute)) }, "", "RequestExpired", http.StatusBadRequest},
		{"body changed", func(r *http.Request) { signer(testKeyID, testSecret).Sign(r, []byte(body), now) }, `{"Message":"ho"}`, "SignatureDoesNotMatch", http.StatusForbidden},
		{"header changed", func(r *http.Request) {
			signer(testKeyID, testSecret).Sign(r, []byte(body), now)
			r.Header.Set("X-Amz-Target", "Service.Other")
		}, "", "SignatureDoesNotMatch", http.StatusForbidden},
		{"malformed", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 nonsense") }, "", "IncompleteSignature", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newSignable(t, body)
			tt.sign(r)
			verified := body
			if tt.body != "" {
				verified = tt.body
			}
			_, err := v.Verify(r, []byte(verified))
			got, status := "", 0
			if err != nil {
				got, status = err.Code, err.Status
			}
			if got != tt.code || status != tt.status {
				t.Errorf("got %q (status %d), want %q (status %d): %v", got, status, tt.code, tt.status, err)
			}
		})
	}
}
