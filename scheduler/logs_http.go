package scheduler

import (
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/state"
)

// allocLogs proxies a task's logs from the agent of the allocation's node,
// so that clients need only the server's address. Streaming (?follow)
// passes through as it comes.
func (s *Server) allocLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var addr string
	var found bool
	s.state.View(func(rd *state.Reader) {
		a := rd.Alloc(id)
		if a == nil {
			return
		}
		found = true
		if n := rd.Node(a.NodeID); n != nil {
			addr = n.Address
		}
	})
	switch {
	case !found:
		s.writeError(w, r, errdefs.New(errdefs.ErrNotFound, "allocation_not_found", "allocation %q does not exist", id))
		return
	case addr == "":
		s.writeError(w, r, errdefs.New(errdefs.ErrUnavailable, "node_unreachable", "the node of allocation %s has no address", id))
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
			s.writeError(w, r, errdefs.New(errdefs.ErrUnavailable, "node_unreachable", "the agent of allocation %s at %s did not answer: %v", id, addr, err))
		},
	}
	proxy.ServeHTTP(w, r)
}
