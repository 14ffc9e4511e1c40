package aws

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Each protocol reports an error as AWS services do: the JSON protocol
// with the namespaced code and the query code in x-amzn-query-error, the
// query protocol with the query code (or the code without one) in an
// ErrorResponse of its namespace.
func TestProtocolErrors(t *testing.T) {
	jp := JSONProtocol{ContentType: "application/x-amz-json-1.1", Namespace: "com.example.svc"}
	qp := QueryProtocol{Namespace: "http://svc.example.com/doc/2020-01-01/"}
	for _, tt := range []struct {
		name                   string
		err                    *Error
		wantType, wantQueryHdr string
		wantQueryCode, fault   string
	}{
		{"shared", NewError(SignatureDoesNotMatch, "no"), "com.example.svc#SignatureDoesNotMatch", "SignatureDoesNotMatch;Sender", "SignatureDoesNotMatch", "Sender"},
		{"own namespace, no query code", NewError(SerializationException, "bad"), "com.amazon.coral.service#SerializationException", "", "SerializationException", "Sender"},
		{"server's fault", NewError(ServiceUnavailable, "busy"), "com.example.svc#ServiceUnavailable", "ServiceUnavailable;Receiver", "ServiceUnavailable", "Receiver"},
		{"query code differs", NewError(Kind{Status: 400, Code: "NotFound", QueryCode: "Svc.NotFound"}, "gone"), "com.example.svc#NotFound", "Svc.NotFound;Sender", "Svc.NotFound", "Sender"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			jp.WriteError(w, tt.err)
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("JSON error %q: %v", w.Body, err)
			}
			if w.Code != tt.err.Status || body.Type != tt.wantType || body.Message != tt.err.Message {
				t.Errorf("JSON: got %d %+v, want %d {%s %s}", w.Code, body, tt.err.Status, tt.wantType, tt.err.Message)
			}
			if got := w.Header().Get("x-amzn-query-error"); got != tt.wantQueryHdr {
				t.Errorf("JSON: got x-amzn-query-error %q, want %q", got, tt.wantQueryHdr)
			}
			if got := w.Header().Get("Content-Type"); got != jp.ContentType {
				t.Errorf("JSON: got Content-Type %q, want %q", got, jp.ContentType)
			}

			w = httptest.NewRecorder()
			qp.WriteError(w, tt.err)
			var doc struct {
				XMLName   xml.Name `xml:"ErrorResponse"`
				Type      string   `xml:"Error>Type"`
				Code      string   `xml:"Error>Code"`
				Message   string   `xml:"Error>Message"`
				RequestID string   `xml:"RequestId"`
			}
			if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("query error %q: %v", w.Body, err)
			}
			if w.Code != tt.err.Status || doc.XMLName.Space != qp.Namespace || doc.Code != tt.wantQueryCode || doc.Type != tt.fault || doc.Message != tt.err.Message {
				t.Errorf("query: got %d %+v, want %d in %s: %s %s %s", w.Code, doc, tt.err.Status, qp.Namespace, tt.fault, tt.wantQueryCode, tt.err.Message)
			}
			if id := w.Header().Get("x-amzn-RequestId"); id == "" || id != doc.RequestID {
				t.Errorf("query: got request ids %q (header) and %q (document), want one, the same", id, doc.RequestID)
			}
		})
	}
}

// A form's Action is found in the URL's query or the body, and the body
// is left for the handler to read whole.
func TestPeekAction(t *testing.T) {
	for _, tt := range []struct {
		name, target, body string
		want               string
		tooLarge           bool
	}{
		{"in the body", "/", "Version=1&Action=Publish", "Publish", false},
		{"in the query", "/?Action=Subscribe", "Version=1&Action=Publish", "Subscribe", false},
		{"none", "/", "Version=1", "", false},
		{"bad escape", "/", "Action=Publish&x=%zz", "Publish", false},
		{"too large", "/", "Action=Publish&Message=" + string(make([]byte, 64)), "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body))
			r.ContentLength = -1 // found by reading, not by its length
			action, tooLarge, err := PeekAction(r, 32)
			if err != nil || action != tt.want || tooLarge != tt.tooLarge {
				t.Fatalf("got %q, too large %v, %v; want %q, %v", action, tooLarge, err, tt.want, tt.tooLarge)
			}
			if !tt.tooLarge {
				b, err := io.ReadAll(r.Body)
				if got := string(b); err != nil || got != tt.body {
					t.Errorf("body left %q, want %q", got, tt.body)
				}
			}
		})
	}
}
