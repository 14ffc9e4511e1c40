package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/docketd/docket/specs"
)

// QueryOptions make a list call a blocking query: it answers once the data
// changed past Index, or after Wait.
type QueryOptions struct {
	Index uint64
	Wait  time.Duration
}

func (o QueryOptions) query() url.Values {
	v := url.Values{}
	if o.Index > 0 {
		v.Set("index", strconv.FormatUint(o.Index, 10))
	}
	if o.Wait > 0 {
		v.Set("wait", o.Wait.String())
	}
	return v
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// RegisterJobs registers the queues and jobs of a parsed job file. With
// plan set it changes nothing and returns the plan instead (in *PlanResponse).
func (c *Client) RegisterJobs(ctx context.Context, f *specs.File) (*RegisterResponse, error) {
	var out RegisterResponse
	return &out, c.Do(ctx, http.MethodPost, "/v1/jobs", f, &out)
}

// PlanJobs reports what registering f would do, changing nothing.
func (c *Client) PlanJobs(ctx context.Context, f *specs.File) (*PlanResponse, error) {
	var out PlanResponse
	return &out, c.Do(ctx, http.MethodPost, "/v1/jobs?plan=true", f, &out)
}

// RegisterJobsHCL sends an HCL job file for the server to parse, with its
// variables.
func (c *Client) RegisterJobsHCL(ctx context.Context, filename string, src []byte, vars map[string]string) (*RegisterResponse, error) {
	q := url.Values{"filename": {filename}}
	for k, v := range vars {
		q.Add("var", k+"="+v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+withQuery("/v1/jobs", q), bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/hcl")
	var out RegisterResponse
	return &out, c.send(req, &out)
}

// send performs req and decodes its answer like Do.
func (c *Client) send(req *http.Request, out any) error {
	resp, err := c.roundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return decodeError(resp)
	}
	if out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func decodeError(resp *http.Response) error {
	var er ErrorResponse
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(b, &er); err != nil || er.Error.Code == "" {
		return &Error{Code: "http_error", Message: fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b)), Status: resp.StatusCode}
	}
	er.Error.Status = resp.StatusCode
	return &er.Error
}

// getIndexed is a GET that returns the X-Docket-Index of the answer.
func (c *Client) getIndexed(ctx context.Context, path string, out any) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return 0, decodeError(resp)
	}
	idx, _ := strconv.ParseUint(resp.Header.Get("X-Docket-Index"), 10, 64)
	return idx, json.NewDecoder(resp.Body).Decode(out)
}

// Jobs lists jobs with their status.
func (c *Client) Jobs(ctx context.Context, q QueryOptions) ([]JobStatus, uint64, error) {
	var out JobList
	idx, err := c.getIndexed(ctx, withQuery("/v1/jobs", q.query()), &out)
	return out.Jobs, idx, err
}

// Job describes one job.
func (c *Client) Job(ctx context.Context, name string, q QueryOptions) (*JobStatus, uint64, error) {
	var out JobStatus
	idx, err := c.getIndexed(ctx, withQuery("/v1/jobs/"+url.PathEscape(name), q.query()), &out)
	return &out, idx, err
}

// StopJob stops a job; purge removes it too.
func (c *Client) StopJob(ctx context.Context, name string, purge bool) (*JobChangeResponse, error) {
	path := "/v1/jobs/" + url.PathEscape(name)
	if purge {
		path += "?purge=true"
	}
	var out JobChangeResponse
	return &out, c.Do(ctx, http.MethodDelete, path, nil, &out)
}

// ScaleJob sets a job's count.
func (c *Client) ScaleJob(ctx context.Context, name string, count int) (*JobChangeResponse, error) {
	var out JobChangeResponse
	return &out, c.Do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(name)+"/scale", ScaleRequest{Count: count}, &out)
}

// Allocations lists allocations matching the non-empty filters.
func (c *Client) Allocations(ctx context.Context, job, node, status string, q QueryOptions) ([]Allocation, uint64, error) {
	v := q.query()
	for k, val := range map[string]string{"job": job, "node": node, "status": status} {
		if val != "" {
			v.Set(k, val)
		}
	}
	var out AllocList
	idx, err := c.getIndexed(ctx, withQuery("/v1/allocations", v), &out)
	return out.Allocations, idx, err
}

// Allocation describes one allocation.
func (c *Client) Allocation(ctx context.Context, id string) (*Allocation, error) {
	var out Allocation
	return &out, c.Do(ctx, http.MethodGet, "/v1/allocations/"+url.PathEscape(id), nil, &out)
}

