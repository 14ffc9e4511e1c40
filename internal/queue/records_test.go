package queue

import (
	"fmt"
	"testing"
)

// TestQueuePutDecodesEarlierFormats reads definition records as written
// before queues had a purge mark, and before they had tags: the fields
// they lack decode as zero.
func TestQueuePutDecodesEarlierFormats(t *testing.T) {
	p := queuePut{id: 7, name: "q", created: 42, attrs: DefaultAttributes()}
	full := p.encode()
	tests := []struct {
		name string
		rec  []byte
	}{
		{"current", full},
		{"without the purge mark", full[:len(full)-1]},      // a zero mark is one byte
		{"without tags and purge mark", full[:len(full)-2]}, // so is an empty tag count
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
	p.tags, p.purgedBelow = map[string]string{"k": "v"}, 300
	d := dec{b: p.encode()[1:]}
	if got := decodeQueuePut(&d); d.err != nil || fmt.Sprint(got) != fmt.Sprint(p) {
		t.Fatalf("with tags and a purge mark: got %+v, %v; want %+v", got, d.err, p)
	}
}
