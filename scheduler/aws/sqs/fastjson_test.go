package sqs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/jsonfast"
)

// fastJSONSeeds are request bodies as SDKs send them, and edge cases.
var fastJSONSeeds = []string{
	`{"QueueUrl":"http://127.0.0.1:3625/000000000000/q","Entries":[{"Id":"0","MessageBody":"xxxx"},{"Id":"1","MessageBody":"yyyy","DelaySeconds":0}]}`,
	`{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":10,"WaitTimeSeconds":1,"AttributeNames":["All"],"MessageAttributeNames":[]}`,
	`{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"a","ReceiptHandle":"AAAA"},{"Id":"b","ReceiptHandle":"BBBB","VisibilityTimeout":30}]}`,
	` { "QueueUrl" : "u" , "Entries" : [ ] } `,
	`{"QueueUrl":"u","Entries":[{"Id":"x","MessageBody":"h\u00e9llo \"quoted\"","MessageAttributes":{"a":{"DataType":"String","StringValue":"v"}}}]}`,
	`{"QueueUrl":"u","queueurl":"v"}`,
	`{"QueueUrl":"u","QueueUrl":"v"}`,
	`{"QueueUrl":"u","Unknown":{"deep":[1,true,false,"s",{"x":-0}]},"MaxNumberOfMessages":-0}`,
	`{"QueueUrl":"u","MaxNumberOfMessages":1.0}`,
	`{"QueueUrl":"u","MaxNumberOfMessages":9223372036854775807}`,
	`{"QueueUrl":"u","MaxNumberOfMessages":null}`,
	`{"QueueUrl":"héllo","WaitTimeSeconds":05}`,
	`{"QueueUrl":"u"} trailing`,
	"{\"QueueUrl\":\"\xff\"}",
	`{"Entries":[null]}`,
	`{"Entries":[{"Id":"1","ReceiptHandle":"r","Extra":[[[]]]}]}`,
	`{"ſ":1}`,
}

// decodeBoth decodes data into a new T with the fast path and with
// encoding/json; fastOK reports whether the fast path took it.
func decodeBoth[T any](data []byte) (fast, std T, fastOK bool, stdErr error) {
	fastOK = fastDecode(data, &fast)
	stdErr = json.NewDecoder(bytes.NewReader(data)).Decode(&std)
	return
}

// checkFastJSON fails when the fast path accepts data that encoding/json
// refuses or decodes differently.
func checkFastJSON[T any](t *testing.T, data []byte) bool {
	t.Helper()
	fast, std, ok, err := decodeBoth[T](data)
	if !ok {
		var zero T
		if !reflect.DeepEqual(fast, zero) {
			t.Errorf("%T: fast path gave up on %q but left %+v", fast, data, fast)
		}
		return false
	}
	if err != nil {
		t.Errorf("%T: fast path took %q, which encoding/json refuses: %v", fast, data, err)
		return true
	}
	// encoding/json stops at the end of the first value: trailing data
	// must have made the fast path give up.
	if !reflect.DeepEqual(fast, std) {
		t.Errorf("%T: %q decodes as\n%+v\nwant (encoding/json)\n%+v", fast, data, fast, std)
	}
	return true
}

func TestFastJSON(t *testing.T) {
	took := 0
	for _, s := range fastJSONSeeds {
		data := []byte(s)
		for _, ok := range []bool{
			checkFastJSON[sendMessageBatchRequest](t, data),
			checkFastJSON[receiveMessageRequest](t, data),
			checkFastJSON[receiptBatchRequest](t, data),
		} {
			if ok {
				took++
			}
		}
	}
	// The SDK's plain bodies must take the fast path, or it buys nothing.
	for i, s := range fastJSONSeeds[:4] {
		var a sendMessageBatchRequest
		var b receiveMessageRequest
		var c receiptBatchRequest
		if !fastDecode([]byte(s), &a) && !fastDecode([]byte(s), &b) && !fastDecode([]byte(s), &c) {
			t.Errorf("seed %d: the fast path took none of the shapes for %s", i, s)
		}
	}
	// And the ones the fast path must leave to encoding/json.
	for _, s := range []string{
		`{"QueueUrl":"u","queueurl":"v"}`,                                // case-folded duplicate
		`{"QueueUrl":"u","QueueUrl":"v"}`,                                // duplicate
		`{"QueueUrl":"u","Entries":[{"Id":"1","DelaySeconds":1.0}]}`,     // not an integer literal
		`{"QueueUrl":"u"} trailing`,                                      // trailing data
		`{"QueueUrl":"u","Entries":[{"Id":"x","MessageBody":"a\"b"}]}`,   // escapes
		`{"QueueUrl":"u","Entries":[{"Id":"x","MessageAttributes":{}}]}`, // attributes
	} {
		if fastDecode([]byte(s), &sendMessageBatchRequest{}) {
			t.Errorf("the fast path took %s", s)
		}
	}
}

