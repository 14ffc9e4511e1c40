package scheduler

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/acl"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
)

// Limits on what the ACL's API takes.
const (
	maxTokenPolicies = 64
	maxTokenName     = 256
	maxPolicyDesc    = 1024
	// authCacheSize bounds the resolved tokens kept; past it the cache
	// starts afresh.
	authCacheSize = 8192
)

var policyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// randomSecret returns a UUID-shaped secret of 122 random bits.
func randomSecret() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hashSecret is how a secret is kept: its hex SHA-256. Secrets are random
// and long, so a fast hash is enough.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func secretMatches(hash, secret string) bool {
	return hash != "" && secret != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(hashSecret(secret))) == 1
}

// authCache keeps resolved tokens by secret (and by AWS key id, under
// awsCacheKey), and parsed policies by name,
// for as long as the ACL's table does not change: checking a token then
// costs a map lookup and an expiry check.
type authCache struct {
	mu       sync.RWMutex
	index    uint64 // the ACL table's index the entries were resolved at
	tokens   map[string]resolvedToken
	policies map[string]cachedPolicy
}

type resolvedToken struct {
	id        Identity
	expires   time.Time // zero: never
	awsSecret string    // the token's AWS secret key, if it has a key
}

type cachedPolicy struct {
	modify uint64
	p      *acl.Policy
}

func errTokenMissing(bootstrapped bool) error {
	msg := "no ACL token: send one in X-Docket-Token or Authorization: Bearer (or DOCKET_TOKEN / --token with the CLI)"
	if !bootstrapped {
		msg += "; the ACL is not bootstrapped yet: run `docket acl bootstrap`"
	}
	return errdefs.New(errdefs.ErrUnauthenticated, "acl_token_missing", "%s", msg)
}

func errTokenInvalid(why string) error {
	return errdefs.New(errdefs.ErrUnauthenticated, "acl_token_invalid", "the ACL token %s", why)
}

func errTokenExpired(at time.Time) error {
	return errTokenInvalid("expired at " + at.UTC().Format(time.RFC3339))
}

// Authenticate finds who presents secret: a token of the ACL, or a queue
// worker's token (its allocation's, valid while the allocation has not
// ended). nodeSecret is passed on in the identity for the node calls to
// check. A missing secret fails with acl_token_missing, an unknown,
// revoked or expired one with acl_token_invalid (both ErrUnauthenticated).
func (s *Server) Authenticate(secret, nodeSecret string) (Identity, error) {
	id, err := s.authenticate(secret)
	id.NodeSecret = nodeSecret
	return id, err
}

func (s *Server) authenticate(secret string) (Identity, error) {
	if secret == "" {
		var boot uint64
		s.state.View(func(rd *state.Reader) { boot = rd.ACLBootstrapIndex() })
		return Identity{}, errTokenMissing(boot != 0)
	}
	if len(secret) > 256 {
		return Identity{}, errTokenInvalid("is too long")
	}
	if owner, ok := s.tokenOwner(secret); ok {
		return s.workerIdentity(owner)
	}
	rt, err := s.resolve(secret, func(rd *state.Reader) *state.ACLToken { return rd.ACLTokenBySecret(hashSecret(secret)) })
	return rt.id, err
}

