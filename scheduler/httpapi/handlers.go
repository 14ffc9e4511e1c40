package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// Handlers translate: each decodes its request, calls one method of the
// control layer with the caller's identity, and writes the answer or the
// error. A call that fails because its client went away (a long poll or
// a blocking query given up) is not answered.

// fail answers err, unless the client has gone away.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	a.writeError(w, r, err)
}

// answer writes v with status, or the error.
func answer[T any](a *API, w http.ResponseWriter, r *http.Request, status int, v T, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// indexHeader carries the index of what a blocking query's answer shows.
const indexHeader = "X-Docket-Index"

// query reads a blocking query's ?index and ?wait.
func query(r *http.Request) (scheduler.Query, error) {
	q := r.URL.Query()
	var out scheduler.Query
	if v := q.Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return out, errdefs.New(errdefs.ErrInvalid, "invalid_index", "index %q is not a number", v)
		}
		out.Index = n
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return out, errdefs.New(errdefs.ErrInvalid, "invalid_wait", "wait %q is not a duration", v)
		}
		// ?wait=0 asks for no wait at all: the query's zero means the
		// default.
		out.Wait = max(d, time.Nanosecond)
	}
	return out, nil
}

// blocking serves a blocking query: read runs the query, and its answer
// carries the index in X-Docket-Index.
func blocking[T any](a *API, w http.ResponseWriter, r *http.Request, read func(scheduler.Query) (T, uint64, error)) {
	q, err := query(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	v, idx, err := read(q)
	if idx > 0 || err == nil {
		w.Header().Set(indexHeader, strconv.FormatUint(idx, 10))
	}
	answer(a, w, r, http.StatusOK, v, err)
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	h := a.srv.Health(r.Context())
	status := http.StatusOK
	if h.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

// Queues.

func (a *API) createQueue(w http.ResponseWriter, r *http.Request) {
	var in api.QueueSettings
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.CreateQueue(r.Context(), identity(r), in)
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
	}
	answer(a, w, r, status, out, err)
}

func (a *API) listQueues(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.srv.ListQueues(r.Context(), identity(r)))
}

