package scheduler

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"
)

// idSeq orders IDs made in the same millisecond.
var idSeq atomic.Uint32

// newID returns a UUID-shaped ID whose first 48 bits are the time in
// milliseconds (like UUIDv7) followed by a sequence and random bits. IDs
// made later sort later, so new allocations and evaluations append to the
// end of the store's B+tree instead of dirtying pages all over it.
func newID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(time.Now().UnixMilli())<<16|uint64(idSeq.Add(1)&0xffff))
	rand.Read(b[8:])
	b[6] = b[6]&0x0f | 0x70 // version 7
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
