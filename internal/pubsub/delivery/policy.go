// Package delivery reads SNS's delivery policies for HTTP(S) endpoints and
// computes the schedule of a delivery's retries. It is pure: the server's
// endpoint deliverer asks it how many attempts a message gets, how long
// to wait before each retry, how fast a subscription may be sent to, and
// with which Content-Type.
//
// A subscription's DeliveryPolicy is SNS's JSON:
//
//	{"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 60,
//	   "numRetries": 50, "numNoDelayRetries": 3, "numMinDelayRetries": 2,
//	   "numMaxDelayRetries": 35, "backoffFunction": "exponential"},
//	 "throttlePolicy": {"maxReceivesPerSecond": 10},
//	 "requestPolicy": {"headerContentType": "application/json"}}
//
// and a topic's gives the defaults of its HTTP(S) subscriptions under
// "http" (defaultHealthyRetryPolicy, defaultThrottlePolicy,
// defaultRequestPolicy, disableSubscriptionOverrides). Fields left out
// keep the defaults: SNS's for HTTP(S), three retries twenty seconds
// apart.
//
// Retries run in SNS's four phases: numNoDelayRetries at once, then
// numMinDelayRetries minDelayTarget apart, then the backoff phase —
// the retries left over — whose delays grow from minDelayTarget to
// maxDelayTarget, then numMaxDelayRetries maxDelayTarget apart. The
// backoff functions shape the growth over the phase's retries i = 1..n:
// linear in equal steps; arithmetic in steps that grow by the same amount
// each time; geometric by the same factor each time; exponential in steps
// that double. The whole schedule is at most an hour, as in SNS.
package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Limits, as SNS's.
const (
	MaxRetries    = 100
	MaxDelay      = 3600 * time.Second
	MaxRetryTime  = 3600 * time.Second
	MaxPolicySize = 4096
	// DefaultContentType is the Content-Type of a notification's request
	// unless a policy says otherwise.
	DefaultContentType = "text/plain; charset=UTF-8"
)

// Backoff functions.
const (
	Linear      = "linear"
	Arithmetic  = "arithmetic"
	Geometric   = "geometric"
	Exponential = "exponential"
)

// Policy is the delivery policy of one HTTP(S) subscription.
type Policy struct {
	MinDelay, MaxDelay time.Duration
	// Retries is the number of retries after the first attempt; the
	// phases take NoDelayRetries, MinDelayRetries and MaxDelayRetries of
	// them and the backoff phase the rest.
	Retries, NoDelayRetries, MinDelayRetries, MaxDelayRetries int
	Backoff                                                   string
	// MaxPerSecond bounds the deliveries per second; 0 is no bound.
	MaxPerSecond int
	ContentType  string
}

// Default is SNS's policy for HTTP(S) endpoints.
func Default() Policy {
	return Policy{MinDelay: 20 * time.Second, MaxDelay: 20 * time.Second, Retries: 3, Backoff: Linear,
		ContentType: DefaultContentType}
}

// Attempts is how many times a message is tried: the first attempt and
// the retries.
func (p Policy) Attempts() int { return p.Retries + 1 }

// Delay is how long to wait before retry r (1 for the retry after the
// first attempt, up to p.Retries).
func (p Policy) Delay(r int) time.Duration {
	if r <= p.NoDelayRetries {
		return 0
	}
	r -= p.NoDelayRetries
	if r <= p.MinDelayRetries {
		return p.MinDelay
	}
	r -= p.MinDelayRetries
	n := p.Retries - p.NoDelayRetries - p.MinDelayRetries - p.MaxDelayRetries
	if r > n {
		return p.MaxDelay
	}
	// Backoff retry r of n: from MinDelay (r = 1 when n > 1) up to
	// MaxDelay (r = n).
	lo, hi := p.MinDelay.Seconds(), p.MaxDelay.Seconds()
	var f float64 // fraction of the way from lo to hi
	if n > 1 {
		i, m := float64(r-1), float64(n-1)
		switch p.Backoff {
		case Arithmetic:
			f = i * (i + 1) / (m * (m + 1))
		case Geometric:
			return time.Duration(lo * math.Pow(hi/lo, i/m) * float64(time.Second))
		case Exponential:
			f = (math.Exp2(i) - 1) / (math.Exp2(m) - 1)
		default:
			f = i / m
		}
	} else {
		f = 1
	}
	return time.Duration((lo + (hi-lo)*f) * float64(time.Second))
}

