package state

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docketd/docket/internal/errdefs"
)

// The access control records: policies by name, tokens by accessor, and
// whether (at which index) the ACL was bootstrapped. A token's secret is
// kept only as its SHA-256: the state, its store and a log's entries
// never hold one. An AWS secret key is kept as it is, since verifying a
// signature needs it.
const (
	bucketACLPolicies = "acl_policies"
	bucketACLTokens   = "acl_tokens"
	keyACLBootstrap   = "acl_bootstrap"

	// TableACL is the index of every ACL change.
	TableACL = "acl"
)

// Token types.
const (
	TokenManagement = "management" // may do anything
	TokenClient     = "client"     // may do what its policies grant
)

// ACLPolicy is a named policy: its HCL rules, as written.
type ACLPolicy struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Rules       string `json:"rules"`
	CreateIndex uint64 `json:"create_index"`
	ModifyIndex uint64 `json:"modify_index"`
}

// ACLToken is a token: the accessor names it, the secret (of which only
// the hash is kept) proves it.
type ACLToken struct {
	AccessorID string `json:"accessor_id"`
	// SecretHash is the hex SHA-256 of the secret.
	SecretHash string   `json:"secret_hash"`
	Name       string   `json:"name,omitempty"`
	Type       string   `json:"type"`
	Policies   []string `json:"policies,omitempty"`
	// ExpiresAt, if set, is when the token stops working.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// AWSKeyID and AWSSecret are the token's AWS-style access key pair, if
	// it has one: SigV4 requests signed with it act as the token.
	AWSKeyID    string    `json:"aws_key_id,omitempty"`
	AWSSecret   string    `json:"aws_secret,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	CreateIndex uint64    `json:"create_index"`
	ModifyIndex uint64    `json:"modify_index"`
}

// Expired reports whether the token has expired at now.
func (t *ACLToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// BootstrapACL creates the first management token; it works once.
type BootstrapACL struct {
	Token *ACLToken `json:"token"`
}

// UpsertACLPolicies creates or replaces policies.
type UpsertACLPolicies struct {
	Policies []*ACLPolicy `json:"policies"`
}

// DeleteACLPolicies removes policies. Tokens keep naming them, and get
// nothing from a name without a policy.
type DeleteACLPolicies struct {
	Names []string `json:"names"`
}

// UpsertACLTokens creates or replaces tokens. A secret hash or an AWS key
// another token holds is refused.
type UpsertACLTokens struct {
	Tokens []*ACLToken `json:"tokens"`
}

// DeleteACLTokens revokes tokens.
type DeleteACLTokens struct {
	AccessorIDs []string `json:"accessor_ids"`
}

func (BootstrapACL) command() string      { return "BootstrapACL" }
func (UpsertACLPolicies) command() string { return "UpsertACLPolicies" }
func (DeleteACLPolicies) command() string { return "DeleteACLPolicies" }
func (UpsertACLTokens) command() string   { return "UpsertACLTokens" }
func (DeleteACLTokens) command() string   { return "DeleteACLTokens" }

// aclTables are the ACL's records in memory, with the tokens' lookups by
// secret hash and AWS key.
type aclTables struct {
	bootstrap uint64 // the index of the bootstrap; 0 before it
	policies  map[string]*ACLPolicy
	tokens    map[string]*ACLToken // by accessor
	bySecret  map[string]*ACLToken
	byAWSKey  map[string]*ACLToken
}

func newACLTables() aclTables {
	return aclTables{policies: map[string]*ACLPolicy{}, tokens: map[string]*ACLToken{},
		bySecret: map[string]*ACLToken{}, byAWSKey: map[string]*ACLToken{}}
}

func (t *aclTables) putToken(tok *ACLToken) {
	t.tokens[tok.AccessorID] = tok
	t.bySecret[tok.SecretHash] = tok
	if tok.AWSKeyID != "" {
		t.byAWSKey[tok.AWSKeyID] = tok
	}
}

func (t *aclTables) dropToken(tok *ACLToken) {
	delete(t.tokens, tok.AccessorID)
	delete(t.bySecret, tok.SecretHash)
	if tok.AWSKeyID != "" {
		delete(t.byAWSKey, tok.AWSKeyID)
	}
}

// loadACL reads the ACL's records from the store.
func (s *State) loadACL(db Store) error {
	if v, err := db.Get(bucketMeta, keyACLBootstrap); err != nil {
		return err
	} else if v != nil {
		if err := json.Unmarshal(v, &s.acl.bootstrap); err != nil {
			return fmt.Errorf("state: %s: %w", keyACLBootstrap, err)
		}
	}
	err := db.ForEach(bucketACLPolicies, func(key string, v []byte) error {
		var p ACLPolicy
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("state: %s/%s: %w", bucketACLPolicies, key, err)
		}
		s.acl.policies[p.Name] = &p
		return nil
	})
	if err != nil {
		return err
	}
	return db.ForEach(bucketACLTokens, func(key string, v []byte) error {
		var t ACLToken
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("state: %s/%s: %w", bucketACLTokens, key, err)
		}
		s.acl.putToken(&t)
		return nil
	})
}

func (tx *applyTx) bootstrapACL(c BootstrapACL) (Result, error) {
	s := tx.s
	if s.acl.bootstrap != 0 {
		return Result{}, errdefs.New(errdefs.ErrConflict, "acl_bootstrapped",
			"the ACL was bootstrapped already (at index %d); use a management token to make others", s.acl.bootstrap)
	}
	if c.Token == nil || c.Token.Type != TokenManagement {
		return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_token", "the bootstrap token must be a management token")
	}
	if err := tx.setToken(c.Token); err != nil {
		return Result{}, err
	}
	s.acl.bootstrap = tx.index
	tx.undo = append(tx.undo, func() { s.acl.bootstrap = 0 })
	idx, _ := json.Marshal(tx.index)
	tx.ws.Put(bucketMeta, keyACLBootstrap, idx)
	return Result{}, nil
}

func (tx *applyTx) upsertACLPolicies(c UpsertACLPolicies) (Result, error) {
	s := tx.s
	for _, cp := range c.Policies {
		if cp == nil || cp.Name == "" {
			return Result{}, errdefs.New(errdefs.ErrInvalid, "invalid_policy", "a policy needs a name")
		}
		old := s.acl.policies[cp.Name]
		if old != nil && old.Rules == cp.Rules && old.Description == cp.Description {
			continue
		}
		p := *cp
		p.CreateIndex, p.ModifyIndex = tx.index, tx.index
		if old != nil {
			p.CreateIndex = old.CreateIndex
		}
		s.acl.policies[p.Name] = &p
		tx.undo = append(tx.undo, func() {
			if old == nil {
				delete(s.acl.policies, p.Name)
			} else {
				s.acl.policies[p.Name] = old
			}
		})
		tx.put(bucketACLPolicies, p.Name, &p)
		tx.touch(TableACL)
	}
	return Result{}, nil
}

func (tx *applyTx) deleteACLPolicies(c DeleteACLPolicies) (Result, error) {
	s := tx.s
	for _, name := range c.Names {
		old := s.acl.policies[name]
		if old == nil {
			return Result{}, notFound("acl_policy_not_found", "ACL policy %q does not exist", name)
		}
		delete(s.acl.policies, name)
		tx.undo = append(tx.undo, func() { s.acl.policies[name] = old })
		tx.ws.Delete(bucketACLPolicies, name)
		tx.touch(TableACL)
	}
	return Result{}, nil
}

func (tx *applyTx) upsertACLTokens(c UpsertACLTokens) (Result, error) {
	for _, t := range c.Tokens {
		if err := tx.setToken(t); err != nil {
			return Result{}, err
		}
	}
	return Result{}, nil
}

// setToken records a copy of a token of a command.
func (tx *applyTx) setToken(ct *ACLToken) error {
	s := tx.s
	if ct == nil || ct.AccessorID == "" || ct.SecretHash == "" {
		return errdefs.New(errdefs.ErrInvalid, "invalid_token", "a token needs an accessor and a secret")
	}
	if ct.Type != TokenManagement && ct.Type != TokenClient {
		return errdefs.New(errdefs.ErrInvalid, "invalid_token", "token type %q: want %s or %s", ct.Type, TokenClient, TokenManagement)
	}
	if o := s.acl.bySecret[ct.SecretHash]; o != nil && o.AccessorID != ct.AccessorID {
		return errdefs.New(errdefs.ErrConflict, "acl_token_exists", "another token has this secret")
	}
	if o := s.acl.byAWSKey[ct.AWSKeyID]; ct.AWSKeyID != "" && o != nil && o.AccessorID != ct.AccessorID {
		return errdefs.New(errdefs.ErrConflict, "aws_key_exists", "another token has the access key %q", ct.AWSKeyID)
	}
	old := s.acl.tokens[ct.AccessorID]
	t := *ct
	t.Policies = slices.Clone(ct.Policies)
	t.CreateIndex, t.ModifyIndex = tx.index, tx.index
	if t.CreatedAt.IsZero() {
		t.CreatedAt = tx.at
	}
	if old != nil {
		t.CreateIndex, t.CreatedAt = old.CreateIndex, old.CreatedAt
		s.acl.dropToken(old)
	}
	s.acl.putToken(&t)
	tx.undo = append(tx.undo, func() {
		s.acl.dropToken(&t)
		if old != nil {
			s.acl.putToken(old)
		}
	})
	tx.put(bucketACLTokens, t.AccessorID, &t)
	tx.touch(TableACL)
	return nil
}

func (tx *applyTx) deleteACLTokens(c DeleteACLTokens) (Result, error) {
	s := tx.s
	for _, id := range c.AccessorIDs {
		old := s.acl.tokens[id]
		if old == nil {
			return Result{}, notFound("acl_token_not_found", "ACL token %q does not exist", id)
		}
		s.acl.dropToken(old)
		tx.undo = append(tx.undo, func() { s.acl.putToken(old) })
		tx.ws.Delete(bucketACLTokens, id)
		tx.touch(TableACL)
	}
	return Result{}, nil
}

// ACLBootstrapIndex is the index the ACL was bootstrapped at; 0 before.
func (r *Reader) ACLBootstrapIndex() uint64 { return r.s.acl.bootstrap }

// ACLPolicy returns the policy called name, or nil. It is shared: do not
// modify it.
func (r *Reader) ACLPolicy(name string) *ACLPolicy { return r.s.acl.policies[name] }

// ACLPolicies returns every policy by name.
func (r *Reader) ACLPolicies() []*ACLPolicy {
	out := make([]*ACLPolicy, 0, len(r.s.acl.policies))
	for _, name := range slices.Sorted(maps.Keys(r.s.acl.policies)) {
		out = append(out, r.s.acl.policies[name])
	}
	return out
}

// ACLToken returns the token with the accessor, or nil. It is shared: do
// not modify it.
func (r *Reader) ACLToken(accessor string) *ACLToken { return r.s.acl.tokens[accessor] }

// ACLTokenBySecret returns the token whose secret hashes to hash, or nil.
func (r *Reader) ACLTokenBySecret(hash string) *ACLToken { return r.s.acl.bySecret[hash] }

// ACLTokenByAWSKey returns the token with the AWS access key id, or nil.
func (r *Reader) ACLTokenByAWSKey(id string) *ACLToken { return r.s.acl.byAWSKey[id] }

// ACLTokens returns every token, oldest first.
func (r *Reader) ACLTokens() []*ACLToken {
	out := slices.Collect(maps.Values(r.s.acl.tokens))
	slices.SortFunc(out, func(a, b *ACLToken) int {
		return cmp.Or(cmp.Compare(a.CreateIndex, b.CreateIndex), strings.Compare(a.AccessorID, b.AccessorID))
	})
	return out
}
