// Package agent is Docket's node daemon. It registers its host with the
// server, heartbeats, watches the allocations the server assigns to it
// with a blocking query, and makes the host match: it starts what should
// run, stops what should not, restarts tasks per their restart policy and
// reports every change back. It keeps no state that containerd does not
// already keep for it: after a restart it finds its containers by label,
// reattaches to the ones that belong to current allocations, reports exits
// that happened while it was away, and removes orphans.
//
// The containers themselves are run by a [Runtime] (agent/containerd in
// production, a fake in unit tests).
package agent
