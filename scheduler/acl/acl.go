package acl

// ACL is what one caller may do: everything, for a management token, or
// what the policies its token carries grant. The zero ACL and a nil one
// may do nothing. An ACL is immutable and safe for concurrent use.
type ACL struct {
	management bool
	policies   []*Policy
}

// Management is the ACL of a management token: every capability on every
// resource.
func Management() *ACL { return &ACL{management: true} }

// New is the ACL of a token carrying policies.
func New(policies ...*Policy) *ACL { return &ACL{policies: policies} }

// IsManagement reports whether the ACL grants everything.
func (a *ACL) IsManagement() bool { return a != nil && a.management }

// Allowed reports whether capability is granted on the resource of type
// resource called name ("" for the unnamed operator and acl).
func (a *ACL) Allowed(resource, name, capability string) bool {
	if a == nil {
		return false
	}
	return a.management || Allowed(a.policies, resource, name, capability)
}

// AllowedSome reports whether capability is granted on some resource of
// type resource: what a route that lists resources, or names them only in
// its body, needs before the control layer checks each name. A deny on
// every name ("*") takes it away; a deny on some names does not.
func (a *ACL) AllowedSome(resource, capability string) bool {
	if a == nil {
		return false
	}
	if a.management {
		return true
	}
	granted := false
	for _, p := range a.policies {
		if p == nil {
			continue
		}
		for _, r := range p.Rules {
			if r.Resource != resource {
				continue
			}
			for _, c := range r.Capabilities {
				switch {
				case c == Deny && (r.Glob == "*" || unnamed[resource]):
					return false
				case c == capability:
					granted = true
				}
			}
		}
	}
	return granted
}
