// Package api holds the wire types of Docket's HTTP API and the Go client
// that the CLI and the agent use. Every request and response body is JSON;
// every error is an [ErrorResponse] with a stable code.
package api
