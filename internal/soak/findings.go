package soak

import (
	"fmt"
	"sync"
)

// Kind is a category of finding.
type Kind string

// The kinds of finding. Any finding fails a run.
const (
	// Lost: an acknowledged send that no delete was attempted for and
	// that the final drain did not find.
	Lost Kind = "lost"
	// Resurrected: a message handed out by a receive that began after a
	// delete of it was acknowledged.
	Resurrected Kind = "resurrected"
	// Duplicate: a message handed out twice with the same receive count,
	// or with a count not above one answered before the receive began.
	Duplicate Kind = "duplicate"
	// WrongBody: a body unlike the one sent, or an id that carries another
	// message than the one it was acknowledged for.
	WrongBody Kind = "wrong body"
	// MissingAtRestart: after a restart the server held fewer messages than
	// it had acknowledged and not been asked to delete.
	MissingAtRestart Kind = "missing after restart"
	// ChildFailure: the server process panicked, reported a data race,
	// exited on its own or with a failure, or did not stop on SIGTERM.
	ChildFailure Kind = "child failure"
	// Hung: the server did not answer a call within callTimeout.
	Hung Kind = "hung call"
	// DiskFull: the server broke the disk-full contract (507
	// storage_full, health degraded, recovery without a restart).
	DiskFull Kind = "disk full"
	// Unexpected: an answer the protocol does not allow, such as a delete
	// result per receipt that is neither success nor an outdated receipt.
	Unexpected Kind = "unexpected answer"
	// PartialPublish: a publish found in some of its topic's queues but
	// not all (acknowledged or not: the fan-out is all or nothing).
	PartialPublish Kind = "partial publish"
	// Harness: the run did not do what it must to be meaningful, such as
	// too few compactions or a final drain that never emptied the queues.
	Harness Kind = "harness"
)

// kinds lists the kinds in the order reports show them.
var kinds = []Kind{Lost, Resurrected, Duplicate, WrongBody, MissingAtRestart, PartialPublish, ChildFailure, Hung, DiskFull, Unexpected, Harness}

// samplesPerKind bounds the examples kept of each kind.
const samplesPerKind = 10

// findings counts findings by kind and keeps the first few of each.
type findings struct {
	mu      sync.Mutex
	counts  map[Kind]int
	samples map[Kind][]string
}

func newFindings() *findings {
	return &findings{counts: map[Kind]int{}, samples: map[Kind][]string{}}
}

func (f *findings) add(k Kind, format string, args ...any) {
	f.addN(k, 1, format, args...)
}

// addN counts n findings of kind k under one description.
func (f *findings) addN(k Kind, n int, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[k] += n
	if len(f.samples[k]) < samplesPerKind {
		f.samples[k] = append(f.samples[k], fmt.Sprintf(format, args...))
	}
}

func (f *findings) count(k Kind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[k]
}
