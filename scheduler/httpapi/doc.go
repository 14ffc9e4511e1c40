// Package httpapi is Docket's native HTTP API over the control layer
// (package scheduler), with the SQS-compatible endpoint on the same
// address.
//
// routes.go is the one route table: every route names its limits (the
// largest body it takes, whether it waits or streams) and the ACL
// capability it needs. Handlers translate: decode a request within its
// limits, call one [scheduler.Server] method with the caller's identity,
// and write the answer or map the error onto a status with its stable
// code. The package also holds the HTTP server's timeouts and connection
// limits (server.go), blocking-query parameters, the event stream, the
// logs relay (agents answer on their own channel) and /metrics.
package httpapi
