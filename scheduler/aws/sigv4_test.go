package aws

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The get-vanilla case of AWS's SigV4 test suite.
func TestSignatureVanilla(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.amazonaws.com/", nil)
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	creq := canonicalRequest(r, []string{"host", "x-amz-date"}, sha256Hex(nil))
	const wantCreq = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if creq != wantCreq {
		t.Fatalf("canonical request =\n%s\nwant\n%s", creq, wantCreq)
	}
	sts := stringToSign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", creq)
	keys := &signingKeys{}
	scope := signingScope{"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service"}
	for _, when := range []string{"derived", "cached"} {
		got := hex.EncodeToString(hmacSHA256(keys.get(scope), sts))
		if want := "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"; got != want {
			t.Errorf("signature with the %s key = %s, want %s", when, got, want)
		}
	}
	other := scope
	other.date = "20150831"
	if string(keys.get(other)) == string(keys.get(scope)) {
		t.Error("the signing key of another day is the same")
	}
}

// Header values are trimmed and inner runs of white space collapsed; the
// fast path for values already in that form must agree.
func TestCanonicalHeaderValues(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a b c", "a b c"},
		{"  lead", "lead"},
		{"trail ", "trail"},
		{"a   b", "a b"},
		{"a\tb", "a b"},
		{"", ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://h/", nil)
		r.Header["X-Test"] = []string{tt.in}
		if got := headerValue(r, "x-test"); got != tt.want {
			t.Errorf("headerValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "http://h/", nil)
	r.Header["X-Test"] = []string{"a", " b  c "}
	if got := headerValue(r, "x-test"); got != "a,b c" {
		t.Errorf("headerValue of two values = %q, want %q", got, "a,b c")
	}
}

func TestCanonicalQueryAndPath(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://h/a%20b/c?b=2&a=z&a=y&sp=x%20y", nil)
	creq := canonicalRequest(r, []string{"host"}, "P")
	lines := strings.Split(creq, "\n")
	if lines[1] != "/a%2520b/c" {
		t.Errorf("canonical path = %q, want the path encoded twice", lines[1])
	}
	if lines[2] != "a=y&a=z&b=2&sp=x%20y" {
		t.Errorf("canonical query = %q, want sorted and encoded", lines[2])
	}
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		name, header, code string
	}{
		{"ok", "AWS4-HMAC-SHA256 Credential=K/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab", ""},
		{"other algorithm", "AWS4-HMAC-SHA1 Credential=K/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=ab", "IncompleteSignature"},
		{"short credential", "AWS4-HMAC-SHA256 Credential=K/20240101/sqs/aws4_request, SignedHeaders=host, Signature=ab", "IncompleteSignature"},
		{"host unsigned", "AWS4-HMAC-SHA256 Credential=K/20240101/us-east-1/sqs/aws4_request, SignedHeaders=x-amz-date, Signature=ab", "IncompleteSignature"},
		{"no signature", "AWS4-HMAC-SHA256 Credential=K/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host", "IncompleteSignature"},
		{"junk", "AWS4-HMAC-SHA256 ,,,", "IncompleteSignature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseAuthorization(tt.header)
			got := ""
			if err != nil {
				got = err.Code
			}
			if got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
		})
	}
}
