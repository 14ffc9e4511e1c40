package api

import "fmt"

// ErrorResponse is the body of every response with a status of 400 or more.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Error is a machine-readable code and a message for humans. Diagnostics
// point into a job file for errors in one.
type Error struct {
	Code        string       `json:"code"`
	Message     string       `json:"message"`
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
	// Status is the HTTP status the error came with; it is not sent.
	Status int `json:"-"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// Diagnostic is one problem in a job file, at a position.
type Diagnostic struct {
	Severity string `json:"severity"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
}

// Health is the body of GET /v1/health.
type Health struct {
	// Status is "ok", or "degraded" while writes fail (a full or failing
	// disk); the answer is then 503 and Reason says why.
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Version string `json:"version,omitempty"`
}
