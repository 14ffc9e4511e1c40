package aws

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/docketd/docket/internal/jsonfast"
)

// JSONProtocol answers requests of one service's JSON protocol (awsJson:
// POST / with X-Amz-Target: <Service>.<Action>).
type JSONProtocol struct {
	// ContentType is that of every answer, e.g.
	// "application/x-amz-json-1.0".
	ContentType string
	// Namespace prefixes the codes of errors in __type, e.g.
	// "com.amazonaws.sqs", unless an error has its own.
	Namespace string
}

// DecodeJSON decodes one JSON object from data into v. Unknown fields are
// ignored, as AWS services do, so newer SDKs keep working; malformed JSON
// and values of the wrong type are SerializationException. An empty body
// decodes as {}.
func DecodeJSON(data []byte, v any) *Error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ):
			return NewError(SerializationException, "wrong type at offset %d: %s must be %s, not %s", typ.Offset, typ.Field, typ.Type, typ.Value)
		case errors.As(err, &syn):
			return NewError(SerializationException, "malformed JSON at offset %d: %v", syn.Offset, syn)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return NewError(SerializationException, "malformed JSON: unexpected end of input")
		default:
			return NewError(SerializationException, "malformed JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return NewError(SerializationException, "unexpected data after the JSON object at offset %d", dec.InputOffset())
	}
	return nil
}

// WriteResult answers with v encoded as JSON.
func (p JSONProtocol) WriteResult(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", p.ContentType)
	w.Header().Set("x-amzn-RequestId", NewRequestID())
	w.WriteHeader(http.StatusOK)
	return jsonfast.Encode(w, v)
}

// WriteEncoded answers with b, a result already encoded as JSON.
func (p JSONProtocol) WriteEncoded(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", p.ContentType)
	w.Header().Set("x-amzn-RequestId", NewRequestID())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

// errorBody is the JSON protocol's error document.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// WriteError answers with e: its status, a document of its namespaced
// code and message, and its query code in x-amzn-query-error.
func (p JSONProtocol) WriteError(w http.ResponseWriter, e *Error) {
	ns := e.Namespace
	if ns == "" {
		ns = p.Namespace
	}
	if e.QueryCode != "" {
		w.Header().Set("x-amzn-query-error", e.QueryCode+";"+e.fault())
	}
	w.Header().Set("Content-Type", p.ContentType)
	w.Header().Set("x-amzn-RequestId", NewRequestID())
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(errorBody{Type: ns + "#" + e.Code, Message: e.Message})
}
