package aws

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docketd/docket/internal/memo"
)

// Signature Version 4, verified from the AWS specification: the request is
// put in canonical form, hashed into a string to sign together with the
// date and the credential scope, and signed with a key derived from the
// secret by an HMAC chain over the scope. The server computes the same
// signature and compares in constant time.
const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	sigTerminal  = "aws4_request"
	amzDateFmt   = "20060102T150405Z"
	// maxSkew is how far a request's date may be from the server's clock.
	maxSkew = 15 * time.Minute
)

// authorization is the parsed Authorization header.
type authorization struct {
	keyID         string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex
func parseAuthorization(h string) (authorization, *Error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, sigAlgorithm+" ")
	if !ok {
		return a, NewError(IncompleteSignature, "Authorization header must use %s", sigAlgorithm)
	}
	var cred, signed string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, NewError(IncompleteSignature, "malformed Authorization header component %q", part)
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.signature = v
		}
	}
	if cred == "" || signed == "" || a.signature == "" {
		return a, NewError(IncompleteSignature, "Authorization header needs Credential, SignedHeaders and Signature")
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != sigTerminal {
		return a, NewError(IncompleteSignature, "malformed credential %q: want ID/DATE/REGION/SERVICE/aws4_request", cred)
	}
	a.keyID, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	a.signedHeaders = strings.Split(signed, ";")
	if !slices.Contains(a.signedHeaders, "host") {
		return a, NewError(IncompleteSignature, "the host header must be signed")
	}
	return a, nil
}

// VerifierConfig configures a [Verifier].
type VerifierConfig struct {
	// Service is the name of the service that requests must be signed
	// for, as it appears in the credential scope: "sqs", "sns", "lambda".
	// Required: a signature for one service is refused by every other.
	Service string
	// Keys are the access keys requests may be signed with. Required.
	Keys KeyStore
	// Now is the clock request dates are checked against; default
	// time.Now.
	Now func() time.Time
}

// Verifier checks the Signature Version 4 of requests to one service
// against a key store and a clock. It is safe for concurrent use.
type Verifier struct {
	service    string
	keys       KeyStore
	now        func() time.Time
	signingKey *signingKeys
}

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg VerifierConfig) *Verifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{service: cfg.Service, keys: cfg.Keys, now: cfg.Now, signingKey: &signingKeys{}}
}

// signingKeys caches derived signing keys: a key is the same for every
// request signed with one secret on one day for one region, and deriving
// it is four HMACs, more than the rest of a verification. A key is used
// by its clients for a day, so the bound (memo.DefaultMax) is on distinct
// keys and regions.
type signingKeys struct{ memo.Map[signingScope, []byte] }

type signingScope struct{ secret, date, region, service string }

func (c *signingKeys) get(s signingScope) []byte {
	if k, ok := c.Get(s); ok {
		return k
	}
	k := deriveSigningKey(s)
	c.Put(s, k)
	return k
}

// Verify checks r's signature over body and returns the key that signed
// it. The region of the credential is taken as given: SDKs sign with the
// region they are configured for, and a Docket server answers for any.
func (v *Verifier) Verify(r *http.Request, body []byte) (Key, *Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Key{}, NewError(MissingAuthenticationToken, "Request is missing Authentication Token")
	}
	a, serr := parseAuthorization(h)
	if serr != nil {
		return Key{}, serr
	}
	key, ok := v.keys.Lookup(a.keyID)
	if !ok {
		return Key{}, NewError(InvalidClientTokenID, "The security token included in the request is invalid.")
	}
	if a.service != v.service {
		return Key{}, NewError(SignatureDoesNotMatch, "credential should be scoped to service %q, not %q", v.service, a.service)
	}
	stamp := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFmt, stamp)
	if err != nil {
		if t, err = http.ParseTime(r.Header.Get("Date")); err != nil {
			return Key{}, NewError(IncompleteSignature, "the request needs a valid X-Amz-Date or Date header")
		}
		stamp = t.UTC().Format(amzDateFmt)
	}
	if now := v.now(); t.Before(now.Add(-maxSkew)) || t.After(now.Add(maxSkew)) {
		return Key{}, NewError(RequestExpired, "Signature expired: %s is now earlier than %s or later than %s",
			stamp, now.Add(-maxSkew).UTC().Format(amzDateFmt), now.Add(maxSkew).UTC().Format(amzDateFmt))
	}
	if a.date != stamp[:8] {
		return Key{}, NewError(SignatureDoesNotMatch, "credential date %q does not match request date %q", a.date, stamp[:8])
	}
	payload := sha256Hex(body)
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payload {
		// UNSIGNED-PAYLOAD lands here too: the body of a request to these
		// APIs is its whole meaning, so it must be signed.
		return Key{}, NewError(SignatureDoesNotMatch, "the payload hash does not match the body")
	}
	creq := canonicalRequest(r, a.signedHeaders, payload)
	scope := a.date + "/" + a.region + "/" + a.service + "/" + sigTerminal
	sk := v.signingKey.get(signingScope{key.Secret, a.date, a.region, a.service})
	want := hmacSHA256(sk, stringToSign(stamp, scope, creq))
	got, err := hex.DecodeString(a.signature)
	if err != nil || !hmac.Equal(got, want) {
		return Key{}, NewError(SignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return key, nil
}

// canonicalRequest builds the canonical form of r that SigV4 signs.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	// Every service but S3 encodes the already-encoded path once more.
	b.WriteString(uriEncode(path, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// headerValue is the canonical value of a signed header: every value,
// trimmed, inner runs of spaces collapsed, joined by commas. Go moves Host
// out of the header map, and the client's Content-Length is the request's.
func headerValue(r *http.Request, name string) string {
	if name != "host" && name != "content-length" {
		if vs := r.Header.Values(name); len(vs) == 1 && isCanonicalValue(vs[0]) {
			return vs[0]
		}
	}
	var values []string
	switch name {
	case "host":
		values = []string{r.Host}
	case "content-length":
		values = r.Header.Values("Content-Length")
		if len(values) == 0 {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		values = r.Header.Values(name)
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// isCanonicalValue reports whether v is already in canonical form: no
// leading or trailing space and no runs of spaces or other white space.
func isCanonicalValue(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ':
			if i == 0 || i == len(v)-1 || v[i+1] == ' ' {
				return false
			}
		case c == '\t', c == '\n', c == '\v', c == '\f', c == '\r', c >= 0x80:
			return false // let strings.Fields decide
		}
	}
	return true
}

// canonicalQuery sorts the query parameters by name, then value, with
// names and values URI-encoded.
func canonicalQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, pair{uriEncode(k, true), uriEncode(v, true)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes every byte but the unreserved characters
// (A-Z a-z 0-9 - _ . ~), and '/' unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	i := 0
	for i < len(s) && unreserved(s[i], encodeSlash) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if c := s[i]; unreserved(c, encodeSlash) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// unreserved reports whether c stays as it is in a URI-encoded string.
func unreserved(c byte, encodeSlash bool) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash
}

func stringToSign(stamp, scope, canonical string) string {
	return sigAlgorithm + "\n" + stamp + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
}

// deriveSigningKey derives the signing key from the secret and the scope.
func deriveSigningKey(s signingScope) []byte {
	k := hmacSHA256([]byte("AWS4"+s.secret), s.date)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, s.service)
	return hmacSHA256(k, sigTerminal)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
