package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler/api"

	"github.com/docketd/docket/internal/jsonfast"
)

// fastJSONSeeds are request bodies as Docket's client sends them, and
// edge cases.
var fastJSONSeeds = []string{
	`{"body":"","messages":[{"body":"noop"},{"body":"x","attributes":{"k":"v"},"delay":"2s"}]}`,
	`{"max":10,"wait":"1s"}`,
	`{"receipts":["AAAA","BBBB"]}`,
	`{"body":"one","delay":1000000000}`,
	`{"max":1,"visibility_timeout":"5m","wait":"20s"}`,
	` { "receipts" : [ ] } `,
	`{"messages":[]}`,
	`{"body":"h\u00e9llo \"q\""}`,
	`{"body":"a","Body":"b"}`,
	`{"body":"a","body":"b"}`,
	`{"body":"a","extra":1}`,
	`{"max":1.0}`, `{"max":-1}`, `{"max":null}`, `{"max":9223372036854775807}`,
	`{"wait":"forever"}`, `{"wait":true}`, `{"wait":"-1s"}`,
	`{"receipts":null}`, `{"receipts":["a",1]}`,
	`{"attributes":{"a":"1","a":"2"}}`, `{"attributes":{}}`, `{"attributes":{"a":null}}`,
	`{"messages":[{"body":"x","messages":[]}]}`,
	`{"receipts":["a"]} trailing`,
	"{\"body\":\"\xff\"}",
	`{"ſ":1}`, `{"MAX":1}`,
}

// checkFastJSON fails when the fast path accepts data that decode's
// encoding/json (unknown fields refused) refuses or reads differently.
func checkFastJSON[T any](t *testing.T, data []byte) bool {
	t.Helper()
	var fast, std T
	if !fastDecode(data, &fast) {
		var zero T
		if !reflect.DeepEqual(fast, zero) {
			t.Errorf("%T: fast path gave up on %q but left %+v", fast, data, fast)
		}
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&std); err != nil || dec.More() {
		t.Errorf("%T: fast path took %q, which encoding/json refuses: %v", fast, data, err)
		return true
	}
	if !reflect.DeepEqual(fast, std) {
		t.Errorf("%T: %q decodes as\n%+v\nwant (encoding/json)\n%+v", fast, data, fast, std)
	}
	return true
}

func checkAllShapes(t *testing.T, data []byte) int {
	n := 0
	for _, ok := range []bool{
		checkFastJSON[api.SendRequest](t, data),
		checkFastJSON[api.ReceiveRequest](t, data),
		checkFastJSON[api.DeleteRequest](t, data),
	} {
		if ok {
			n++
		}
	}
	return n
}

func TestFastJSON(t *testing.T) {
	for _, s := range fastJSONSeeds {
		checkAllShapes(t, []byte(s))
	}
	// What Docket's client sends must take the fast path, or it buys
	// nothing.
	for _, s := range fastJSONSeeds[:6] {
		if checkAllShapes(t, []byte(s)) == 0 {
			t.Errorf("the fast path took none of the shapes for %s", s)
		}
	}
	for _, s := range []string{`{"body":"a","extra":1}`, `{"MAX":1}`, `{"body":"a\"b"}`, `{"wait":"forever"}`, `{"attributes":{"a":"1","a":"2"}}`} {
		if fastDecode([]byte(s), &api.SendRequest{}) || fastDecode([]byte(s), &api.ReceiveRequest{}) {
			t.Errorf("the fast path took %s; it is encoding/json's", s)
		}
	}
}

// FuzzFastJSON: whatever the fast path accepts, encoding/json accepts too
// and decodes to the same value.
//
//	go test ./scheduler -run '^$' -fuzz FuzzFastJSON -fuzztime 60s
func FuzzFastJSON(f *testing.F) {
	for _, s := range fastJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkAllShapes(t, data) })
}

