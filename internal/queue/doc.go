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
// the commit without the lock. A live operation builds its record and
// applies it with the same function replay uses for it (apply.go), so the
// state a restart rebuilds is the state the engine was in. Because commits
// reach disk in log order, any prefix of the log that survives a crash
// replays into a state the engine has been in, and no caller has been told
// of a change that is not in it. Replay does not depend on a queue's
// definition preceding its messages (compaction rewrites definitions at
// the tail): records met first go to a queue known by its id.
//
// # Failures
//
// A commit that fails (a full disk, an I/O error) puts the engine in a
// failed state instead of crashing it: writes are refused with
// storage_full or storage_failed, reads are served, Run rolls the index
// back to what reached disk at once, and recovers by itself once a probe
// write works, erasing what the failed commits left past the log's durable
// end so that no refused change comes back (recover.go).
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
//  1. Engine.compactMu (one compaction or recovery step at a time)
//  2. Engine.readMu (shared from taking a message's position to reading it;
//     exclusive to drop segments and to recover)
//  3. Engine.mu (the queue directory)
//  4. queueState.mu, two of them in ascending queue id
//  5. Engine.segMu (live bytes per segment), and the log's own lock, both leaves
package queue
