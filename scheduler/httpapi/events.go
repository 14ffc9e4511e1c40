package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler"
)

// eventHeartbeat is how often an idle event stream sends a line, so that
// clients and proxies know it is alive.
const eventHeartbeat = 30 * time.Second

// events streams state changes as NDJSON, one event a line, from ?index on.
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	accept, err := scheduler.ParseEventTopics(q["topic"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var since uint64
	if v := q.Get("index"); v != "" {
		if since, err = strconv.ParseUint(v, 10, 64); err != nil {
			a.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_index", "index %q is not a number", v))
			return
		}
	}
	caller := identity(r)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()
	for {
		select {
		case <-a.srv.Stopping():
			return // the server is stopping: the client resumes from its last index elsewhere or later
		default:
		}
		ctx, cancel := context.WithTimeout(r.Context(), eventHeartbeat)
		evs, gap, err := a.srv.Events(ctx, caller, since, accept)
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if err != nil { // the heartbeat interval passed with nothing new
			if _, err := w.Write([]byte("{}\n")); err != nil {
				return
			}
			flush()
			continue
		}
		if gap {
			enc.Encode(map[string]any{"gap": true, "index": since,
				"message": "events after this index are no longer kept: re-read the state and resume from its index"})
		}
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return
			}
			since = e.Index
		}
		if gap && len(evs) == 0 {
			since = a.srv.Index()
		}
		flush()
	}
}
