package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/jsonfast"
	"github.com/docketd/docket/internal/msgchars"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
)

// decode reads a JSON request body into v, refusing unknown fields and
// trailing data. An empty body decodes as {} when allowEmpty. The body is
// bounded by its route's limit (routes.go). Text that encoding/json would
// silently alter (invalid UTF-8, unpaired surrogate escapes) is refused:
// a message would otherwise be stored, and its MD5 reported, other than
// as sent.
func decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	data, err := readBody(r)
	if err != nil {
		return bodyError(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if allowEmpty {
			return nil
		}
		return errdefs.New(errdefs.ErrInvalid, "invalid_json", "request body is empty, want a JSON object")
	}
	if fastDecode(data, v) { // it takes valid UTF-8 only
		return checkMessages(v)
	}
	if i := jsonfast.InvalidText(data); i >= 0 {
		if _, ok := v.(*api.SendRequest); ok {
			return errdefs.New(errdefs.ErrInvalid, msgchars.Code,
				"invalid UTF-8 or an unpaired surrogate escape at byte %d of the body; message contents may hold only %s", i, msgchars.Allowed)
		}
		return errdefs.New(errdefs.ErrInvalid, "invalid_json", "invalid UTF-8 or an unpaired surrogate escape at offset %d", i)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, data)
	}
	if dec.More() {
		return errdefs.New(errdefs.ErrInvalid, "invalid_json",
			"unexpected data after the JSON value at offset %d", dec.InputOffset())
	}
	return checkMessages(v)
}

// checkMessages refuses a send whose attribute names hold characters SQS
// does not allow (package msgchars). Bodies and attribute values are the
// queue engine's to check, message by message: a batch reports each
// refused message in its results, as SQS's SendMessageBatch does.
func checkMessages(v any) error {
	req, ok := v.(*api.SendRequest)
	if !ok {
		return nil
	}
	check := func(m *api.SendMessage, where string) error {
		for k := range m.Attributes {
			if err := msgchars.Check(k); err != nil {
				return fmt.Errorf("%sattribute name %q: %w", where, k, err)
			}
		}
		return nil
	}
	if err := check(&req.SendMessage, ""); err != nil {
		return err
	}
	for i := range req.Messages {
		if err := check(&req.Messages[i], fmt.Sprintf("message %d: ", i)); err != nil {
			return err
		}
	}
	return nil
}

// jsonError turns a decoding failure into an invalid_json error that says
// where the problem is.
func jsonError(err error, data []byte) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errdefs.New(errdefs.ErrInvalid, "invalid_json",
			"malformed JSON at offset %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return errdefs.New(errdefs.ErrInvalid, "invalid_json",
			"wrong type at offset %d: %s must be %s, not %s", typ.Offset, field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errdefs.New(errdefs.ErrInvalid, "invalid_json",
			"malformed JSON: unexpected end at offset %d", len(data))
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return errdefs.New(errdefs.ErrInvalid, "invalid_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return errdefs.New(errdefs.ErrInvalid, "invalid_json", "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// writeJSON answers with status and v as the JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if b, ok := fastEncode(nil, v); ok {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(status)
		w.Write(b)
		return
	}
	w.WriteHeader(status)
	jsonfast.Encode(w, v)
}

// writeError answers with err's status and an error body with its code.
// A server-busy refusal says when to retry.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status == http.StatusForbidden {
		a.denied(r, err)
	}
	if status >= 500 {
		a.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusServiceUnavailable && errdefs.Code(err, "") == "server_busy" && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, api.ErrorResponse{Error: *scheduler.APIError(err)})
}

// statusOf maps an error's class onto its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrOutdated):
		return http.StatusConflict
	case errors.Is(err, errdefs.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errdefs.ErrTooManyRequests):
		return http.StatusTooManyRequests
	case errors.Is(err, errdefs.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, errdefs.ErrPermissionDenied):
		return http.StatusForbidden
	case errors.Is(err, errReadTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, errURITooLong):
		return http.StatusRequestURITooLong
	case errors.Is(err, errdefs.ErrStorageFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrClosed),
		errors.Is(err, errdefs.ErrStorageFailed):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// jsonNotFound answers requests that match no route, or match one with
// another method, with a JSON error instead of the mux's plain text.
func jsonNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerRecorder{header: http.Header{}}
		mux.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, api.ErrorResponse{Error: api.Error{
				Code: "method_not_allowed", Message: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)}})
			return
		}
		writeJSON(w, http.StatusNotFound, api.ErrorResponse{Error: api.Error{
			Code: "route_not_found", Message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)}})
	})
}

// headerRecorder learns the status and headers a handler would answer with
// and discards its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
func (h *headerRecorder) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}
