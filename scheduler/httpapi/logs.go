package httpapi

import (
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/docketd/docket/internal/errdefs"
)

// allocLogs proxies a task's logs from the agent of the allocation's node,
// so that clients need only the server's address. Streaming (?follow)
// passes through as it comes, until the server stops.
func (a *API) allocLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	addr, err := a.srv.AllocLogsAddress(r.Context(), identity(r), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	target := &url.URL{Scheme: "http", Host: addr}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = addr
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			a.writeError(w, r, errdefs.New(errdefs.ErrUnavailable, "node_unreachable", "the agent of allocation %s at %s did not answer: %v", id, addr, err))
		},
	}
	ctx, stop := a.srv.UntilStopping(r.Context())
	defer stop()
	proxy.ServeHTTP(w, r.WithContext(ctx))
}
