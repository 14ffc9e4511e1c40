package httpbody

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRead(t *testing.T) {
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		body := bytes.Repeat([]byte("abcdefg"), size/7+1)[:size]
		for _, length := range []int64{int64(size), -1} {
			got, err := Read(iotest.HalfReader(bytes.NewReader(body)), length, 1<<30)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("size %d, length %d: got %d bytes, %v; want the body", size, length, len(got), err)
			}
		}
	}
}

// TestReadOverLimit: a body over the limit is refused with the
// MaxBytesReader's error, declared or not.
func TestReadOverLimit(t *testing.T) {
	for _, length := range []int64{-1, 10} {
		w := httptest.NewRecorder()
		r := http.MaxBytesReader(w, io.NopCloser(strings.NewReader(strings.Repeat("x", 3*chunkSize))), 2*chunkSize)
		if _, err := Read(r, length, 2*chunkSize); !errors.As(err, new(*http.MaxBytesError)) {
			t.Errorf("length %d: got %v, want a MaxBytesError", length, err)
		}
	}
}

// TestReadAllocatesItsSize: a body of unknown length costs about its size
// in allocations, not the up to three times that doubling a buffer costs.
func TestReadAllocatesItsSize(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 8<<20)
	Read(bytes.NewReader(body), -1, 1<<30) // fill the pool
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, _ := Read(bytes.NewReader(body), -1, 1<<30)
	runtime.ReadMemStats(&after)
	if len(got) != len(body) {
		t.Fatalf("read %d bytes, want %d", len(got), len(body))
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(body))*7/4 {
		t.Errorf("reading %d bytes allocated %d, want at most 1.75 times the body (doubling a buffer costs up to 4)", len(body), n)
	}
}
