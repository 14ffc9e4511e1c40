package queue

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/errdefs"
)

// TestTagsDurable checks that tags set at creation, added, replaced and
// removed survive a restart and the compaction of the segments that held
// their records, and that attribute changes keep them.
func TestTagsDurable(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentSize: 16 << 10}
	e := openEngine(t, dir, cfg)
	if _, err := e.CreateTaggedQueue("q", DefaultAttributes(), map[string]string{"team": "ops", "env": "dev"}); err != nil {
		t.Fatal(err)
	}
	if err := e.TagQueue("q", map[string]string{"env": "prod", "cost": "42"}); err != nil {
		t.Fatal(err)
	}
	if err := e.UntagQueue("q", []string{"team", "absent"}); err != nil {
		t.Fatal(err)
	}
	a := DefaultAttributes()
	a.VisibilityTimeout = 7e9
	if err := e.SetAttributes("q", a); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"env": "prod", "cost": "42"}
	wantTags := func(e *Engine, when string) {
		t.Helper()
		info, err := e.Queue("q")
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(info.Tags, want) {
			t.Fatalf("%s: got tags %v, want %v", when, info.Tags, want)
		}
		if info.Attributes != a {
			t.Fatalf("%s: got attributes %+v, want %+v", when, info.Attributes, a)
		}
	}
	wantTags(e, "before restart")
	// Fill segments so that the definition record falls in a compacted one.
	for range 100 {
		mustSend(t, e, "q", strings.Repeat("x", 500))
	}
	for n := 0; n < 100; {
		msgs := mustReceive(t, e, "q", ReceiveOptions{Max: 10})
		if len(msgs) == 0 {
			t.Fatalf("received %d of 100 messages", n)
		}
		n += len(msgs)
		for _, m := range msgs {
			mustDelete(t, e, "q", m.Receipt)
		}
	}
	segs, _ := e.log().Segments()
	for range segs {
		if err := e.Compact(true); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := e.log().Segments(); after[0] == segs[0] {
		t.Fatalf("segment %d, which held the tag records, survived compaction", segs[0])
	}
	wantTags(e, "after compaction")
	e.Close()
	wantTags(openEngine(t, dir, cfg), "after restart")
}

func TestTagLimits(t *testing.T) {
	many := map[string]string{}
	for i := range MaxTags {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	for _, tc := range []struct {
		name string
		tags map[string]string
		want string // in the error; "" for success
	}{
		{"fifty", many, ""},
		{"empty value", map[string]string{"k": ""}, ""},
		{"empty key", map[string]string{"": "v"}, "must be 1 to 128"},
		{"long key", map[string]string{strings.Repeat("é", 129): "v"}, "must be 1 to 128"},
		{"long value", map[string]string{"k": strings.Repeat("v", 257)}, "longer than 256"},
		{"reserved", map[string]string{"AWS:x": "v"}, "reserved"},
		{"bad utf-8", map[string]string{"k": "\xff"}, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			_, err := e.CreateTaggedQueue("q", DefaultAttributes(), tc.tags)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalid)):
				t.Fatalf("got %v, want an invalid error containing %q", err, tc.want)
			case tc.want != "":
				if _, err := e.Queue("q"); err == nil {
					t.Fatal("queue created despite invalid tags")
				}
			}
		})
	}
	t.Run("fifty-first added", func(t *testing.T) {
		e := newEngine(t)
		if _, err := e.CreateTaggedQueue("q", DefaultAttributes(), many); err != nil {
			t.Fatal(err)
		}
		// Replacing an existing key keeps the count at 50.
		if err := e.TagQueue("q", map[string]string{"k0": "new"}); err != nil {
			t.Fatalf("replacing a tag: %v", err)
		}
		err := e.TagQueue("q", map[string]string{"one-more": "v"})
		if err == nil || !strings.Contains(err.Error(), "at most 50") {
			t.Fatalf("got %v, want the 50-tag limit", err)
		}
		info, _ := e.Queue("q")
		if len(info.Tags) != MaxTags || info.Tags["k0"] != "new" {
			t.Fatalf("got %d tags (k0=%q), want 50 with k0=new and nothing half-applied", len(info.Tags), info.Tags["k0"])
		}
	})
	t.Run("missing queue", func(t *testing.T) {
		e := newEngine(t)
		if err := e.TagQueue("nope", map[string]string{"a": "b"}); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("got %v, want not found", err)
		}
		if err := e.UntagQueue("nope", []string{"a"}); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("got %v, want not found", err)
		}
	})
}
