// Package store is Docket's one embedded database, on bbolt: the bucket
// layout, the schema version and group-committed writes. It is the only
// package that imports bbolt.
//
// The control plane keeps its records in memory and uses the store as their
// durable copy: every change is a [WriteSet] of puts and deletes, committed
// through [DB.Commit]. Commits that arrive while another is being written
// and fsync'd share the next bbolt transaction, so a burst of changes costs
// one fsync, and a lone change costs no added wait.
package store
