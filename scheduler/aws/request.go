package aws

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"

	"github.com/docketd/docket/internal/httpbody"
)

// ReadBody reads the body of r, of at most limit bytes: a body that says
// it is longer is refused before any of it is read, and one without a
// length when it grows past the limit. A body that does not arrive within
// the server's read timeout is RequestTimeout.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Error) {
	if r.ContentLength > limit {
		return nil, NewError(RequestEntityTooLarge, "request body of %d bytes is over the limit of %d bytes", r.ContentLength, limit)
	}
	body, err := httpbody.Read(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, NewError(RequestEntityTooLarge, "request body over %d bytes", mbe.Limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, NewError(RequestTimeout, "the request body did not arrive in time")
		}
		return nil, NewError(SerializationException, "read request body: %v", err)
	}
	return body, nil
}

// NewRequestID returns a request id in the form of a UUID, as AWS answers
// carry in x-amzn-RequestId and the query protocol's documents.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
