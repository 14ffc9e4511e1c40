// Package scheduler is Docket's control layer: the server that owns the
// queues, keeps the desired state of jobs and nodes and decides where
// allocations run. [New] wires a [Server] from its [Config].
//
// Every operation is one transport-free method taking the caller's
// [Identity]: RegisterJobs, StopJob, ScaleJob, CreateQueue, Send,
// Receive, DeleteMessages, RegisterNode, Heartbeat, UpdateAllocStatus and
// the rest. Reads that wait take a [Query] (blocking queries) and return
// the index of what they show. Transports decode, authenticate and map
// errors onto their own codes (scheduler/httpapi for the native API,
// scheduler/aws/... for the AWS protocols); the decisions are made here.
// The package imports no net/http.
//
// [Server.Run] drives the server's loops until its context ends: the
// queue engine's maintenance, and the leader's loops (broker, workers,
// queue-job drivers, heartbeat and drain-deadline timers, GC), started and
// stopped together by one owner.
package scheduler
