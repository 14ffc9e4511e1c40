// Package scheduler is Docket's control plane: the server that owns the
// queues, keeps the desired state of jobs and nodes, decides where
// allocations run and serves the HTTP API. [New] wires a [Server] from its
// [Config]; [Server.Handler] is the whole HTTP API (every route is listed in
// routes.go); [Server.Run] drives the server's loops until its context ends.
package scheduler
