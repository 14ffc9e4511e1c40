// Package queue is Docket's durable queue engine with the semantics of
// Amazon SQS standard queues: at-least-once delivery, visibility timeouts,
// per-message delays, long polling, receive counts and dead-letter queues.
//
// # Storage
//
// Every change — a queue defined, a message sent, received, made visible,
// deleted, moved to a dead-letter queue, purged — is one record in an
// append-only, segmented log ([wal.Log]) that group-commits: the operation
// is acknowledged only after the commit holding its record is fsync'd, and
// operations that arrive while a commit is being written share the next
// one. Memory holds only a compact index (about a hundred bytes a message:
// sequence, log position, times, receive count); bodies and attributes stay
// on disk and are read back when a message is received. Open replays the
// log to rebuild the index.
//
// Records are applied to the in-memory index at the moment they take their
// place in the log, under the queue's lock, and the caller then waits for
// the commit without the lock. Because commits reach disk in log order, any
// prefix of the log that survives a crash replays into a state the engine
// has been in, and no caller has been told of a change that is not in it.
//
// # Compaction
//
// Messages that stay long would pin every later segment, so the engine
// copies the live messages of the oldest segment forward (one record with
// the message's whole current state) and then drops that segment; queue
// definitions and a checkpoint of the sequence counters are rewritten
// before any segment is dropped.
//
// # Lock order
//
//  1. Engine.mu (the queue directory)
//  2. queueState.mu, two of them in ascending queue id
//  3. Engine.segMu (live bytes per segment), and the log's own lock, both leaves
package queue
