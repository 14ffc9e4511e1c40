// Package state holds the control plane's records — jobs, nodes,
// allocations and evaluations — in memory, with their durable copy in
// [store.DB].
//
// Every change is a typed [Command], applied as an [Entry]: the command
// stamped with the index it takes and the time it was proposed at.
// [State.Apply] stamps a command with the next index and the state's clock;
// [State.ApplyEntry] applies an entry stamped elsewhere (a log's leader, a
// replay). Applying an entry changes the in-memory records and commits the
// records it touched as one write set. It reads no clock, and its effect
// depends only on the state and the entry, so the same entries applied in
// the same order give the same state: a replicated log can carry entries
// later without changing callers. Readers get immutable records: a command
// replaces a record, it never edits one in place.
//
// The index orders every change. Each table, each node's allocations and
// each job's allocations remember the index of their last change, which
// serves blocking queries ([State.WaitIndex]) and the event stream
// ([State.Events]).
//
// A commit that fails is a state, not a crash (failure.go): memory is
// reloaded from the store, so that nothing a failed commit changed stays,
// and on a full or failing disk commands are refused with storage_full or
// storage_failed until a probe commit works, which needs no restart.
// Commands are applied to memory before their commit completes, so that
// the next command is decided on them and commands of concurrent callers
// share a commit; a reader may see a change while it is being committed.
package state
