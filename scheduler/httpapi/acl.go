package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/promreg"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
)

type identityKey struct{}

// identity is who the request is, as serve authenticated it.
func identity(r *http.Request) scheduler.Identity {
	id, _ := r.Context().Value(identityKey{}).(scheduler.Identity)
	return id
}

// requestToken returns the token a request carries, in X-Docket-Token or
// as a bearer token.
func requestToken(r *http.Request) string {
	if t := r.Header.Get(api.TokenHeader); t != "" {
		return t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return ""
}

// aclMetrics count what the route checks decide.
type aclMetrics struct {
	allowed, denied, missing, invalid prometheus.Counter
}

func newACLMetrics(reg prometheus.Registerer) *aclMetrics {
	v := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "docket_acl_requests_total",
		Help: "Requests checked against the ACL, by outcome: allowed, denied (the token lacks the capability), missing (no token) or invalid (an unknown, revoked or expired token).",
	}, []string{"outcome"}))
	return &aclMetrics{
		allowed: v.WithLabelValues("allowed"), denied: v.WithLabelValues("denied"),
		missing: v.WithLabelValues("missing"), invalid: v.WithLabelValues("invalid"),
	}
}

// authorize authenticates a request and checks the capability its route
// needs: on the resource its path names, or, for a route that names none
// (a list, or names in its body), on some resource of the type, the
// control layer checking each one. A refusal is logged (writeError) with
// the token's accessor, never its secret; "allowed" counts the requests
// that passed the route's check.
func (a *API) authorize(r *http.Request, need Need) (scheduler.Identity, error) {
	id, err := a.srv.Authenticate(requestToken(r), r.Header.Get(api.NodeSecretHeader))
	if err != nil {
		if errdefs.Code(err, "") == "acl_token_missing" {
			a.acl.missing.Inc()
		} else {
			a.acl.invalid.Inc()
		}
		return id, err
	}
	if need.NameFrom != "" {
		err = id.Can(need.Resource, r.PathValue(need.NameFrom), need.Capability)
	} else {
		err = id.CanSome(need.Resource, need.Capability)
	}
	if err != nil {
		return id, err
	}
	a.acl.allowed.Inc()
	return id, nil
}

func withIdentity(r *http.Request, id scheduler.Identity) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
}

// denied counts and logs a refusal for a lacking capability, the route's
// or one the control layer found on a name the route did not carry.
func (a *API) denied(r *http.Request, err error) {
	a.acl.denied.Inc()
	a.logger.Info("request denied", "accessor", identity(r).Accessor, "method", r.Method, "route", r.Pattern, "err", err)
}

// The ACL's routes.

func (a *API) bootstrapACL(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.Bootstrap(r.Context())
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) listPolicies(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.ListPolicies(r.Context(), identity(r))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.GetPolicy(r.Context(), identity(r), r.PathValue("name"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) applyPolicy(w http.ResponseWriter, r *http.Request) {
	var in api.ACLPolicy
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	if in.Name != "" && in.Name != r.PathValue("name") {
		a.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_policy", "the body names policy %q, the path %q", in.Name, r.PathValue("name")))
		return
	}
	in.Name = r.PathValue("name")
	out, err := a.srv.ApplyPolicy(r.Context(), identity(r), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) deletePolicy(w http.ResponseWriter, r *http.Request) {
	err := a.srv.DeletePolicy(r.Context(), identity(r), r.PathValue("name"))
	answer(a, w, r, http.StatusOK, struct{}{}, err)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var in api.ACLTokenRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.CreateToken(r.Context(), identity(r), in)
	answer(a, w, r, http.StatusCreated, out, err)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.ListTokens(r.Context(), identity(r))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) getToken(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.GetToken(r.Context(), identity(r), r.PathValue("accessor"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request) {
	err := a.srv.DeleteToken(r.Context(), identity(r), r.PathValue("accessor"))
	answer(a, w, r, http.StatusOK, struct{}{}, err)
}
