package delivery

import (
	"strings"
	"testing"
	"time"
)

func schedule(p Policy) []time.Duration {
	var out []time.Duration
	for r := 1; r <= p.Retries; r++ {
		out = append(out, p.Delay(r).Round(time.Millisecond))
	}
	return out
}

func secs(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, s := range v {
		out[i] = time.Duration(s * float64(time.Second)).Round(time.Millisecond)
	}
	return out
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSchedules(t *testing.T) {
	for _, tc := range []struct {
		name, topic, sub string
		want             []time.Duration
	}{
		{name: "SNS's default: three retries 20 s apart", want: secs(20, 20, 20)},
		{name: "phases", sub: `{"healthyRetryPolicy": {"minDelayTarget": 2, "maxDelayTarget": 10, "numRetries": 9,
			"numNoDelayRetries": 2, "numMinDelayRetries": 1, "numMaxDelayRetries": 2, "backoffFunction": "linear"}}`,
			want: secs(0, 0, 2, 2, 4.666666667, 7.333333333, 10, 10, 10)},
		{name: "arithmetic", sub: `{"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 13, "numRetries": 4, "backoffFunction": "arithmetic"}}`,
			want: secs(1, 3, 7, 13)},
		{name: "geometric", sub: `{"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 8, "numRetries": 4, "backoffFunction": "GEOMETRIC"}}`,
			want: secs(1, 2, 4, 8)},
		{name: "exponential", sub: `{"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 8, "numRetries": 4, "backoffFunction": "exponential"}}`,
			want: secs(1, 2, 4, 8)},
		{name: "one backoff retry waits the longest delay", sub: `{"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 1}}`,
			want: secs(5)},
		{name: "no retries", sub: `{"healthyRetryPolicy": {"numRetries": 0}}`},
		{name: "the topic's defaults", topic: `{"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 2}}}`,
			want: secs(1, 1)},
		{name: "the subscription overrides the topic", topic: `{"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 2}}}`,
			sub: `{"healthyRetryPolicy": {"numRetries": 1}}`, want: secs(1)},
		{name: "unless the topic disables overrides", topic: `{"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 2}, "disableSubscriptionOverrides": true}}`,
			sub: `{"healthyRetryPolicy": {"numRetries": 1}}`, want: secs(1, 1)},
	} {
		p, err := Resolve(tc.topic, tc.sub)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := schedule(p); !equal(got, tc.want) {
			t.Errorf("%s: delays %v, want %v", tc.name, got, tc.want)
		}
		if p.Attempts() != len(tc.want)+1 {
			t.Errorf("%s: %d attempts", tc.name, p.Attempts())
		}
	}
}

// A policy's JSON reads back as the same policy.
func TestJSONRoundTrip(t *testing.T) {
	p, err := Resolve(`{"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": 3}}}`,
		`{"healthyRetryPolicy": {"minDelayTarget": 2, "maxDelayTarget": 30, "numRetries": 7, "numNoDelayRetries": 1, "backoffFunction": "geometric"}}`)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Resolve("", p.JSON())
	if err != nil || back != p {
		t.Fatalf("%s reads back as %+v, %v; want %+v", p.JSON(), back, err, p)
	}
}

func TestThrottleAndContentType(t *testing.T) {
	p, err := Resolve("", `{"throttlePolicy": {"maxReceivesPerSecond": 5}, "requestPolicy": {"headerContentType": "application/json; charset=UTF-8"}}`)
	if err != nil || p.MaxPerSecond != 5 || p.ContentType != "application/json; charset=UTF-8" || p.Retries != 3 {
		t.Fatalf("%+v, %v", p, err)
	}
	if d := Default(); d.MaxPerSecond != 0 || d.ContentType != DefaultContentType {
		t.Fatalf("default %+v", d)
	}
}

func TestInvalidPolicies(t *testing.T) {
	for sub, want := range map[string]string{
		`{"healthyRetryPolicy": {"numRetries": 101}}`:                                            "numRetries must be 0 to 100",
		`{"healthyRetryPolicy": {"numRetries": 2, "numNoDelayRetries": 3}}`:                      "add up to more than numRetries",
		`{"healthyRetryPolicy": {"numNoDelayRetries": -1}}`:                                      "must not be negative",
		`{"healthyRetryPolicy": {"minDelayTarget": 0}}`:                                          "minDelayTarget must be at least 1",
		`{"healthyRetryPolicy": {"minDelayTarget": 30, "maxDelayTarget": 20}}`:                   "must not be greater than maxDelayTarget",
		`{"healthyRetryPolicy": {"maxDelayTarget": 3601}}`:                                       "maxDelayTarget must be at most 3600",
		`{"healthyRetryPolicy": {"backoffFunction": "cubic"}}`:                                   "backoffFunction must be",
		`{"healthyRetryPolicy": {"minDelayTarget": 60, "maxDelayTarget": 60, "numRetries": 61}}`: "the limit is 1h0m0s",
		`{"throttlePolicy": {"maxReceivesPerSecond": 0}}`:                                        "maxReceivesPerSecond must be at least 1",
		`{"requestPolicy": {"headerContentType": "image/png"}}`:                                  "headerContentType",
		`{"healthyRetryPolicy": {"numRetries": 1.5}}`:                                            "DeliveryPolicy:",
		`{"unknown": 1}`: "unknown field",
		`{} {}`:          "trailing data",
		`[`:              "DeliveryPolicy:",
		`{"healthyRetryPolicy": {"numRetries": 1}, "x": "` + strings.Repeat("a", MaxPolicySize) + `"}`: "at most 4096 bytes",
	} {
		if err := CheckSubscription(sub); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.80s: %v, want %q", sub, err, want)
		}
	}
	if err := CheckTopic(`{"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": -2}}}`); err == nil {
		t.Errorf("topic policy with a bad throttle accepted")
	}
	if err := CheckTopic(`{"http": {}, "sqs": {"x": 1}}`); err != nil {
		t.Errorf("other protocols' policies: %v", err)
	}
}

// Whatever a policy says, once it is accepted its schedule is sane: the
// retries after the no-delay phase wait between the two delay targets,
// never less than the one before, and an hour at most in all.
func FuzzResolve(f *testing.F) {
	f.Add(`{"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": 50, "numNoDelayRetries": 3, "numMinDelayRetries": 2, "numMaxDelayRetries": 35, "backoffFunction": "exponential"}, "throttlePolicy": {"maxReceivesPerSecond": 10}}`, "")
	f.Add(`{"healthyRetryPolicy": {"numRetries": 9, "backoffFunction": "arithmetic"}}`, `{"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 3, "maxDelayTarget": 90}}}`)
	f.Add(`{"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 3600, "numRetries": 1, "backoffFunction": "geometric"}}`, "")
	f.Fuzz(func(t *testing.T, sub, topic string) {
		p, err := Resolve(topic, sub)
		if err != nil {
			return
		}
		if p.Retries < 0 || p.Retries > MaxRetries || p.Total() > MaxRetryTime {
			t.Fatalf("accepted %+v", p)
		}
		prev := time.Duration(0)
		for r := 1; r <= p.Retries; r++ {
			d := p.Delay(r)
			if d < prev || d > p.MaxDelay || (r > p.NoDelayRetries && d < p.MinDelay-time.Millisecond) {
				t.Fatalf("retry %d waits %s after %s (policy %+v)", r, d, prev, p)
			}
			prev = d
		}
	})
}
