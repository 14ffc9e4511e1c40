package httpapi

import (
	"slices"
	"strconv"
	"time"

	"github.com/docketd/docket/internal/jsonfast"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// The queue API calls of a worker's loop (send, receive, delete) are read
// and answered without reflection: encoding/json was a fifth of the
// server's work with warm workers. Bodies outside the plain form (package
// jsonfast) and answers carrying errors go to encoding/json, as every
// other call does. FuzzFastJSON and FuzzFastEncode check both ways against
// encoding/json.

var (
	sendFields    = []string{"body", "attributes", "delay", "messages"}
	receiveFields = []string{"max", "wait", "visibility_timeout"}
	deleteFields  = []string{"receipts"}
)

// fastDecode decodes data into v when v is one of the worker loop's
// requests and data is in the plain form, with no field decode does not
// know; ok is false otherwise, with v as it was.
func fastDecode(data []byte, v any) (ok bool) {
	d := jsonfast.NewDecoder(data)
	d.Strict = true
	switch v := v.(type) {
	case *api.SendRequest:
		var r api.SendRequest
		if ok = sendMessage(d, &r.SendMessage, &r.Messages) && d.End(); ok {
			*v = r
		}
	case *api.ReceiveRequest:
		var r api.ReceiveRequest
		ok = d.Object(receiveFields, func(i int) bool {
			switch i {
			case 0:
				n, ok := d.Int64()
				if ok {
					r.Max = int(*n)
				}
				return ok
			case 1:
				r.Wait = new(specs.Duration)
				return duration(d, r.Wait)
			default:
				r.VisibilityTimeout = new(specs.Duration)
				return duration(d, r.VisibilityTimeout)
			}
		}) && d.End()
		if ok {
			*v = r
		}
	case *api.DeleteRequest:
		var r api.DeleteRequest
		ok = d.Object(deleteFields, func(int) (ok bool) {
			r.Receipts, ok = d.Strs()
			return ok
		}) && d.End()
		if ok {
			*v = r
		}
	}
	return ok
}

// sendMessage reads a message's fields into m and, when list is not nil,
// a messages list into *list.
func sendMessage(d *jsonfast.Decoder, m *api.SendMessage, list *[]api.SendMessage) bool {
	fields := sendFields
	if list == nil {
		fields = sendFields[:3]
	}
	return d.Object(fields, func(i int) (ok bool) {
		switch i {
		case 0:
			m.Body, ok = d.Str()
		case 1:
			m.Attributes, ok = d.StrMap()
		case 2:
			m.Delay = new(specs.Duration)
			ok = duration(d, m.Delay)
		default:
			*list = []api.SendMessage{}
			ok = d.Array(func() bool {
				var e api.SendMessage
				ok := sendMessage(d, &e, nil)
				*list = append(*list, e)
				return ok
			})
		}
		return ok
	})
}

// duration reads a duration as specs.Duration decodes it.
func duration(d *jsonfast.Decoder, into *specs.Duration) bool {
	raw, ok := d.Raw()
	return ok && into.UnmarshalJSON(raw) == nil
}

// fastEncode appends the JSON of the worker loop's answers to dst as
// encoding/json writes it with HTML escaping off; ok is false for other
// values and for answers that carry an error.
func fastEncode(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case api.SendResponse:
		for _, r := range v.Messages {
			if r.Error != nil {
				return dst, false
			}
		}
		dst = append(dst, `{"messages":`...)
		dst = jsonfast.AppendList(dst, v.Messages, func(b []byte, r api.SendResult) []byte {
			sep := byte('{')
			if r.ID != "" {
				b, sep = jsonfast.AppendField(b, sep, "id", r.ID), ','
			}
			if r.Seq != 0 {
				b = strconv.AppendUint(append(append(b, sep), `"sequence_number":`...), r.Seq, 10)
				sep = ','
			}
			if r.Duplicate {
				b, sep = append(append(b, sep), `"duplicate":true`...), ','
			}
			if sep == '{' {
				return append(b, "{}"...)
			}
			return append(b, '}')
		})
	case api.DeleteResponse:
		for _, r := range v.Results {
			if r.Error != nil {
				return dst, false
			}
		}
		dst = append(dst, `{"results":`...)
		dst = jsonfast.AppendList(dst, v.Results, func(b []byte, r api.DeleteResult) []byte {
			return append(jsonfast.AppendField(b, '{', "receipt", r.Receipt), '}')
		})
	case api.ReceiveResponse:
		size := 16 // one allocation: the bodies dominate, and escapes are rare
		for _, m := range v.Messages {
			if !jsonTime(m.SentAt) || !jsonTime(m.FirstReceivedAt) {
				return dst, false
			}
			size += 200 + len(m.ID) + len(m.Receipt) + len(m.Body) + len(m.SourceQueue) + len(m.Group) + len(m.DedupID)
			for k, v := range m.Attributes {
				size += 6 + len(k) + len(v)
			}
		}
		dst = slices.Grow(dst, size)
		dst = append(dst, `{"messages":`...)
		dst = jsonfast.AppendList(dst, v.Messages, appendMessage)
	default:
		return dst, false
	}
	return append(dst, "}\n"...), true
}

func appendMessage(b []byte, m api.Message) []byte {
	b = jsonfast.AppendField(b, '{', "id", m.ID)
	b = jsonfast.AppendField(b, ',', "receipt", m.Receipt)
	b = jsonfast.AppendField(b, ',', "body", m.Body)
	if len(m.Attributes) > 0 {
		b = jsonfast.AppendStringMap(b, ',', "attributes", m.Attributes)
	}
	b = append(b, `,"receive_count":`...)
	b = strconv.AppendInt(b, int64(m.ReceiveCount), 10)
	b = append(b, `,"sent_at":"`...)
	b = append(m.SentAt.AppendFormat(b, time.RFC3339Nano), '"')
	b = append(b, `,"first_received_at":"`...)
	b = append(m.FirstReceivedAt.AppendFormat(b, time.RFC3339Nano), '"')
	if m.SourceQueue != "" {
		b = jsonfast.AppendField(b, ',', "source_queue", m.SourceQueue)
	}
	if m.Group != "" {
		b = jsonfast.AppendField(b, ',', "group", m.Group)
	}
	if m.DedupID != "" {
		b = jsonfast.AppendField(b, ',', "dedup_id", m.DedupID)
	}
	if m.Seq != 0 {
		b = strconv.AppendUint(append(b, `,"sequence_number":`...), m.Seq, 10)
	}
	return append(b, '}')
}

// jsonTime reports whether Time.MarshalJSON takes t, which it refuses for
// years outside 0-9999 and zone offsets of a day or more.
func jsonTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -24*3600 && off < 24*3600
}
