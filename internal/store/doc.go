// Package store is Docket's one embedded database, on bbolt: the bucket
// layout, the schema version and group-committed writes. It is the only
// package that imports bbolt.
//
// The control plane keeps its records in memory and uses the store as their
// durable copy: every change is a [WriteSet] of puts and deletes, committed
// through [DB.Commit]. Commits that arrive while another is being written
// and fsync'd share the next bbolt transaction, so a burst of changes costs
// one fsync, and a lone change costs no added wait.
//
// A failed write is a state of the store, not a crash. One write set whose
// own changes bbolt refuses fails alone; a transaction that cannot be made
// durable is tried again set by set, so that only what cannot be written
// fails. Its callers get an error of class [errdefs.ErrStorageFull] (a full
// disk) or [errdefs.ErrStorageFailed]; [DB.Err] reports it until the next
// commit succeeds, so the store recovers by itself once space is freed.
// Reads go on meanwhile. The one failure bbolt cannot take back (its meta
// page written, the fdatasync after it failed; see visible in store.go)
// makes the store refuse writes until it is opened again.
package store
