package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
)

// The functions' limits: an invocation's payload (6 MiB, Lambda's),
// waiting up to the longest function timeout for its answer; an
// environment's poll carries its previous answer and waits for the next
// invocation.
var (
	invokeLimits = limits{body: scheduler.MaxSyncPayload, hold: 15*time.Minute + time.Minute}
	pollLimits   = limits{body: scheduler.MaxSyncPayload + 1<<10, hold: scheduler.MaxInvocationPoll}
)

func (a *API) invokeFunction(w http.ResponseWriter, r *http.Request) {
	payload, err := readBody(r)
	if err != nil {
		a.writeError(w, r, bodyError(err))
		return
	}
	out, err := a.srv.Invoke(r.Context(), identity(r), r.PathValue("name"), api.InvokeRequest{
		Payload: payload, Type: r.Header.Get(api.HeaderInvocationType),
		ClientContext: r.Header.Get(api.HeaderClientContext), TraceID: r.Header.Get(api.HeaderTraceID),
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set(api.HeaderRequestID, out.RequestID)
	h.Set(api.HeaderVersion, out.ExecutedVersion)
	if out.FunctionError != "" {
		h.Set(api.HeaderFunctionError, out.FunctionError)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out.Payload)))
	w.WriteHeader(out.StatusCode)
	w.Write(out.Payload)
}

func (a *API) listFunctions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.srv.Functions(identity(r)))
}

func (a *API) getFunction(w http.ResponseWriter, r *http.Request) {
	f, err := a.srv.Function(identity(r), r.PathValue("name"))
	answer(a, w, r, http.StatusOK, f, err)
}

// nextInvocation is an environment's poll: the headers and body say how
// its previous invocation ended (when X-Docket-Request-Id names one), the
// answer is the next invocation, or 204 when none came within ?wait.
func (a *API) nextInvocation(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		a.writeError(w, r, bodyError(err))
		return
	}
	var prev *api.InvocationResult
	if id := r.Header.Get(api.HeaderRequestID); id != "" {
		prev = &api.InvocationResult{RequestID: id, Payload: body, Error: r.Header.Get(api.HeaderFunctionError) != ""}
		prev.Duration = durationHeader(r, api.HeaderDuration)
		prev.Init = durationHeader(r, api.HeaderInitDuration)
	}
	wait := scheduler.MaxInvocationPoll
	if r.URL.Query().Get("final") == "true" {
		wait = -1
	} else if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			a.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_wait", "wait %q is not a duration", v))
			return
		}
		wait = d
	}
	inv, err := a.srv.NextInvocation(r.Context(), identity(r), r.PathValue("id"), prev, wait)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if inv == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Set(api.HeaderRequestID, inv.RequestID)
	h.Set(api.HeaderDeadline, strconv.FormatInt(inv.Deadline.UnixMilli(), 10))
	if inv.TraceID != "" {
		h.Set(api.HeaderTraceID, inv.TraceID)
	}
	if inv.ClientContext != "" {
		h.Set(api.HeaderClientContext, inv.ClientContext)
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(inv.Payload)))
	w.WriteHeader(http.StatusOK)
	w.Write(inv.Payload)
}

func durationHeader(r *http.Request, name string) time.Duration {
	n, err := strconv.ParseInt(r.Header.Get(name), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n)
}