// Total is the time the whole schedule of retries waits.
func (p Policy) Total() time.Duration {
	var t time.Duration
	for r := 1; r <= p.Retries; r++ {
		t += p.Delay(r)
	}
	return t
}

// The JSON forms.
type retryJSON struct {
	MinDelayTarget     *int    `json:"minDelayTarget"`
	MaxDelayTarget     *int    `json:"maxDelayTarget"`
	NumRetries         *int    `json:"numRetries"`
	NumNoDelayRetries  *int    `json:"numNoDelayRetries"`
	NumMinDelayRetries *int    `json:"numMinDelayRetries"`
	NumMaxDelayRetries *int    `json:"numMaxDelayRetries"`
	BackoffFunction    *string `json:"backoffFunction"`
}

type throttleJSON struct {
	MaxReceivesPerSecond *int `json:"maxReceivesPerSecond"`
}

type requestJSON struct {
	HeaderContentType *string `json:"headerContentType"`
}

type subscriptionJSON struct {
	HealthyRetryPolicy *retryJSON    `json:"healthyRetryPolicy,omitempty"`
	ThrottlePolicy     *throttleJSON `json:"throttlePolicy,omitempty"`
	RequestPolicy      *requestJSON  `json:"requestPolicy,omitempty"`
	// SNS's console writes these too; they are read as nothing.
	Guaranteed        *bool `json:"guaranteed,omitempty"`
	SicklyRetryPolicy any   `json:"sicklyRetryPolicy,omitempty"`
}

type topicJSON struct {
	HTTP *struct {
		DefaultHealthyRetryPolicy    *retryJSON    `json:"defaultHealthyRetryPolicy"`
		DefaultThrottlePolicy        *throttleJSON `json:"defaultThrottlePolicy"`
		DefaultRequestPolicy         *requestJSON  `json:"defaultRequestPolicy"`
		DisableSubscriptionOverrides bool          `json:"disableSubscriptionOverrides"`
	} `json:"http"`
	// The policies of protocols this server does not deliver to are
	// taken as they are and not used.
	HTTPS       any `json:"https"`
	SQS         any `json:"sqs"`
	Lambda      any `json:"lambda"`
	Email       any `json:"email"`
	SMS         any `json:"sms"`
	Application any `json:"application"`
	Firehose    any `json:"firehose"`
}

