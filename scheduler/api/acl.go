package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/docketd/docket/specs"
)

// Token types.
const (
	TokenManagement = "management"
	TokenClient     = "client"
)

// ACLToken is a token as the API shows it. SecretID is shown once, when
// the token is made (bootstrap or create); the server keeps only its hash.
// Likewise the AWS secret key.
type ACLToken struct {
	AccessorID string    `json:"accessor_id"`
	SecretID   string    `json:"secret_id,omitempty"`
	Name       string    `json:"name,omitempty"`
	Type       string    `json:"type"`
	Policies   []string  `json:"policies"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	// AWSAccessKeyID is the token's access key for the AWS-compatible
	// endpoints (SigV4), if it has one; AWSSecretAccessKey comes with it
	// when the token is made.
	AWSAccessKeyID     string    `json:"aws_access_key_id,omitempty"`
	AWSSecretAccessKey string    `json:"aws_secret_access_key,omitempty"`
	CreatedAt          time.Time `json:"created_at,omitzero"`
	CreateIndex        uint64    `json:"create_index"`
	ModifyIndex        uint64    `json:"modify_index"`
}

// ACLTokenRequest asks for a new token.
type ACLTokenRequest struct {
	Name string `json:"name,omitempty"`
	// Type is client (the default) or management.
	Type     string   `json:"type,omitempty"`
	Policies []string `json:"policies,omitempty"`
	// TTL, if set, makes the token expire that long after it is made.
	TTL specs.Duration `json:"ttl,omitempty"`
	// AWSKey gives the token an AWS-style access key pair.
	AWSKey bool `json:"aws_key,omitempty"`
}

// ACLTokenList is the answer of GET /v1/acl/tokens.
type ACLTokenList struct {
	Tokens []ACLToken `json:"tokens"`
}

// ACLPolicy is a named policy and its HCL rules.
type ACLPolicy struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Rules       string `json:"rules"`
	CreateIndex uint64 `json:"create_index"`
	ModifyIndex uint64 `json:"modify_index"`
}

// ACLPolicyList is the answer of GET /v1/acl/policies.
type ACLPolicyList struct {
	Policies []ACLPolicy `json:"policies"`
}

// Bootstrap makes the first management token; it works once.
func (c *Client) Bootstrap(ctx context.Context) (*ACLToken, error) {
	var out ACLToken
	return &out, c.Do(ctx, http.MethodPost, "/v1/acl/bootstrap", nil, &out)
}

// ApplyPolicy creates or replaces the policy called p.Name.
func (c *Client) ApplyPolicy(ctx context.Context, p ACLPolicy) (*ACLPolicy, error) {
	var out ACLPolicy
	return &out, c.Do(ctx, http.MethodPut, "/v1/acl/policies/"+url.PathEscape(p.Name), p, &out)
}

// Policies lists every policy.
func (c *Client) Policies(ctx context.Context) ([]ACLPolicy, error) {
	var out ACLPolicyList
	return out.Policies, c.Do(ctx, http.MethodGet, "/v1/acl/policies", nil, &out)
}

// Policy returns one policy.
func (c *Client) Policy(ctx context.Context, name string) (*ACLPolicy, error) {
	var out ACLPolicy
	return &out, c.Do(ctx, http.MethodGet, "/v1/acl/policies/"+url.PathEscape(name), nil, &out)
}

// DeletePolicy removes a policy.
func (c *Client) DeletePolicy(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/acl/policies/"+url.PathEscape(name), nil, nil)
}

// CreateToken makes a token; its secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, req ACLTokenRequest) (*ACLToken, error) {
	var out ACLToken
	return &out, c.Do(ctx, http.MethodPost, "/v1/acl/tokens", req, &out)
}

// Tokens lists every token, without secrets.
func (c *Client) Tokens(ctx context.Context) ([]ACLToken, error) {
	var out ACLTokenList
	return out.Tokens, c.Do(ctx, http.MethodGet, "/v1/acl/tokens", nil, &out)
}

// Token returns one token by accessor, without its secret.
func (c *Client) Token(ctx context.Context, accessor string) (*ACLToken, error) {
	var out ACLToken
	return &out, c.Do(ctx, http.MethodGet, "/v1/acl/tokens/"+url.PathEscape(accessor), nil, &out)
}

// DeleteToken revokes a token at once.
func (c *Client) DeleteToken(ctx context.Context, accessor string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/acl/tokens/"+url.PathEscape(accessor), nil, nil)
}
