package sqs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/docketd/docket/internal/queue"
	awsproto "github.com/docketd/docket/scheduler/aws"
)

const (
	testKeyID  = "AKIDDOCKETTEST"
	testSecret = "s3cr3t/with+chars"
)

// harness is a Handler behind a real HTTP server on loopback, with the
// engine it serves.
type harness struct {
	engine *queue.Engine
	srv    *httptest.Server
	cfg    Config
}

// newHarness starts a server for cfg, filling in an engine in a temporary
// directory and the test key when cfg has none. The engine is checked
// for consistency at the end: every queue it reports must be listable.
func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	e, err := queue.Open(queue.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine = e
	if cfg.Keys == nil && !cfg.AllowUnsigned {
		cfg.Keys = awsproto.StaticKeys{testKeyID: {ID: testKeyID, Secret: testSecret, Access: awsproto.Everything}}
	}
	h := &harness{engine: e, cfg: cfg}
	h.srv = httptest.NewServer(New(cfg))
	t.Cleanup(func() {
		h.srv.Close()
		for _, q := range e.Queues() {
			if q.Stats.Visible < 0 || q.Stats.InFlight < 0 || q.Stats.Delayed < 0 {
				t.Errorf("queue %s has negative figures: %+v", q.Name, q.Stats)
			}
		}
		if err := e.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return h
}

// client returns an SDK client for the server, signing with id and
// secret. Retries are off so every error is the server's first answer,
// and message checksum validation is left on.
func (h *harness) client(id, secret string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:           "eu-west-3",
		BaseEndpoint:     aws.String(h.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
		HTTPClient:       h.srv.Client(),
		RetryMaxAttempts: 1,
	})
}

func (h *harness) defaultClient() *sqs.Client { return h.client(testKeyID, testSecret) }

// createQueue creates a queue through the SDK and returns its URL.
func createQueue(t testing.TB, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// ctx is a context that ends with the test.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// errorCode is the SQS error code of err ("" for nil): the query code
// when the server sent one, as SDKs report it.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

// httpStatus is the HTTP status of an SDK error, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

var _ http.Handler = (*Handler)(nil)

// sha256Hex is the hash of a payload that SigV4 signs.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// errorBody is the JSON protocol's error document.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}
