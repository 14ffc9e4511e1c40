// Package runtimeapi serves the AWS Lambda runtime API to one execution
// environment: the HTTP API a function's runtime (aws-lambda-go's
// lambda.Start, a shell "custom runtime" bootstrap, any of AWS's runtime
// interface clients) polls for invocations and answers on, at
// AWS_LAMBDA_RUNTIME_API. The agent runs one Server per environment and
// hands it invocations with Invoke, which returns the runtime's answer.
//
// The API, version 2018-06-01:
//
//	GET  /2018-06-01/runtime/invocation/next            the next event (long poll)
//	POST /2018-06-01/runtime/invocation/{id}/response   its result       → 202
//	POST /2018-06-01/runtime/invocation/{id}/error      its failure      → 202
//	POST /2018-06-01/runtime/init/error                 init failed      → 202
//
// The next event comes with the Lambda-Runtime-Aws-Request-Id,
// -Deadline-Ms, -Invoked-Function-Arn and -Trace-Id headers (and
// -Client-Context, -Cognito-Identity when given). A response over
// MaxResponse is refused with 413 and fails the invocation
// (Function.ResponseSizeTooLarge). Calls out of order are refused as AWS's
// runtime interface emulator refuses them: an answer for a request id
// that is not the one in progress is 400 InvalidRequestID, an init error
// after the first event 403 InvalidStateTransition.
package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// MaxResponse is the largest response a runtime may post, as Lambda's
// synchronous invocations allow.
const MaxResponse = 6 << 20

// maxErrorBody bounds an error report.
const maxErrorBody = 1 << 20

// Invocation is one event for the runtime.
type Invocation struct {
	RequestID       string
	Payload         []byte
	Deadline        time.Time
	TraceID         string
	ClientContext   string
	CognitoIdentity string
}

// Result is the runtime's answer to an invocation: its response payload,
// or its error.
type Result struct {
	Payload []byte
	// Error is set when the function failed: the runtime's error report
	// (errorType, errorMessage, ...), or the server's own when the
	// response was too large.
	Error *FunctionError
}

// FunctionError is a function's failure as Lambda reports it.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
	// Body is the report as the runtime posted it (JSON), returned to
	// the invoker as Lambda returns it.
	Body []byte `json:"-"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// ErrClosed is returned by Invoke once the server is closed: the
// environment ended, with the invocation unanswered if one was running.
var ErrClosed = errors.New("runtimeapi: the environment is closed")

// ErrInit is returned by Invoke once the runtime reported that its
// initialization failed; Server.InitError has the report.
var ErrInit = errors.New("runtimeapi: the runtime failed to initialize")

// Config configures a Server.
type Config struct {
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	FunctionARN string
}

// Server is the runtime API of one execution environment: it holds at
// most one invocation in progress, as a Lambda environment does.
type Server struct {
	cfg Config

	mu      sync.Mutex
	queued  *call // handed to Invoke, not yet taken by /next
	current *call // taken by /next, not yet answered
	started bool  // /next was called once: init is over
	initErr *FunctionError
	wake    chan struct{} // closed when queued changes
	closed  bool
	// ready is closed at the runtime's first /next: its init is over;
	// closedCh when the server closes.
	ready, closedCh chan struct{}
}

// call is an invocation in the server's hands.
type call struct {
	inv  Invocation
	done chan Result
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	return &Server{cfg: cfg, wake: make(chan struct{}), ready: make(chan struct{}), closedCh: make(chan struct{})}
}

// Handler serves the runtime API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.initError)
	return mux
}

// Invoke hands inv to the runtime and waits for its answer, until ctx
// ends (a timeout: the caller then stops the environment, which is no
// longer in a known state). Only one invocation runs at a time: an Invoke
// while another is queued or running fails.
func (s *Server) Invoke(ctx context.Context, inv Invocation) (Result, error) {
	c := &call{inv: inv, done: make(chan Result, 1)}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return Result{}, ErrClosed
	case s.initErr != nil:
		s.mu.Unlock()
		return Result{}, ErrInit
	case s.queued != nil || s.current != nil:
		s.mu.Unlock()
		return Result{}, errors.New("runtimeapi: the environment is busy")
	}
	s.queued = c
	s.signal()
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		if s.queued == c {
			s.queued = nil
		}
		if s.current == c {
			s.current = nil
		}
		s.mu.Unlock()
	}
	select {
	case r := <-c.done:
		return r, nil
	case <-ctx.Done():
		forget()
		return Result{}, ctx.Err()
	case <-s.closedCh:
		select {
		case r := <-c.done: // answered as it closed
			return r, nil
		default:
		}
		forget()
		return Result{}, ErrClosed
	}
}

// Closed reports whether Close was called.
func (s *Server) Closed() bool {
	select {
	case <-s.closedCh:
		return true
	default:
		return false
	}
}

// Ready is closed when the runtime first asks for an invocation: its
// initialization is over.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// InitError is the runtime's init error report, if it made one.
func (s *Server) InitError() *FunctionError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initErr
}

// Close fails what waits and refuses further invocations.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closedCh)
	}
	s.signal()
}

func (s *Server) signal() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// apiError answers as the runtime interface emulator does.
func apiError(w http.ResponseWriter, status int, typ, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": fmt.Sprintf(format, args...)})
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}` + "\n"))
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	for {
		s.mu.Lock()
		if !s.started {
			s.started = true
			close(s.ready)
		}
		if s.closed {
			s.mu.Unlock()
			apiError(w, http.StatusGone, "EnvironmentClosed", "the execution environment is shutting down")
			return
		}
		if s.current != nil {
			// The runtime asked for the next event without answering
			// this one: Lambda takes that as the runtime failing it.
			c := s.current
			s.current = nil
			c.done <- Result{Error: &FunctionError{Type: "Runtime.InvalidStateTransition",
				Message: "the runtime asked for the next invocation without answering " + c.inv.RequestID}}
		}
		if c := s.queued; c != nil {
			s.queued, s.current = nil, c
			s.mu.Unlock()
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Lambda-Runtime-Aws-Request-Id", c.inv.RequestID)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(c.inv.Deadline.UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", s.cfg.FunctionARN)
			if c.inv.TraceID != "" {
				h.Set("Lambda-Runtime-Trace-Id", c.inv.TraceID)
			}
			if c.inv.ClientContext != "" {
				h.Set("Lambda-Runtime-Client-Context", c.inv.ClientContext)
			}
			if c.inv.CognitoIdentity != "" {
				h.Set("Lambda-Runtime-Cognito-Identity", c.inv.CognitoIdentity)
			}
			w.WriteHeader(http.StatusOK)
			w.Write(c.inv.Payload)
			return
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-r.Context().Done():
			return // the runtime went away; the event waits for the next
		}
	}
}