// resolve returns the token find finds in the state, with its ACL: from
// the cache, under key, while the ACL table is unchanged, else from the
// state (then cached). An unknown token is acl_token_invalid, an expired
// one too, saying when it expired.
func (s *Server) resolve(key string, find func(*state.Reader) *state.ACLToken) (resolvedToken, error) {
	now := s.now()
	c := &s.auth
	var index uint64
	s.state.View(func(rd *state.Reader) { index = rd.TableIndex(state.TableACL) })
	c.mu.RLock()
	e, ok := c.tokens[key]
	ok = ok && c.index == index
	c.mu.RUnlock()
	if ok {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			return resolvedToken{}, errTokenExpired(e.expires)
		}
		return e, nil
	}

	var tok *state.ACLToken
	var policies []*state.ACLPolicy
	s.state.View(func(rd *state.Reader) {
		index = rd.TableIndex(state.TableACL)
		tok = find(rd)
		if tok != nil {
			for _, name := range tok.Policies {
				if p := rd.ACLPolicy(name); p != nil {
					policies = append(policies, p)
				}
			}
		}
	})
	if tok == nil {
		return resolvedToken{}, errTokenInvalid("is not known (revoked, or never made)")
	}
	if tok.Expired(now) {
		return resolvedToken{}, errTokenExpired(tok.ExpiresAt)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if index != c.index || c.tokens == nil || len(c.tokens) >= authCacheSize {
		c.index, c.tokens = index, map[string]resolvedToken{}
	}
	if c.policies == nil || len(c.policies) >= authCacheSize {
		c.policies = map[string]cachedPolicy{}
	}
	id := Identity{Accessor: tok.AccessorID}
	if tok.Type == state.TokenManagement {
		id.ACL = acl.Management()
	} else {
		parsed := make([]*acl.Policy, 0, len(policies))
		for _, p := range policies {
			cp, ok := c.policies[p.Name]
			if !ok || cp.modify != p.ModifyIndex {
				pp, diags := acl.Parse(p.Name+".hcl", []byte(p.Rules))
				if diags.HasErrors() {
					// Policies are checked when applied; one that no longer
					// parses grants nothing.
					s.logger.Error("stored ACL policy does not parse", "policy", p.Name, "err", diags.Error())
					pp = &acl.Policy{}
				}
				cp = cachedPolicy{modify: p.ModifyIndex, p: pp}
				c.policies[p.Name] = cp
			}
			parsed = append(parsed, cp.p)
		}
		id.ACL = acl.New(parsed...)
	}
	rt := resolvedToken{id: id, expires: tok.ExpiresAt, awsSecret: tok.AWSSecret}
	c.tokens[key] = rt
	return rt, nil
}

// workerIdentity is the identity of a queue worker's token: its job's
// queue, to read, send to and receive from, while its allocation lives.
func (s *Server) workerIdentity(allocID string) (Identity, error) {
	var queueName string
	live := false
	s.state.View(func(rd *state.Reader) {
		a := rd.Alloc(allocID)
		if a == nil || state.Terminal(a.ClientStatus) {
			return
		}
		if spec := rd.JobVersion(a.Job, a.JobVersion); spec != nil && spec.QueueWorkers() {
			live, queueName = true, spec.Queue
		}
	})
	if !live {
		return Identity{}, errTokenInvalid("belonged to an allocation that has ended")
	}
	return Identity{
		ACL:      acl.New(&acl.Policy{Rules: []acl.Rule{{Resource: "queue", Glob: queueName, Capabilities: []string{"read", "send", "receive"}}}}),
		Accessor: "alloc:" + allocID,
		Owner:    allocID,
	}, nil
}

// Bootstrap makes the first management token and returns it with its
// secret; it works once (acl_bootstrapped after).
func (s *Server) Bootstrap(ctx context.Context) (api.ACLToken, error) {
	secret := randomSecret()
	tok := &state.ACLToken{AccessorID: randomSecret(), SecretHash: hashSecret(secret), Name: "bootstrap", Type: state.TokenManagement}
	res, err := s.state.Apply(state.BootstrapACL{Token: tok})
	if err != nil {
		return api.ACLToken{}, err
	}
	var out api.ACLToken
	s.state.View(func(rd *state.Reader) { out = apiToken(rd.ACLToken(tok.AccessorID)) })
	out.SecretID = secret
	s.logger.Info("ACL bootstrapped", "accessor", tok.AccessorID, "index", res.Index)
	return out, nil
}

func apiToken(t *state.ACLToken) api.ACLToken {
	if t == nil {
		return api.ACLToken{}
	}
	out := api.ACLToken{
		AccessorID: t.AccessorID, Name: t.Name, Type: t.Type, Policies: append([]string{}, t.Policies...),
		ExpiresAt: t.ExpiresAt, AWSAccessKeyID: t.AWSKeyID, CreatedAt: t.CreatedAt,
		CreateIndex: t.CreateIndex, ModifyIndex: t.ModifyIndex,
	}
	return out
}