// FuzzFastJSON: whatever the fast path accepts, encoding/json accepts too
// and decodes to the same value.
//
//	go test ./scheduler/sqs -run '^$' -fuzz FuzzFastJSON -fuzztime 60s
func FuzzFastJSON(f *testing.F) {
	for _, s := range fastJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastJSON[sendMessageBatchRequest](t, data)
		checkFastJSON[receiveMessageRequest](t, data)
		checkFastJSON[receiptBatchRequest](t, data)
	})
}

func BenchmarkDecodeSendBatch(b *testing.B) {
	body := []byte(`{"Entries":[` + strings.Repeat(`{"Id":"0","MessageBody":"`+strings.Repeat("x", 256)+`"},`, 9) +
		`{"Id":"9","MessageBody":"x"}],"QueueUrl":"http://127.0.0.1:3625/000000000000/bench"}`)
	for _, path := range []string{"fast", "encoding/json"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				var v sendMessageBatchRequest
				if path == "fast" {
					if !fastDecode(body, &v) {
						b.Fatal("not taken")
					}
				} else if err := json.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func stdEncode(t testing.TB, v any) []byte {
	var b bytes.Buffer
	if err := jsonfast.Encode(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// responsesWith returns the hot responses carrying s in every string.
func responsesWith(s string) []any {
	return []any{
		sendMessageBatchResponse{Successful: []sendMessageBatchResult{{Id: s, MessageId: s, MD5OfMessageBody: s}, {Id: "2", MD5OfMessageAttributes: s}},
			Failed: []batchResultErrorEntry{{Id: s, SenderFault: true, Code: s, Message: s}}},
		sendMessageBatchResponse{},
		receiptBatchResponse{Successful: []batchResultEntry{{Id: s}}, Failed: []batchResultErrorEntry{}},
		receiveMessageResponse{Messages: []message{
			{MessageId: s, ReceiptHandle: s, MD5OfBody: s, Body: s, Attributes: map[string]string{"b": s, s: "a", "SentTimestamp": "1"}},
			{Body: s, MD5OfMessageAttributes: s},
		}},
		receiveMessageResponse{Messages: []message{}},
		receiveMessageResponse{},
	}
}

var encodeSeeds = []string{"", "plain", "quote\" back\\ slash/", "ctl \x00\x01\b\f\n\r\t\x1f\x7f", "<html> & ",
	"héllo 🚀", "bad \xff\xfe utf8 \xc3", "line\u2028para\u2029", "\ufffd"}

// TestFastEncode: the fast encoder writes what encoding/json writes.
func TestFastEncode(t *testing.T) {
	for _, s := range encodeSeeds {
		for _, v := range responsesWith(s) {
			got, ok := fastEncode(nil, v)
			if !ok {
				t.Fatalf("fastEncode did not take %T", v)
			}
			if want := stdEncode(t, v); !bytes.Equal(got, want) {
				t.Errorf("%T with %q:\ngot  %s\nwant %s", v, s, got, want)
			}
		}
	}
	withAttrs := receiveMessageResponse{Messages: []message{{Body: "x", MessageAttributes: map[string]messageAttributeValue{"a": {DataType: "String"}}}}}
	if _, ok := fastEncode(nil, withAttrs); ok {
		t.Error("fastEncode took a message with message attributes; those are encoding/json's")
	}
}

func FuzzFastEncode(f *testing.F) {
	for _, s := range encodeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range responsesWith(s) {
			got, _ := fastEncode(nil, v)
			if want := stdEncode(t, v); !bytes.Equal(got, want) {
				t.Fatalf("%T with %q:\ngot  %s\nwant %s", v, s, got, want)
			}
		}
	})
}