func decode(s string, v any) error {
	if len(s) > MaxPolicySize {
		return fmt.Errorf("DeliveryPolicy: at most %d bytes, got %d", MaxPolicySize, len(s))
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("DeliveryPolicy: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("DeliveryPolicy: trailing data after the JSON object")
	}
	return nil
}

// CheckSubscription reports whether s is a valid subscription delivery
// policy, with SNS's reason when it is not.
func CheckSubscription(s string) error {
	_, err := Resolve("", s)
	return err
}

// CheckTopic reports whether s is a valid topic delivery policy.
func CheckTopic(s string) error {
	_, err := Resolve(s, "")
	return err
}

// Resolve is the policy of a subscription whose own delivery policy is
// sub and whose topic's is topic ("" for none): SNS's defaults, then the
// topic's http defaults, then the subscription's, unless the topic
// disables subscription overrides.
func Resolve(topic, sub string) (Policy, error) {
	p := Default()
	overrides := true
	if topic != "" {
		var t topicJSON
		if err := decode(topic, &t); err != nil {
			return p, err
		}
		if t.HTTP != nil {
			if err := p.apply(t.HTTP.DefaultHealthyRetryPolicy, t.HTTP.DefaultThrottlePolicy, t.HTTP.DefaultRequestPolicy); err != nil {
				return p, err
			}
			overrides = !t.HTTP.DisableSubscriptionOverrides
		}
	}
	if sub != "" {
		var s subscriptionJSON
		if err := decode(sub, &s); err != nil {
			return p, err
		}
		if overrides {
			if err := p.apply(s.HealthyRetryPolicy, s.ThrottlePolicy, s.RequestPolicy); err != nil {
				return p, err
			}
		} else if d := Default(); d.apply(s.HealthyRetryPolicy, s.ThrottlePolicy, s.RequestPolicy) != nil {
			// Checked all the same, though the topic's policy rules.
			return p, d.apply(s.HealthyRetryPolicy, s.ThrottlePolicy, s.RequestPolicy)
		}
	}
	return p, nil
}

func (p *Policy) apply(r *retryJSON, t *throttleJSON, q *requestJSON) error {
	if r != nil {
		set := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		minD, maxD := int(p.MinDelay/time.Second), int(p.MaxDelay/time.Second)
		set(&minD, r.MinDelayTarget)
		set(&maxD, r.MaxDelayTarget)
		set(&p.Retries, r.NumRetries)
		set(&p.NoDelayRetries, r.NumNoDelayRetries)
		set(&p.MinDelayRetries, r.NumMinDelayRetries)
		set(&p.MaxDelayRetries, r.NumMaxDelayRetries)
		if r.BackoffFunction != nil {
			p.Backoff = strings.ToLower(*r.BackoffFunction)
		}
		switch {
		case p.Retries < 0 || p.Retries > MaxRetries:
			return fmt.Errorf("DeliveryPolicy: numRetries must be 0 to %d, got %d", MaxRetries, p.Retries)
		case p.NoDelayRetries < 0 || p.MinDelayRetries < 0 || p.MaxDelayRetries < 0:
			return errors.New("DeliveryPolicy: numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries must not be negative")
		case p.NoDelayRetries+p.MinDelayRetries+p.MaxDelayRetries > p.Retries:
			return fmt.Errorf("DeliveryPolicy: numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries add up to more than numRetries (%d)", p.Retries)
		case minD < 1:
			return fmt.Errorf("DeliveryPolicy: minDelayTarget must be at least 1 second, got %d", minD)
		case maxD > int(MaxDelay/time.Second):
			return fmt.Errorf("DeliveryPolicy: maxDelayTarget must be at most %d seconds, got %d", int(MaxDelay/time.Second), maxD)
		case minD > maxD:
			return fmt.Errorf("DeliveryPolicy: minDelayTarget (%d) must not be greater than maxDelayTarget (%d)", minD, maxD)
		}
		switch p.Backoff {
		case Linear, Arithmetic, Geometric, Exponential:
		default:
			return fmt.Errorf("DeliveryPolicy: backoffFunction must be linear, arithmetic, geometric or exponential, got %q", p.Backoff)
		}
		p.MinDelay, p.MaxDelay = time.Duration(minD)*time.Second, time.Duration(maxD)*time.Second
		if total := p.Total(); total > MaxRetryTime {
			return fmt.Errorf("DeliveryPolicy: the retries wait %s in all; the limit is %s", total, MaxRetryTime)
		}
	}
	if t != nil && t.MaxReceivesPerSecond != nil {
		if *t.MaxReceivesPerSecond < 1 {
			return fmt.Errorf("DeliveryPolicy: maxReceivesPerSecond must be at least 1, got %d", *t.MaxReceivesPerSecond)
		}
		p.MaxPerSecond = *t.MaxReceivesPerSecond
	}
	if q != nil && q.HeaderContentType != nil {
		ct := *q.HeaderContentType
		if !contentTypes[strings.ToLower(strings.ReplaceAll(ct, " ", ""))] {
			return fmt.Errorf("DeliveryPolicy: headerContentType %q is not one SNS sends", ct)
		}
		p.ContentType = ct
	}
	return nil
}

// contentTypes are the Content-Types SNS lets a policy choose, without
// spaces, in lower case.
var contentTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range []string{"text/plain", "text/xml", "text/html", "text/css", "text/csv",
		"application/json", "application/xml", "application/x-www-form-urlencoded", "application/octet-stream"} {
		m[t] = true
		m[t+";charset=utf-8"] = true
	}
	return m
}()

// JSON is the policy in SNS's form, every field given, as SNS reports a
// subscription's EffectiveDeliveryPolicy.
func (p Policy) JSON() string {
	sec := func(d time.Duration) *int { v := int(d / time.Second); return &v }
	n := func(v int) *int { return &v }
	out := subscriptionJSON{
		HealthyRetryPolicy: &retryJSON{MinDelayTarget: sec(p.MinDelay), MaxDelayTarget: sec(p.MaxDelay), NumRetries: n(p.Retries),
			NumNoDelayRetries: n(p.NoDelayRetries), NumMinDelayRetries: n(p.MinDelayRetries), NumMaxDelayRetries: n(p.MaxDelayRetries),
			BackoffFunction: &p.Backoff},
		RequestPolicy: &requestJSON{HeaderContentType: &p.ContentType},
	}
	if p.MaxPerSecond > 0 {
		out.ThrottlePolicy = &throttleJSON{MaxReceivesPerSecond: n(p.MaxPerSecond)}
	}
	b, _ := json.Marshal(out)
	return string(b)
}
