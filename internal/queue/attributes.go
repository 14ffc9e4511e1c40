package queue

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/docketd/docket/internal/errdefs"
)

// Limits of queue attributes and messages, the same as Amazon SQS's.
const (
	MaxVisibilityTimeout = 12 * time.Hour
	MinRetention         = time.Minute
	MaxRetention         = 14 * 24 * time.Hour
	MaxDelay             = 15 * time.Minute
	MaxReceiveWait       = 20 * time.Second
	MinMessageSize       = 1 << 10
	MaxMessageSize       = 1 << 20
	MaxMaxReceives       = 1000
	MaxBatch             = 10 // messages per send, receive or delete call
	MaxMessageAttributes = 10
)

// Attributes are a queue's settings, those of the job language's queue block.
type Attributes struct {
	VisibilityTimeout time.Duration // how long a received message stays hidden
	Retention         time.Duration // how long a message is kept before it expires
	Delay             time.Duration // how long a new message stays hidden
	ReceiveWait       time.Duration // default long-poll wait of a receive
	MaxMessageSize    int64         // bytes of body and attributes together
	MaxReceives       int           // receives before dead-lettering; 0 = unlimited
	DeadLetter        string        // queue that takes messages past MaxReceives

	// FIFO makes the queue first-in-first-out per message group (its name
	// ends in .fifo): every message has a group, a group's messages are
	// received in order and none while one of them is in flight, and a
	// message sent again within DedupWindow is stored once (see fifo.go).
	FIFO bool
	// ContentDedup takes a message's deduplication id from its body's
	// SHA-256 when the sender gives none.
	ContentDedup bool
	// DedupPerGroup scopes deduplication ids to their message group
	// (SQS's DeduplicationScope=messageGroup) instead of the queue.
	DedupPerGroup bool
	// ThroughputPerGroup is SQS's FifoThroughputLimit=perMessageGroupId:
	// kept and reported; the engine has no per-queue throughput cap.
	ThroughputPerGroup bool

	// SQS settings kept and reported but not acted on: the access policy
	// (authorization stays with ACL tokens) and server-side encryption's
	// settings (the log is not encrypted by the engine).
	Policy          string
	KMSKeyID        string
	KMSReuseSeconds int
	ManagedSSE      bool
}

// DedupScope is SQS's DeduplicationScope of a FIFO queue ("queue" or
// "messageGroup"), "" for a standard queue.
func (a Attributes) DedupScope() string {
	switch {
	case !a.FIFO:
		return ""
	case a.DedupPerGroup:
		return "messageGroup"
	}
	return "queue"
}

// ThroughputLimit is SQS's FifoThroughputLimit of a FIFO queue
// ("perQueue" or "perMessageGroupId"), "" for a standard queue.
func (a Attributes) ThroughputLimit() string {
	switch {
	case !a.FIFO:
		return ""
	case a.ThroughputPerGroup:
		return "perMessageGroupId"
	}
	return "perQueue"
}

// DefaultAttributes returns the settings of a queue declared with none.
func DefaultAttributes() Attributes {
	return Attributes{
		VisibilityTimeout: 30 * time.Second,
		Retention:         4 * 24 * time.Hour,
		MaxMessageSize:    1 << 20,
	}
}

// FIFOSuffix ends the name of a FIFO queue, as in SQS.
const FIFOSuffix = ".fifo"

// ValidateName reports whether name is a valid queue name: letters, digits,
// '-' and '_', at most 80 characters with a FIFO queue's .fifo, as in SQS.
func ValidateName(name string) error {
	base := strings.TrimSuffix(name, FIFOSuffix)
	ok := len(base) >= 1 && len(name) <= 80
	for i := 0; ok && i < len(base); i++ {
		c := base[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return errdefs.New(errdefs.ErrInvalid, "invalid_queue_name",
			"invalid queue name %q: use 1 to 80 letters, digits, '-' or '_' (a FIFO queue's ending in .fifo)", name)
	}
	return nil
}

// Validate checks every attribute against its range.
func (a Attributes) Validate(name string) error {
	bad := func(format string, args ...any) error {
		return errdefs.New(errdefs.ErrInvalid, "invalid_attribute", format, args...)
	}
	switch {
	case a.VisibilityTimeout < 0 || a.VisibilityTimeout > MaxVisibilityTimeout:
		return bad("visibility_timeout %s out of range 0s..12h", a.VisibilityTimeout)
	case a.Retention < MinRetention || a.Retention > MaxRetention:
		return bad("retention %s out of range 1m..14d", a.Retention)
	case a.Delay < 0 || a.Delay > MaxDelay:
		return bad("delay %s out of range 0s..15m", a.Delay)
	case a.ReceiveWait < 0 || a.ReceiveWait > MaxReceiveWait:
		return bad("receive_wait %s out of range 0s..20s", a.ReceiveWait)
	case a.MaxMessageSize < MinMessageSize || a.MaxMessageSize > MaxMessageSize:
		return bad("max_message_size %d out of range 1024..1048576 bytes", a.MaxMessageSize)
	case a.MaxReceives < 0 || a.MaxReceives > MaxMaxReceives:
		return bad("max_receives %d out of range 0..%d", a.MaxReceives, MaxMaxReceives)
	case a.DeadLetter != "" && a.MaxReceives == 0:
		return bad("dead_letter %q needs max_receives", a.DeadLetter)
	case a.DeadLetter != "" && a.DeadLetter == name:
		return bad("queue %q cannot be its own dead_letter", name)
	case a.FIFO != strings.HasSuffix(name, FIFOSuffix):
		return bad("a FIFO queue's name ends in .fifo, and only a FIFO queue's: %q", name)
	case !a.FIFO && (a.ContentDedup || a.DedupPerGroup || a.ThroughputPerGroup):
		return bad("content-based deduplication, deduplication scope and throughput limit are for FIFO queues")
	}
	if a.DeadLetter != "" {
		if err := ValidateName(a.DeadLetter); err != nil {
			return fmt.Errorf("dead_letter: %w", err)
		}
	}
	return nil
}

// Tag limits, the same as Amazon SQS's.
const (
	MaxTags        = 50  // per queue
	MaxTagKeyLen   = 128 // characters
	MaxTagValueLen = 256 // characters
)

// validateTags checks tags about to be added to a queue that has old: every
// key and value within its length, keys not in the reserved "aws:" space,
// and no more than MaxTags in all.
func validateTags(old, tags map[string]string) error {
	bad := func(format string, args ...any) error {
		return errdefs.New(errdefs.ErrInvalid, "invalid_tag", format, args...)
	}
	n := len(old)
	for k, v := range tags {
		switch kl := utf8.RuneCountInString(k); {
		case kl == 0 || kl > MaxTagKeyLen:
			return bad("tag key %q must be 1 to %d characters", k, MaxTagKeyLen)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return bad("tag key %q: the prefix aws: is reserved", k)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return bad("tag %q is not valid UTF-8", k)
		case utf8.RuneCountInString(v) > MaxTagValueLen:
			return bad("tag %q: value longer than %d characters", k, MaxTagValueLen)
		}
		if _, ok := old[k]; !ok {
			n++
		}
	}
	if n > MaxTags {
		return bad("a queue has at most %d tags; this would make %d", MaxTags, n)
	}
	return nil
}