func (a *API) getQueue(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.GetQueue(r.Context(), identity(r), r.PathValue("name"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) updateQueue(w http.ResponseWriter, r *http.Request) {
	var in api.QueueSettings
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.UpdateQueue(r.Context(), identity(r), r.PathValue("name"), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) deleteQueue(w http.ResponseWriter, r *http.Request) {
	if err := a.srv.DeleteQueue(r.Context(), identity(r), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) sendMessages(w http.ResponseWriter, r *http.Request) {
	var req api.SendRequest
	if err := decode(w, r, &req, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.Send(r.Context(), identity(r), r.PathValue("name"), &req)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) receiveMessages(w http.ResponseWriter, r *http.Request) {
	var req api.ReceiveRequest
	if err := decode(w, r, &req, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.Receive(r.Context(), identity(r), r.PathValue("name"), &req)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) deleteMessages(w http.ResponseWriter, r *http.Request) {
	var req api.DeleteRequest
	if err := decode(w, r, &req, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.DeleteMessages(r.Context(), identity(r), r.PathValue("name"), &req)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) changeVisibility(w http.ResponseWriter, r *http.Request) {
	var req api.VisibilityRequest
	if err := decode(w, r, &req, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.srv.ChangeVisibility(r.Context(), identity(r), r.PathValue("name"), req); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) purgeQueue(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.Purge(r.Context(), identity(r), r.PathValue("name"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) redriveQueue(w http.ResponseWriter, r *http.Request) {
	var req api.RedriveRequest
	if err := decode(w, r, &req, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.Redrive(r.Context(), identity(r), r.PathValue("name"), req)
	answer(a, w, r, http.StatusOK, out, err)
}

// Jobs.

// readJobFile reads a job file from a request: HCL (Content-Type
// application/hcl, variables as ?var=k=v, the name for messages as
// ?filename=) or the JSON model. It only reads: parsing, which a client
// can make costly, is the control layer's, in a parse slot.
func readJobFile(w http.ResponseWriter, r *http.Request) (*scheduler.JobFile, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/hcl" && ct != "text/hcl" && ct != "application/x-hcl" {
		var f specs.File
		if err := decode(w, r, &f, false); err != nil {
			return nil, err
		}
		return &scheduler.JobFile{Model: &f}, nil
	}
	src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, scheduler.MaxJobFile))
	if err != nil {
		return nil, errdefs.New(errdefs.ErrTooLarge, "request_too_large", "job file over %d bytes", scheduler.MaxJobFile)
	}
	in := &scheduler.JobFile{HCL: true, Filename: r.URL.Query().Get("filename"), Source: src, Vars: map[string]string{}}
	for _, kv := range r.URL.Query()["var"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errdefs.New(errdefs.ErrInvalid, "invalid_variable", "var %q: want name=value", kv)
		}
		in.Vars[k] = v
	}
	return in, nil
}

// writeJobFileError answers a refused job file with every diagnostic.
func writeJobFileError(w http.ResponseWriter, e *scheduler.JobFileError) {
	out := api.Error{Code: e.Err.Code, Message: e.Err.Message}
	for _, d := range e.Diags {
		ad := api.Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			ad.Severity = "warning"
		}
		if d.Subject != nil {
			ad.File, ad.Line, ad.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
		}
		out.Diagnostics = append(out.Diagnostics, ad)
	}
	writeJSON(w, statusOf(e), api.ErrorResponse{Error: out})
}

func (a *API) registerJobs(w http.ResponseWriter, r *http.Request) {
	in, err := readJobFile(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var out any
	if r.URL.Query().Get("plan") == "true" {
		out, err = a.srv.PlanJobs(r.Context(), identity(r), in)
	} else {
		out, err = a.srv.RegisterJobs(r.Context(), identity(r), in)
	}
	var jfe *scheduler.JobFileError
	if errors.As(err, &jfe) {
		writeJobFileError(w, jfe)
		return
	}
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	blocking(a, w, r, func(q scheduler.Query) (api.JobList, uint64, error) {
		return a.srv.ListJobs(r.Context(), identity(r), q)
	})
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	blocking(a, w, r, func(q scheduler.Query) (api.JobStatus, uint64, error) {
		return a.srv.GetJob(r.Context(), identity(r), r.PathValue("name"), q)
	})
}

func (a *API) stopJob(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.StopJob(r.Context(), identity(r), r.PathValue("name"), r.URL.Query().Get("purge") == "true")
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) scaleJob(w http.ResponseWriter, r *http.Request) {
	var in api.ScaleRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.ScaleJob(r.Context(), identity(r), r.PathValue("name"), in.Count)
	answer(a, w, r, http.StatusOK, out, err)
}

// Nodes.

func (a *API) registerNode(w http.ResponseWriter, r *http.Request) {
	var in api.RegisterNodeRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.RegisterNode(r.Context(), identity(r), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) heartbeatNode(w http.ResponseWriter, r *http.Request) {
	var in api.HeartbeatRequest
	if err := decode(w, r, &in, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.Heartbeat(r.Context(), identity(r), r.PathValue("id"), &in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) listNodes(w http.ResponseWriter, r *http.Request) {
	blocking(a, w, r, func(q scheduler.Query) (api.NodeList, uint64, error) {
		return a.srv.ListNodes(r.Context(), identity(r), q)
	})
}

func (a *API) getNode(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.GetNode(r.Context(), identity(r), r.PathValue("id"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) drainNode(w http.ResponseWriter, r *http.Request) {
	var in api.DrainRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.DrainNode(r.Context(), identity(r), r.PathValue("id"), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) setNodeEligibility(w http.ResponseWriter, r *http.Request) {
	var in api.EligibilityRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.SetNodeEligibility(r.Context(), identity(r), r.PathValue("id"), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) nodeAllocations(w http.ResponseWriter, r *http.Request) {
	blocking(a, w, r, func(q scheduler.Query) (api.NodeAllocations, uint64, error) {
		return a.srv.NodeAllocations(r.Context(), identity(r), r.PathValue("id"), q)
	})
}

// Allocations.

func (a *API) listAllocs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := scheduler.AllocFilter{Job: q.Get("job"), Node: q.Get("node"), Status: q.Get("status")}
	blocking(a, w, r, func(q scheduler.Query) (api.AllocList, uint64, error) {
		return a.srv.ListAllocs(r.Context(), identity(r), f, q)
	})
}

func (a *API) getAlloc(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.GetAlloc(r.Context(), identity(r), r.PathValue("id"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) updateAllocStatus(w http.ResponseWriter, r *http.Request) {
	var in api.AllocStatusRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.srv.UpdateAllocStatus(r.Context(), identity(r), r.PathValue("id"), &in); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
