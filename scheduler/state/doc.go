// Package state holds the control plane's records — jobs, nodes,
// allocations and evaluations — in memory, with their durable copy in
// [store.DB].
//
// Every change is a typed [Command] applied by one function, [State.Apply]:
// it assigns the next index and commits the records the command touches as
// one write set. Because the command is a value and its effect depends only
// on the state it is applied to, the index and the leader's time, a
// replicated log can wrap Apply later without changing callers. Readers get
// immutable records: a command replaces a record, it never edits one in
// place.
//
// Nothing in memory runs ahead of the disk. Apply applies a command once to
// work out its write set and undoes it at once, commits the write set while
// readers go on reading the committed state, and only once it is durable
// applies the same command again, with the same index and time, for readers
// (and waiters, and the event stream) to see. A command whose commit fails
// changes nothing in memory and returns the store's storage_full or
// storage_failed error. Apply holds one lock from the first pass to the
// second, so commands are decided one at a time, each on the committed
// result of the one before; they do not share a commit.
//
// The index orders every change. Each table, each node's allocations and
// each job's allocations remember the index of their last change, which
// serves blocking queries ([State.WaitIndex]) and the event stream
// ([State.Events]).
package state