// UpdateAllocStatus reports an allocation's status (agents).
func (c *Client) UpdateAllocStatus(ctx context.Context, id string, req AllocStatusRequest) error {
	return c.Do(ctx, http.MethodPut, "/v1/allocations/"+url.PathEscape(id)+"/status", req, nil)
}

// Nodes lists nodes.
func (c *Client) Nodes(ctx context.Context, q QueryOptions) ([]NodeStatus, uint64, error) {
	var out NodeList
	idx, err := c.getIndexed(ctx, withQuery("/v1/nodes", q.query()), &out)
	return out.Nodes, idx, err
}

// Node describes one node.
func (c *Client) Node(ctx context.Context, id string) (*NodeStatus, error) {
	var out NodeStatus
	return &out, c.Do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(id), nil, &out)
}

// RegisterNode registers an agent's node.
func (c *Client) RegisterNode(ctx context.Context, req RegisterNodeRequest) (*RegisterNodeResponse, error) {
	var out RegisterNodeResponse
	return &out, c.Do(ctx, http.MethodPost, "/v1/nodes", req, &out)
}

// Heartbeat tells the server the node is alive.
func (c *Client) Heartbeat(ctx context.Context, id string, req HeartbeatRequest) (*HeartbeatResponse, error) {
	var out HeartbeatResponse
	return &out, c.Do(ctx, http.MethodPut, "/v1/nodes/"+url.PathEscape(id)+"/heartbeat", req, &out)
}

// DrainNode starts or ends a node's drain.
func (c *Client) DrainNode(ctx context.Context, id string, req DrainRequest) (*Node, error) {
	var out Node
	return &out, c.Do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(id)+"/drain", req, &out)
}

// SetNodeEligibility makes a node eligible for new allocations or not.
func (c *Client) SetNodeEligibility(ctx context.Context, id string, eligible bool) (*Node, error) {
	var out Node
	return &out, c.Do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(id)+"/eligibility", EligibilityRequest{Eligible: eligible}, &out)
}

// NodeAllocations is the agents' blocking query for their allocations.
func (c *Client) NodeAllocations(ctx context.Context, id string, q QueryOptions) (*NodeAllocations, error) {
	var out NodeAllocations
	idx, err := c.getIndexed(ctx, withQuery("/v1/nodes/"+url.PathEscape(id)+"/allocations", q.query()), &out)
	if err == nil && idx > out.Index {
		out.Index = idx
	}
	return &out, err
}

// LogsOptions select a task's log stream.
type LogsOptions struct {
	Task   string
	Stderr bool
	Follow bool
	Tail   int // lines; negative: everything
}

// Logs streams a task's stdout or stderr; the caller closes the reader.
func (c *Client) Logs(ctx context.Context, alloc string, o LogsOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if o.Task != "" {
		q.Set("task", o.Task)
	}
	if o.Stderr {
		q.Set("stream", "stderr")
	}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Tail >= 0 {
		q.Set("tail", strconv.Itoa(o.Tail))
	}
	return c.stream(ctx, withQuery("/v1/allocations/"+url.PathEscape(alloc)+"/logs", q))
}

// stream GETs path and returns the answer's body as it comes; an error
// answer is decoded.
func (c *Client) stream(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.Request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp.Body, nil
}

// Events opens the event stream (GET /v1/events): one JSON event a line,
// of the topics given (all when none), until ctx ends or the body is
// closed.
func (c *Client) Events(ctx context.Context, topics ...string) (io.ReadCloser, error) {
	q := url.Values{}
	for _, t := range topics {
		q.Add("topic", t)
	}
	return c.stream(ctx, withQuery("/v1/events", q))
}

// LogRequests waits up to wait for clients' requests for the logs of
// node's allocations (an agent's call).
func (c *Client) LogRequests(ctx context.Context, node string, wait time.Duration) ([]LogRequest, error) {
	var out LogRequests
	q := url.Values{"wait": {wait.String()}}
	return out.Requests, c.Do(ctx, http.MethodGet, withQuery("/v1/nodes/"+url.PathEscape(node)+"/log-requests", q), nil, &out)
}

// AnswerLogRequest sends body, with status and its content type, to the
// client of a log request (an agent's call). It returns once body ends
// or the client has gone away.
func (c *Client) AnswerLogRequest(ctx context.Context, node, id string, status int, contentType string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/nodes/"+url.PathEscape(node)+"/log-requests/"+url.PathEscape(id), body)
	if err != nil {
		return err
	}
	req.Header.Set(LogStatusHeader, strconv.Itoa(status))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.send(req, nil)
}
