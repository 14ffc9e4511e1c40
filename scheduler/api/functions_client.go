package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The headers of the functions' routes: what Lambda's API carries in
// X-Amz- headers, the native API carries in these.
const (
	HeaderInvocationType = "X-Docket-Invocation-Type"
	HeaderClientContext  = "X-Docket-Client-Context"
	HeaderTraceID        = "X-Docket-Trace-Id"
	HeaderRequestID      = "X-Docket-Request-Id"
	HeaderFunctionError  = "X-Docket-Function-Error"
	HeaderVersion        = "X-Docket-Executed-Version"
	HeaderDeadline       = "X-Docket-Deadline-Ms"
	HeaderDuration       = "X-Docket-Duration-Ns"
	HeaderInitDuration   = "X-Docket-Init-Duration-Ns"
)

// maxAnswer bounds the payload the client reads back: a response's
// limit and room.
const maxAnswer = 6<<20 + 64<<10

func functionPath(name string, rest ...string) string {
	p := "/v1/functions/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Invoke invokes a function. A function's failure is no error: the
// response says so in FunctionError, with the error report as payload.
func (c *Client) Invoke(ctx context.Context, name string, in InvokeRequest) (*InvokeResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+functionPath(name, "invoke"), bytes.NewReader(in.Payload))
	if err != nil {
		return nil, err
	}
	if in.Type != "" {
		req.Header.Set(HeaderInvocationType, in.Type)
	}
	if in.ClientContext != "" {
		req.Header.Set(HeaderClientContext, in.ClientContext)
	}
	if in.TraceID != "" {
		req.Header.Set(HeaderTraceID, in.TraceID)
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, decodeError(resp)
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	return &InvokeResponse{
		RequestID: resp.Header.Get(HeaderRequestID), StatusCode: resp.StatusCode, Payload: payload,
		FunctionError: resp.Header.Get(HeaderFunctionError), ExecutedVersion: resp.Header.Get(HeaderVersion),
	}, nil
}

// Functions lists the functions.
func (c *Client) Functions(ctx context.Context) ([]Function, error) {
	var out Functions
	return out.Functions, c.Do(ctx, http.MethodGet, "/v1/functions", nil, &out)
}

// Function describes a function and its environments.
func (c *Client) Function(ctx context.Context, name string) (*Function, error) {
	var out Function
	return &out, c.Do(ctx, http.MethodGet, functionPath(name), nil, &out)
}

// NextInvocation is an execution environment's poll (agents only): it
// reports how the previous invocation ended, when prev is set, and waits
// up to wait for the next; nil when none came. A negative wait makes it
// the environment's last report, which takes no invocation: its
// container ended.
func (c *Client) NextInvocation(ctx context.Context, alloc string, prev *InvocationResult, wait time.Duration) (*Invocation, error) {
	var body []byte
	if prev != nil {
		body = prev.Payload
	}
	path := "/v1/allocations/" + url.PathEscape(alloc) + "/invocations/next?wait=" + wait.String()
	if wait < 0 {
		path = "/v1/allocations/" + url.PathEscape(alloc) + "/invocations/next?final=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if prev != nil {
		req.Header.Set(HeaderRequestID, prev.RequestID)
		if prev.Error {
			req.Header.Set(HeaderFunctionError, FunctionErrorUnhandled)
		}
		req.Header.Set(HeaderDuration, strconv.FormatInt(int64(prev.Duration), 10))
		if prev.Init > 0 {
			req.Header.Set(HeaderInitDuration, strconv.FormatInt(int64(prev.Init), 10))
		}
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, decodeError(resp)
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	inv := &Invocation{RequestID: resp.Header.Get(HeaderRequestID), Payload: payload,
		TraceID: resp.Header.Get(HeaderTraceID), ClientContext: resp.Header.Get(HeaderClientContext)}
	if ms, err := strconv.ParseInt(resp.Header.Get(HeaderDeadline), 10, 64); err == nil {
		inv.Deadline = time.UnixMilli(ms)
	}
	return inv, nil
}
