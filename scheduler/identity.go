package scheduler

import (
	"fmt"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/acl"
)

// Identity is who makes a request, as [Server.Authenticate] found it from
// the credentials its transport received. Every operation of the control
// layer takes one, and checks what the operation touches by name against
// its ACL; the transport has checked the route's capability already.
type Identity struct {
	// ACL is what the caller may do; nil may do nothing.
	ACL *acl.ACL
	// Accessor names the caller's token in logs (never its secret): a
	// token's accessor, or "alloc:ID" for a queue worker.
	Accessor string
	// Owner is the allocation a queue worker's token names: messages it
	// receives are leased to it.
	Owner string
	// NodeSecret is the node secret the request presented, if any: an
	// agent's calls for its node must present the node's.
	NodeSecret string
}

// can fails with permission_denied unless the caller has capability on
// the resource of type resource called name.
func (c Identity) can(resource, name, capability string) error {
	if c.ACL.Allowed(resource, name, capability) {
		return nil
	}
	what := resource
	if name != "" {
		what = fmt.Sprintf("%s %q", resource, name)
	}
	return c.denied(resource, capability, what)
}

// CanSome fails with permission_denied unless the caller has capability
// on some resource of type resource (acl.ACL.AllowedSome): the check of a
// route that names its resources in its body, or lists them; the
// operation checks each one.
func (c Identity) CanSome(resource, capability string) error {
	if c.ACL.AllowedSome(resource, capability) {
		return nil
	}
	return c.denied(resource, capability, resource)
}

// Can is can, for transports: the check of a route whose path names its
// resource.
func (c Identity) Can(resource, name, capability string) error {
	return c.can(resource, name, capability)
}

func (c Identity) denied(resource, capability, what string) error {
	return errdefs.New(errdefs.ErrPermissionDenied, "permission_denied",
		"the token (%s) lacks %s:%s on %s", c.Accessor, resource, capability, what)
}