// answering returns the invocation id names if it is the one in progress.
func (s *Server) answering(w http.ResponseWriter, id string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil || s.current.inv.RequestID != id {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "invalid request ID %q: no such invocation in progress", id)
		return nil
	}
	c := s.current
	s.current = nil
	return c
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponse+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "reading the response: %v", err)
		return
	}
	c := s.answering(w, id)
	if c == nil {
		return
	}
	if len(body) > MaxResponse {
		msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponse)
		b, _ := json.Marshal(map[string]string{"errorType": "Function.ResponseSizeTooLarge", "errorMessage": msg})
		c.done <- Result{Error: &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: msg, Body: b}}
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "%s", msg)
		return
	}
	c.done <- Result{Payload: body}
	accepted(w)
}

// readError reads an error report: JSON with errorType and errorMessage,
// the type also in Lambda-Runtime-Function-Error-Type.
func readError(r *http.Request) (*FunctionError, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	if err != nil {
		return nil, err
	}
	fe := &FunctionError{}
	if json.Unmarshal(body, fe) != nil || fe.Type == "" && fe.Message == "" {
		fe = &FunctionError{Message: string(body)}
	}
	if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); fe.Type == "" && t != "" {
		fe.Type = t
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	fe.Body, _ = json.Marshal(map[string]string{"errorType": fe.Type, "errorMessage": fe.Message})
	if json.Valid(body) && len(body) > 0 {
		fe.Body = body
	}
	return fe, nil
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	fe, err := readError(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "reading the error: %v", err)
		return
	}
	c := s.answering(w, r.PathValue("id"))
	if c == nil {
		return
	}
	c.done <- Result{Error: fe}
	accepted(w)
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	fe, err := readError(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "reading the error: %v", err)
		return
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "init error reported after the first invocation was requested")
		return
	}
	s.initErr = fe
	q := s.queued
	s.queued = nil
	s.mu.Unlock()
	if q != nil {
		q.done <- Result{Error: &FunctionError{Type: "Runtime.InitError", Message: fe.Message, Body: fe.Body}}
	}
	accepted(w)
}