func apiPolicy(p *state.ACLPolicy) api.ACLPolicy {
	return api.ACLPolicy{Name: p.Name, Description: p.Description, Rules: p.Rules, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
}

// PolicyError is a policy refused for its rules, with the diagnostics
// that say where.
type PolicyError struct {
	Name string
	Err  error
}

func (e *PolicyError) Error() string { return fmt.Sprintf("policy %q: %v", e.Name, e.Err) }
func (e *PolicyError) Unwrap() error { return e.Err }

// ApplyPolicy creates or replaces a policy; its rules must parse.
func (s *Server) ApplyPolicy(ctx context.Context, caller Identity, in api.ACLPolicy) (api.ACLPolicy, error) {
	if err := caller.can("acl", "", "write"); err != nil {
		return api.ACLPolicy{}, err
	}
	switch {
	case !policyNameRE.MatchString(in.Name):
		return api.ACLPolicy{}, errdefs.New(errdefs.ErrInvalid, "invalid_policy", "policy name %q: use 1 to 128 letters, digits, '.', '_' or '-'", in.Name)
	case len(in.Description) > maxPolicyDesc:
		return api.ACLPolicy{}, errdefs.New(errdefs.ErrInvalid, "invalid_policy", "a policy's description is at most %d bytes", maxPolicyDesc)
	}
	if _, diags := acl.Parse(in.Name+".hcl", []byte(in.Rules)); diags.HasErrors() {
		return api.ACLPolicy{}, errdefs.New(errdefs.ErrInvalid, "invalid_policy", "policy %q: %s", in.Name, diags.Error())
	}
	if _, err := s.state.Apply(state.UpsertACLPolicies{Policies: []*state.ACLPolicy{{Name: in.Name, Description: in.Description, Rules: in.Rules}}}); err != nil {
		return api.ACLPolicy{}, err
	}
	return s.GetPolicy(ctx, caller, in.Name)
}

// ListPolicies lists every policy.
func (s *Server) ListPolicies(ctx context.Context, caller Identity) (api.ACLPolicyList, error) {
	if err := caller.can("acl", "", "read"); err != nil {
		return api.ACLPolicyList{}, err
	}
	out := api.ACLPolicyList{Policies: []api.ACLPolicy{}}
	s.state.View(func(rd *state.Reader) {
		for _, p := range rd.ACLPolicies() {
			out.Policies = append(out.Policies, apiPolicy(p))
		}
	})
	return out, nil
}

// GetPolicy returns one policy.
func (s *Server) GetPolicy(ctx context.Context, caller Identity, name string) (api.ACLPolicy, error) {
	if err := caller.can("acl", "", "read"); err != nil {
		return api.ACLPolicy{}, err
	}
	var p *state.ACLPolicy
	s.state.View(func(rd *state.Reader) { p = rd.ACLPolicy(name) })
	if p == nil {
		return api.ACLPolicy{}, errdefs.New(errdefs.ErrNotFound, "acl_policy_not_found", "ACL policy %q does not exist", name)
	}
	return apiPolicy(p), nil
}

// DeletePolicy removes a policy; the tokens that name it lose what it
// granted at once.
func (s *Server) DeletePolicy(ctx context.Context, caller Identity, name string) error {
	if err := caller.can("acl", "", "write"); err != nil {
		return err
	}
	_, err := s.state.Apply(state.DeleteACLPolicies{Names: []string{name}})
	return err
}

// CreateToken makes a token and returns it with its secret (and its AWS
// secret key, if asked for one), which are shown this once.
func (s *Server) CreateToken(ctx context.Context, caller Identity, in api.ACLTokenRequest) (api.ACLToken, error) {
	if err := caller.can("acl", "", "write"); err != nil {
		return api.ACLToken{}, err
	}
	typ := in.Type
	if typ == "" {
		typ = state.TokenClient
	}
	invalid := func(format string, args ...any) (api.ACLToken, error) {
		return api.ACLToken{}, errdefs.New(errdefs.ErrInvalid, "invalid_token", format, args...)
	}
	switch {
	case typ != state.TokenClient && typ != state.TokenManagement:
		return invalid("token type %q: want %s or %s", in.Type, state.TokenClient, state.TokenManagement)
	case typ == state.TokenClient && len(in.Policies) == 0:
		return invalid("a client token needs at least one policy")
	case typ == state.TokenManagement && len(in.Policies) > 0:
		return invalid("a management token may do anything; it takes no policies")
	case len(in.Policies) > maxTokenPolicies:
		return invalid("a token carries at most %d policies", maxTokenPolicies)
	case len(in.Name) > maxTokenName:
		return invalid("a token's name is at most %d bytes", maxTokenName)
	case in.TTL < 0:
		return invalid("a token's ttl must be positive")
	}
	var missing []string
	s.state.View(func(rd *state.Reader) {
		for _, p := range in.Policies {
			if rd.ACLPolicy(p) == nil {
				missing = append(missing, p)
			}
		}
	})
	if len(missing) > 0 {
		return api.ACLToken{}, errdefs.New(errdefs.ErrNotFound, "acl_policy_not_found", "no ACL policy %s", strings.Join(missing, ", "))
	}
	secret := randomSecret()
	tok := &state.ACLToken{AccessorID: randomSecret(), SecretHash: hashSecret(secret), Name: in.Name, Type: typ, Policies: in.Policies}
	if in.TTL > 0 {
		tok.ExpiresAt = s.now().Add(in.TTL.Std()).UTC().Round(time.Second)
	}
	var awsSecret string
	if in.AWSKey {
		tok.AWSKeyID, awsSecret = newAWSKey()
		tok.AWSSecret = awsSecret
	}
	if _, err := s.state.Apply(state.UpsertACLTokens{Tokens: []*state.ACLToken{tok}}); err != nil {
		return api.ACLToken{}, err
	}
	var out api.ACLToken
	s.state.View(func(rd *state.Reader) { out = apiToken(rd.ACLToken(tok.AccessorID)) })
	out.SecretID, out.AWSSecretAccessKey = secret, awsSecret
	s.logger.Info("ACL token created", "accessor", tok.AccessorID, "by", caller.Accessor, "type", typ, "policies", in.Policies)
	return out, nil
}

// awsKeyPrefix marks the access keys of ACL tokens.
const awsKeyPrefix = "AKIDTOK"

// newAWSKey makes an access key pair in AWS's shape: a 20-character id
// and a 40-character secret.
func newAWSKey() (id, secret string) {
	var b [39]byte
	rand.Read(b[:])
	id = awsKeyPrefix + strings.ToUpper(hex.EncodeToString(b[:7]))[:13]
	return id, base64.RawURLEncoding.EncodeToString(b[9:])[:40]
}

// ListTokens lists every token, without secrets.
func (s *Server) ListTokens(ctx context.Context, caller Identity) (api.ACLTokenList, error) {
	if err := caller.can("acl", "", "read"); err != nil {
		return api.ACLTokenList{}, err
	}
	out := api.ACLTokenList{Tokens: []api.ACLToken{}}
	s.state.View(func(rd *state.Reader) {
		for _, t := range rd.ACLTokens() {
			out.Tokens = append(out.Tokens, apiToken(t))
		}
	})
	return out, nil
}

// GetToken returns one token by accessor, without its secret.
func (s *Server) GetToken(ctx context.Context, caller Identity, accessor string) (api.ACLToken, error) {
	if err := caller.can("acl", "", "read"); err != nil {
		return api.ACLToken{}, err
	}
	var t *state.ACLToken
	s.state.View(func(rd *state.Reader) { t = rd.ACLToken(accessor) })
	if t == nil {
		return api.ACLToken{}, errdefs.New(errdefs.ErrNotFound, "acl_token_not_found", "ACL token %q does not exist", accessor)
	}
	return apiToken(t), nil
}

// DeleteToken revokes a token: the next request that presents it is
// refused.
func (s *Server) DeleteToken(ctx context.Context, caller Identity, accessor string) error {
	if err := caller.can("acl", "", "write"); err != nil {
		return err
	}
	if _, err := s.state.Apply(state.DeleteACLTokens{AccessorIDs: []string{accessor}}); err != nil {
		return err
	}
	s.logger.Info("ACL token revoked", "accessor", accessor, "by", caller.Accessor)
	return nil
}
