package acl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, diags := Parse("policy.hcl", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags.Error())
	}
	return p
}

func TestParseAndAllow(t *testing.T) {
	p := mustParse(t, `
queue "orders-*" {
  capabilities = ["send", "receive"]
}
queue "orders-secret" {
  capabilities = ["deny"]
}
job "*" {
  capabilities = ["read"]
}
job "web" {
  capabilities = ["scale", "read"]
}
operator {
  capabilities = ["read"]
}
`)
	cases := []struct {
		resource, name, capability string
		want                       bool
	}{
		{"queue", "orders-eu", "send", true},
		{"queue", "orders-eu", "receive", true},
		{"queue", "orders-eu", "write", false},
		{"queue", "orders-", "send", true},
		{"queue", "orders", "send", false},
		{"queue", "billing", "send", false},
		{"queue", "orders-secret", "send", false}, // denied
		{"job", "api", "read", true},
		{"job", "api", "scale", false},
		{"job", "web", "scale", true}, // union of matching rules
		{"job", "web", "submit", false},
		{"operator", "", "read", true},
		{"operator", "", "write", false},
		{"node", "n1", "read", false},
		{"acl", "", "write", false},
	}
	for _, c := range cases {
		if got := Allowed([]*Policy{p}, c.resource, c.name, c.capability); got != c.want {
			t.Errorf("%s %q %s: got %v, want %v", c.resource, c.name, c.capability, got, c.want)
		}
	}
	// Policies add up, and a deny in any of them wins.
	more := mustParse(t, `node "*" { capabilities = ["read"] }`)
	if !Allowed([]*Policy{p, more}, "node", "n1", "read") {
		t.Error("a second policy's grant is not seen")
	}
	deny := mustParse(t, `queue "*" { capabilities = ["deny"] }`)
	if Allowed([]*Policy{p, deny}, "queue", "orders-eu", "send") {
		t.Error("another policy's deny did not win")
	}
	if Allowed(nil, "queue", "x", "read") {
		t.Error("no policy grants something")
	}
}

