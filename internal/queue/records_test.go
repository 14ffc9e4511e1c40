package queue

import (
	"fmt"
	"testing"
)

// TestQueuePutDecodesEarlierFormats reads definition records as written
// before queues kept SQS's policy and encryption settings and their last
// change, before FIFO settings, before a purge mark, and before tags: the
// fields they lack decode as zero.
func TestQueuePutDecodesEarlierFormats(t *testing.T) {
	p := queuePut{id: 7, name: "q", created: 42, attrs: DefaultAttributes()}
	full := p.encode()
	tests := []struct {
		name string
		rec  []byte
	}{
		{"current", full},
		// Zero settings, strings and counts are one byte each: the kept
		// settings and the change time five, the FIFO flags one, the
		// purge mark one, the tag count one.
		{"without the kept settings", full[:len(full)-5]},
		{"without FIFO flags", full[:len(full)-6]},
		{"without the purge mark", full[:len(full)-7]},
		{"without tags and purge mark", full[:len(full)-8]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dec{b: tt.rec}
			if kind := d.byte(); kind != recQueuePut {
				t.Fatalf("got kind %d, want %d", kind, recQueuePut)
			}
			got := decodeQueuePut(&d)
			if d.err != nil || fmt.Sprint(got) != fmt.Sprint(p) {
				t.Fatalf("got %+v, %v; want %+v", got, d.err, p)
			}
		})
	}
	p.tags, p.purgedBelow, p.modified = map[string]string{"k": "v"}, 300, 99
	p.attrs.Policy, p.attrs.KMSKeyID, p.attrs.KMSReuseSeconds, p.attrs.ManagedSSE = `{"Version":"2012-10-17"}`, "alias/k", 300, true
	d := dec{b: p.encode()[1:]}
	if got := decodeQueuePut(&d); d.err != nil || fmt.Sprint(got) != fmt.Sprint(p) {
		t.Fatalf("with tags and a purge mark: got %+v, %v; want %+v", got, d.err, p)
	}
}
