package httpapi

import (
	"regexp"
	"testing"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/acl"
)

// TestEveryRouteNamesItsCapability checks the route table: every route but
// the health check names the ACL capability it needs, on a resource and
// with a capability of the ACL's vocabulary, and a name it takes from the
// path comes from one of the pattern's wildcards.
func TestEveryRouteNamesItsCapability(t *testing.T) {
	capabilities := map[string]map[string]bool{}
	for _, r := range acl.Resources() {
		capabilities[r] = map[string]bool{}
		for _, c := range acl.Capabilities(r) {
			capabilities[r][c] = true
		}
	}
	// The public routes: the health check, the bootstrap, and the
	// certificate subscribers check SNS notifications with.
	public := map[string]bool{"GET /v1/health": true, "POST /v1/acl/bootstrap": true, "GET " + scheduler.SigningCertPath: true,
		"POST /v1/topics/{name}/confirm": true}
	wildcard := regexp.MustCompile(`\{(\w+)\}`)
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.pattern] {
			t.Errorf("%s: listed twice", rt.pattern)
		}
		seen[rt.pattern] = true
		if rt.need.Public() {
			if !public[rt.pattern] {
				t.Errorf("%s: names no capability", rt.pattern)
			}
			continue
		}
		if !capabilities[rt.need.Resource][rt.need.Capability] {
			t.Errorf("%s: needs %s:%s, not in the ACL's vocabulary", rt.pattern, rt.need.Resource, rt.need.Capability)
		}
		if rt.need.NameFrom == "" {
			continue
		}
		found := false
		for _, m := range wildcard.FindAllStringSubmatch(rt.pattern, -1) {
			found = found || m[1] == rt.need.NameFrom
		}
		if !found {
			t.Errorf("%s: takes the resource's name from {%s}, which the pattern has not", rt.pattern, rt.need.NameFrom)
		}
	}
	if len(Routes()) != len(routes) {
		t.Errorf("Routes lists %d routes, the table has %d", len(Routes()), len(routes))
	}
}
