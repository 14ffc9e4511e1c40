package aws

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
)

// ReadBody reads the body of r, of at most limit bytes: a body that says
// it is longer is refused before any of it is read, and one without a
// length when it grows past the limit. A body that does not arrive within
// the server's read timeout is RequestTimeout.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Error) {
	if r.ContentLength > limit {
		return nil, NewError(RequestEntityTooLarge, "request body of %d bytes is over the limit of %d bytes", r.ContentLength, limit)
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
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

// readBody reads a body of length bytes (-1 when unknown) and at most
// limit: into one buffer of its length when it has one, and otherwise
// into a buffer that doubles up to the limit and one byte more.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	size := 512
	if length > 0 {
		size = int(min(length, limit)) + 1 // +1: the read that sees EOF needs room
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(make([]byte, 0, max(min(2*cap(b), int(limit)+1), cap(b)+1)), b...)
		}
	}
}

// NewRequestID returns a request id in the form of a UUID, as AWS answers
// carry in x-amzn-RequestId and the query protocol's documents.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
