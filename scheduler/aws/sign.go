package aws

import (
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// Signer signs requests with Signature Version 4 as AWS SDKs sign them,
// for Docket's own clients of its AWS APIs: the benchmark's load generator
// and tests. It shares the canonical form with [Verifier].
type Signer struct {
	KeyID, Secret, Region string
	// Service is the service the request is for, as in the credential
	// scope: "sqs", "sns", "lambda".
	Service string
	keys    signingKeys
}

// Sign sets r's X-Amz-Date and Authorization headers for body, signing
// host, x-amz-date, and content-type and x-amz-target when r has them.
func (s *Signer) Sign(r *http.Request, body []byte, now time.Time) {
	stamp := now.UTC().Format(amzDateFmt)
	r.Header.Set("X-Amz-Date", stamp)
	signed := make([]string, 0, 4)
	if r.Header.Get("Content-Type") != "" {
		signed = append(signed, "content-type")
	}
	signed = append(signed, "host", "x-amz-date")
	if r.Header.Get("X-Amz-Target") != "" {
		signed = append(signed, "x-amz-target")
	}
	date := stamp[:8]
	scope := date + "/" + s.Region + "/" + s.Service + "/" + sigTerminal
	key := s.keys.get(signingScope{s.Secret, date, s.Region, s.Service})
	sig := hmacSHA256(key, stringToSign(stamp, scope, canonicalRequest(r, signed, sha256Hex(body))))
	r.Header.Set("Authorization", sigAlgorithm+" Credential="+s.KeyID+"/"+scope+
		", SignedHeaders="+strings.Join(signed, ";")+", Signature="+hex.EncodeToString(sig))
}
