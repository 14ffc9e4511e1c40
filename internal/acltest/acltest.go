// Package acltest lets tests that are not about access control run
// against a server whose ACL is on: a handler that gives every request
// the credentials it lacks, as a trusted client would present them.
// Tests of the ACL itself call the server without it.
package acltest

import (
	"net/http"

	"github.com/docketd/docket/scheduler/api"
)

// NodeSecret is the node secret the credentials carry: fake agents
// register their nodes with it, and their calls for the nodes present it.
const NodeSecret = "acltest-node-secret-0123456789abcdef"

// Credentials serves h, adding token (as X-Docket-Token) and NodeSecret
// to each request that carries no token, no SigV4 or bearer
// Authorization, and no node secret of its own.
func Credentials(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(api.TokenHeader) == "" && r.Header.Get("Authorization") == "" {
			r.Header.Set(api.TokenHeader, token)
		}
		if r.Header.Get(api.NodeSecretHeader) == "" {
			r.Header.Set(api.NodeSecretHeader, NodeSecret)
		}
		h.ServeHTTP(w, r)
	})
}
