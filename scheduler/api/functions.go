package api

import "time"

// Invocation types, as Lambda's X-Amz-Invocation-Type names them.
const (
	// InvokeSync waits for the function's answer.
	InvokeSync = "RequestResponse"
	// InvokeAsync queues the event durably and answers at once; the
	// server invokes the function, retrying a failure twice.
	InvokeAsync = "Event"
	// InvokeDryRun checks that the function exists and the caller may
	// invoke it.
	InvokeDryRun = "DryRun"
)

// FunctionErrorUnhandled is the X-Amz-Function-Error (and
// X-Docket-Function-Error) of an invocation whose function failed: the
// payload is its error report.
const FunctionErrorUnhandled = "Unhandled"

// InvokeRequest is one invocation of a function, on the native API as on
// Lambda's: the payload is the request body.
type InvokeRequest struct {
	Payload []byte
	// Type is InvokeSync (the default), InvokeAsync or InvokeDryRun.
	Type string
	// ClientContext is passed to the runtime as
	// Lambda-Runtime-Client-Context (base64 JSON, as Lambda takes it).
	ClientContext string
	// TraceID is passed as Lambda-Runtime-Trace-Id.
	TraceID string
}

// InvokeResponse is an invocation's outcome.
type InvokeResponse struct {
	RequestID string
	// StatusCode is Lambda's: 200 for a synchronous invocation (also
	// when the function failed), 202 for an asynchronous one, 204 for a
	// dry run.
	StatusCode int
	Payload    []byte
	// FunctionError is FunctionErrorUnhandled when the function failed.
	FunctionError string
	// ExecutedVersion is the function's version that ran ("$LATEST").
	ExecutedVersion string
}

// FunctionEnv is what an agent needs to run one execution environment
// of a function, in the environment's NodeAllocation.
type FunctionEnv struct {
	ARN     string `json:"arn"`
	Region  string `json:"region"`
	Version string `json:"version"`
}

// Invocation is an event the server hands an execution environment: the
// answer to its agent's poll.
type Invocation struct {
	RequestID     string
	Payload       []byte
	Deadline      time.Time
	TraceID       string
	ClientContext string
}

// InvocationResult is an environment's answer to the invocation it was
// handed, sent with its next poll.
type InvocationResult struct {
	RequestID string
	// Payload is the function's response, or its error report when Error.
	Payload []byte
	Error   bool
	// Duration is how long the runtime took, from handing it the event to
	// its answer; Init, for the environment's first invocation, how long
	// its runtime took to start (a cold start).
	Duration time.Duration
	Init     time.Duration
}

// Function is a function as GET /v1/functions/{name} shows it.
type Function struct {
	Name        string `json:"name"`
	ARN         string `json:"arn"`
	Version     uint64 `json:"version"`
	Handler     string `json:"handler,omitempty"`
	Memory      int    `json:"memory"`
	Timeout     string `json:"timeout"`
	Concurrency int    `json:"concurrency"`
	WarmMin     int    `json:"warm_min"`
	Queue       string `json:"queue,omitempty"`
	Stopped     bool   `json:"stopped,omitempty"`
	// Desired is the environments the server wants; Environments those
	// that have reached it.
	Desired      int                   `json:"desired"`
	Environments []FunctionEnvironment `json:"environments"`
	// Pending counts invocations waiting for an environment.
	Pending int `json:"pending"`
	// Queued counts asynchronous invocations not yet run.
	Queued int `json:"queued"`
}

// FunctionEnvironment is one execution environment of a function.
type FunctionEnvironment struct {
	Alloc string `json:"alloc"`
	Node  string `json:"node"`
	// State is "starting" (placed, its runtime not yet polling), "busy"
	// or "idle".
	State       string    `json:"state"`
	Invocations int       `json:"invocations"`
	LastUsed    time.Time `json:"last_used,omitzero"`
}

// Functions is GET /v1/functions.
type Functions struct {
	Functions []Function `json:"functions"`
}
