// Package httpbody reads request bodies whole within a limit, with as
// little garbage as it can: a hostile client sending many large bodies of
// unknown length (chunked) must not make the server allocate several
// times what it reads.
package httpbody

import (
	"io"
	"sync"
)

// chunkSize is the unit bodies of unknown length are read in.
const chunkSize = 64 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// Read reads r to its end. length is the body's declared length, or -1
// when unknown; limit is what r lets through (an http.MaxBytesReader
// reports going over it). A body of known length is read into one buffer
// of that length. One of unknown length is read into pooled chunks and
// then copied into one buffer of its size, so that reading it allocates
// its size once, where growing a buffer by doubling allocates up to three
// times as much.
func Read(r io.Reader, length, limit int64) ([]byte, error) {
	if length >= 0 {
		b := make([]byte, 0, min(length, limit)+1) // +1: the read that sees EOF needs room
		for {
			n, err := r.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if err == io.EOF {
				return b, nil
			}
			if err != nil {
				return b, err
			}
			if len(b) == cap(b) { // longer than declared: let r refuse it
				b = append(b, 0)[:len(b)]
			}
		}
	}
	var parts []*[]byte
	defer func() {
		for _, p := range parts {
			chunks.Put(p)
		}
	}()
	total := 0
	for {
		p := chunks.Get().(*[]byte)
		parts = append(parts, p)
		n, err := io.ReadFull(r, *p)
		total += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]byte, total)
	off := 0
	for _, p := range parts {
		off += copy(out[off:], (*p)[:min(chunkSize, total-off)])
	}
	return out, nil
}