var encodeSeeds = []string{"", "plain", "quote\" back\\ slash/", "ctl \x00\x01\b\f\n\r\t\x1f\x7f", "<html> & ",
	"héllo 🚀", "bad \xff\xfe utf8 \xc3", "line\u2028para\u2029", "\ufffd"}

// responsesWith returns the worker loop's answers carrying s in every
// string, at time t.
func responsesWith(s string, t time.Time) []any {
	return []any{
		api.SendResponse{Messages: []api.SendResult{{ID: s}, {}, {ID: s, Seq: uint64(len(s)) + 1, Duplicate: true}}},
		api.SendResponse{Messages: []api.SendResult{}},
		api.DeleteResponse{Results: []api.DeleteResult{{Receipt: s}}},
		api.DeleteResponse{},
		api.ReceiveResponse{Messages: []api.Message{
			{ID: s, Receipt: s, Body: s, Attributes: map[string]string{"b": s, s: "a"}, ReceiveCount: 3, SentAt: t, FirstReceivedAt: t, SourceQueue: s},
			{Body: s, SentAt: t.UTC()},
			{ID: s, Body: s, SentAt: t, FirstReceivedAt: t, Group: s, DedupID: s, Seq: 1<<63 + uint64(len(s))},
		}},
		api.ReceiveResponse{Messages: []api.Message{}},
		api.ReceiveResponse{},
	}
}

func stdEncode(t testing.TB, v any) []byte {
	var b bytes.Buffer
	if err := jsonfast.Encode(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFastEncode: the fast encoder writes what encoding/json writes.
func TestFastEncode(t *testing.T) {
	at := time.Date(2026, 11, 24, 8, 30, 1, 123400000, time.FixedZone("X", 3600))
	for i, s := range encodeSeeds {
		when := at
		if i%2 == 1 {
			when = at.In(time.FixedZone("seconds", -(5*3600 + 30))) // offset seconds are dropped
		}
		for _, v := range responsesWith(s, when) {
			got, ok := fastEncode(nil, v)
			if !ok {
				t.Fatalf("fastEncode did not take %T", v)
			}
			if want := stdEncode(t, v); !bytes.Equal(got, want) {
				t.Errorf("%T with %q:\ngot  %s\nwant %s", v, s, got, want)
			}
		}
	}
	for _, v := range []any{
		api.SendResponse{Messages: []api.SendResult{{Error: &api.Error{Code: "x"}}}},
		api.DeleteResponse{Results: []api.DeleteResult{{Receipt: "r", Error: &api.Error{Code: "x"}}}},
		api.ReceiveResponse{Messages: []api.Message{{SentAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}},
		api.ReceiveResponse{Messages: []api.Message{{SentAt: at.In(time.FixedZone("a day ahead", 25*3600))}}},
		api.PurgeResponse{},
	} {
		if _, ok := fastEncode(nil, v); ok {
			t.Errorf("fastEncode took %+v; it is encoding/json's", v)
		}
	}
}

func FuzzFastEncode(f *testing.F) {
	for _, s := range encodeSeeds {
		f.Add(s, int64(1795000000123456789))
	}
	f.Fuzz(func(t *testing.T, s string, ns int64) {
		for _, v := range responsesWith(s, time.Unix(0, ns)) {
			got, ok := fastEncode(nil, v)
			if want := stdEncode(t, v); ok && !bytes.Equal(got, want) {
				t.Fatalf("%T with %q:\ngot  %s\nwant %s", v, s, got, want)
			}
		}
	})
}

func BenchmarkReceiveEncode(b *testing.B) {
	m := api.Message{ID: "0123abcd-0123-4567-89ab-0123456789ab", Receipt: strings.Repeat("R", 27), Body: strings.Repeat("x", 256),
		ReceiveCount: 1, SentAt: time.Now().UTC(), FirstReceivedAt: time.Now().UTC()}
	v := api.ReceiveResponse{Messages: []api.Message{m, m, m, m, m, m, m, m, m, m}}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			fastEncode(nil, v)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(v)
		}
	})
}
