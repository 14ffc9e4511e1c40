package state

import (
	"path/filepath"
	"testing"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/store"
)

// The ACL's records: the bootstrap works once, a secret or an AWS key
// belongs to one token, a changed token keeps its creation and loses its
// old lookups, a deleted one is found no more, and all of it survives a
// restart.
func TestACLRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := store.Open(store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	boot := mustApply(t, s, BootstrapACL{Token: &ACLToken{AccessorID: "root", SecretHash: "h-root", Type: TokenManagement}})
	_, err = s.Apply(BootstrapACL{Token: &ACLToken{AccessorID: "again", SecretHash: "h-again", Type: TokenManagement}})
	if errdefs.Code(err, "") != "acl_bootstrapped" {
		t.Fatalf("second bootstrap: %v, want acl_bootstrapped", err)
	}
	mustApply(t, s, UpsertACLPolicies{Policies: []*ACLPolicy{{Name: "ro", Rules: `queue "*" { capabilities = ["read"] }`}}})
	first := mustApply(t, s, UpsertACLTokens{Tokens: []*ACLToken{{AccessorID: "ci", SecretHash: "h-ci", Type: TokenClient,
		Policies: []string{"ro"}, AWSKeyID: "AKIDCI", AWSSecret: "s"}}})
	for _, tok := range []*ACLToken{
		{AccessorID: "other", SecretHash: "h-ci", Type: TokenClient},
		{AccessorID: "other", SecretHash: "h-other", Type: TokenClient, AWSKeyID: "AKIDCI"},
		{AccessorID: "other", SecretHash: "h-other", Type: "superuser"},
		{AccessorID: "", SecretHash: "h-other", Type: TokenClient},
	} {
		if _, err := s.Apply(UpsertACLTokens{Tokens: []*ACLToken{tok}}); err == nil {
			t.Errorf("token %+v accepted", tok)
		}
	}
	// A new secret and key for ci: the old ones find nothing.
	mustApply(t, s, UpsertACLTokens{Tokens: []*ACLToken{{AccessorID: "ci", SecretHash: "h-ci2", Type: TokenClient,
		Policies: []string{"ro"}, AWSKeyID: "AKIDCI2", AWSSecret: "s2"}}})
	mustApply(t, s, UpsertACLTokens{Tokens: []*ACLToken{{AccessorID: "gone", SecretHash: "h-gone", Type: TokenClient}}})
	mustApply(t, s, DeleteACLTokens{AccessorIDs: []string{"gone"}})
	if _, err := s.Apply(DeleteACLTokens{AccessorIDs: []string{"gone"}}); errdefs.Code(err, "") != "acl_token_not_found" {
		t.Errorf("deleting a deleted token: %v", err)
	}
	if _, err := s.Apply(DeleteACLPolicies{Names: []string{"nope"}}); errdefs.Code(err, "") != "acl_policy_not_found" {
		t.Errorf("deleting an unknown policy: %v", err)
	}
	// A node registered with a secret needs it to register again.
	n := node("n1", 1000, 1024)
	n.SecretHash = "node-secret"
	mustApply(t, s, RegisterNode{Node: n})
	n2 := node("n1", 1000, 1024)
	if _, err := s.Apply(RegisterNode{Node: n2}); errdefs.Code(err, "") != "node_secret_mismatch" {
		t.Errorf("registering n1 without its secret: %v, want node_secret_mismatch", err)
	}

	check := func(s *State) {
		t.Helper()
		s.View(func(r *Reader) {
			if r.ACLBootstrapIndex() != boot.Index {
				t.Errorf("bootstrapped at %d, want %d", r.ACLBootstrapIndex(), boot.Index)
			}
			ci := r.ACLToken("ci")
			if ci == nil || ci.CreateIndex != first.Index || ci.ModifyIndex <= first.Index || ci.CreatedAt.IsZero() {
				t.Fatalf("token ci: %+v; want created at %d, modified later", ci, first.Index)
			}
			if r.ACLTokenBySecret("h-ci2") != ci || r.ACLTokenByAWSKey("AKIDCI2") != ci {
				t.Error("ci not found by its secret and key")
			}
			if r.ACLTokenBySecret("h-ci") != nil || r.ACLTokenByAWSKey("AKIDCI") != nil || r.ACLTokenBySecret("h-gone") != nil {
				t.Error("an old secret or key still finds a token")
			}
			if got := len(r.ACLTokens()); got != 2 || r.ACLTokens()[0].AccessorID != "root" {
				t.Errorf("tokens %+v, want root and ci", r.ACLTokens())
			}
			if p := r.ACLPolicy("ro"); p == nil || len(r.ACLPolicies()) != 1 {
				t.Errorf("policies %+v", r.ACLPolicies())
			}
		})
	}
	check(s)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reopened, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(reopened)
	if _, err := reopened.Apply(BootstrapACL{Token: &ACLToken{AccessorID: "again", SecretHash: "h-again", Type: TokenManagement}}); errdefs.Code(err, "") != "acl_bootstrapped" {
		t.Errorf("bootstrap after a restart: %v, want acl_bootstrapped", err)
	}
}