func TestParseErrorsSayWhere(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown resource", `queues "x" { capabilities = ["read"] }`, `policy.hcl:1,1-7: Unknown resource`},
		{"unknown capability", "queue \"x\" {\n  capabilities = [\"read\", \"fly\"]\n}", `policy.hcl:2,27-32: Unknown capability`},
		{"capability of another resource", `job "x" { capabilities = ["send"] }`, `"send" is not a capability of job`},
		{"missing glob", `queue { capabilities = ["read"] }`, `Missing name glob`},
		{"label on operator", `operator "x" { capabilities = ["read"] }`, `Unexpected label`},
		{"two labels", `queue "a" "b" { capabilities = ["read"] }`, `Extra label`},
		{"missing capabilities", `queue "a" { }`, `Missing capabilities`},
		{"empty capabilities", `queue "a" { capabilities = [] }`, `grants nothing`},
		{"not a list", `queue "a" { capabilities = "read" }`, `Invalid capabilities`},
		{"an expression", `queue "a" { capabilities = [for c in ["read"] : c] }`, `Invalid capabilities`},
		{"interpolation", `queue "a" { capabilities = ["${x}"] }`, `Invalid capability`},
		{"a variable", `queue "a" { capabilities = [x] }`, `Invalid capability`},
		{"other argument", "queue \"a\" {\n  capabilities = [\"read\"]\n  policy = \"write\"\n}", `Unsupported argument`},
		{"top-level argument", `policy = "read"`, `Unexpected argument`},
		{"nested block", "queue \"a\" {\n  capabilities = [\"read\"]\n  inner {}\n}", `Unexpected block`},
		{"syntax", `queue "a" {`, `policy.hcl:1`},
		{"empty glob", `queue "" { capabilities = ["read"] }`, `Invalid name glob`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, diags := Parse("policy.hcl", []byte(c.src))
			if !diags.HasErrors() || p != nil {
				t.Fatalf("got a policy %+v, want it refused", p)
			}
			if !strings.Contains(diags.Error(), c.want) {
				t.Fatalf("got %q, want it to say %q", diags.Error(), c.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	big := strings.Repeat(" ", MaxPolicyBytes+1)
	if _, diags := Parse("p.hcl", []byte(big)); !strings.Contains(diags.Error(), "Policy too large") {
		t.Errorf("an oversized policy: got %q", diags.Error())
	}
	var b strings.Builder
	for i := range MaxRules + 1 {
		fmt.Fprintf(&b, "queue \"q%d\" {\n  capabilities = [\"read\"]\n}\n", i)
	}
	if _, diags := Parse("p.hcl", []byte(b.String())); !strings.Contains(diags.Error(), "Too many rules") {
		t.Errorf("too many rules: got %q", diags.Error())
	}
	long := `queue "` + strings.Repeat("a", MaxGlobBytes+1) + `" { capabilities = ["read"] }`
	if _, diags := Parse("p.hcl", []byte(long)); !strings.Contains(diags.Error(), "Invalid name glob") {
		t.Errorf("a long glob: got %q", diags.Error())
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		glob, name string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"orders", "orders", true},
		{"orders", "orders2", false},
		{"orders-*", "orders-eu", true},
		{"orders-*", "orders", false},
		{"*-dlq", "orders-dlq", true},
		{"*-dlq", "orders-dlq2", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*b*c", "abcbc", true},
		{"**", "x", true},
		{"", "", true},
		{"", "x", false},
		{"x*", "", false},
	}
	for _, c := range cases {
		if got := Match(c.glob, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.glob, c.name, got, c.want)
		}
	}
	// Linear, whatever the glob: a pattern that backtracks exponentially
	// in a naive matcher answers at once.
	glob := strings.Repeat("a*", 128) + "b"
	name := strings.Repeat("a", 100_000)
	start := time.Now()
	if Match(glob, name) {
		t.Fatal("matched a name without b")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestVocabulary(t *testing.T) {
	want := []string{"acl", "function", "job", "node", "operator", "queue", "topic"}
	if got := Resources(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("resources %v, want %v", got, want)
	}
	for _, r := range want {
		for _, c := range Capabilities(r) {
			src := fmt.Sprintf("%s %s{ capabilities = [%q] }", r, map[bool]string{true: "", false: `"x" `}[unnamed[r]], c)
			p := mustParse(t, src)
			name := "x"
			if unnamed[r] {
				name = ""
			}
			if !Allowed([]*Policy{p}, r, name, c) {
				t.Errorf("%s: %s granted and not allowed", r, c)
			}
		}
	}
}

// FuzzParse checks that no policy source makes Parse panic, and that
// every policy it accepts only names resources and capabilities of the
// vocabulary.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`queue "orders-*" { capabilities = ["send", "receive"] }`))
	f.Add([]byte("operator {\n capabilities = [\"read\"]\n}\njob \"*\" { capabilities = [\"deny\"] }"))
	f.Add([]byte(`queue "a" { capabilities = [for c in ["read"] : c] }`))
	f.Add([]byte(`x = {`))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := Parse("fuzz.hcl", src)
		if diags.HasErrors() {
			if p != nil {
				t.Fatal("a refused policy was returned")
			}
			return
		}
		for _, r := range p.Rules {
			caps, ok := vocabulary[r.Resource]
			if !ok || r.Glob == "" {
				t.Fatalf("accepted rule %+v", r)
			}
			for _, c := range r.Capabilities {
				if c != Deny && !strings.Contains(","+strings.Join(caps, ",")+",", ","+c+",") {
					t.Fatalf("accepted capability %q of %s", c, r.Resource)
				}
			}
		}
	})
}

func TestACL(t *testing.T) {
	p := mustParse(t, `
queue "orders-*" {
  capabilities = ["send"]
}
queue "orders-secret" {
  capabilities = ["deny"]
}
job "*" {
  capabilities = ["deny"]
}
operator {
  capabilities = ["read"]
}`)
	a := New(p)
	for _, c := range []struct {
		resource, name, capability string
		want                       bool
	}{
		{"queue", "orders-1", "send", true},
		{"queue", "orders-1", "receive", false},
		{"queue", "orders-secret", "send", false},
		{"queue", "billing", "send", false},
		{"operator", "", "read", true},
		{"operator", "", "write", false},
	} {
		if got := a.Allowed(c.resource, c.name, c.capability); got != c.want {
			t.Errorf("Allowed(%s %q %s) = %v, want %v", c.resource, c.name, c.capability, got, c.want)
		}
	}
	// Some queue may be sent to (a deny on one name leaves the others);
	// no job may be read (denied on every name); nothing grants receive.
	if !a.AllowedSome("queue", "send") || a.AllowedSome("queue", "receive") || a.AllowedSome("job", "read") {
		t.Error("AllowedSome: want queue send only")
	}
	if !Management().Allowed("acl", "", "write") || !Management().AllowedSome("job", "scale") || !Management().IsManagement() {
		t.Error("a management ACL must allow everything")
	}
	var none *ACL
	if none.Allowed("queue", "q", "read") || none.AllowedSome("queue", "read") || New().Allowed("queue", "q", "read") || a.IsManagement() {
		t.Error("a nil or empty ACL must allow nothing")
	}
}

// The README's example policies parse.
func TestExamplePoliciesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/acl/*.hcl")
	if err != nil || len(files) < 3 {
		t.Fatalf("example policies: %v, %v", files, err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, diags := Parse(f, src); diags.HasErrors() {
			t.Errorf("%s: %s", f, diags.Error())
		}
	}
}
