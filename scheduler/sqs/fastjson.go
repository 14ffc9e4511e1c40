package sqs

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The requests of a queue worker's loop (SendMessageBatch, ReceiveMessage,
// DeleteMessageBatch and ChangeMessageVisibilityBatch) are decoded
// without reflection: encoding/json was an eighth of the
// server's work under load. The fast path takes only the plain form SDKs
// send (known fields, ASCII keys, strings without escapes, integers) and
// gives up on anything else, which encoding/json then decodes with its
// own answers, errors included. FuzzFastJSON checks that whatever the
// fast path accepts, it decodes exactly as encoding/json does.

// fastDecode decodes data into v when v is one of the hot request shapes
// and data is in the plain form; ok is false otherwise, with v as it was.
func fastDecode(data []byte, v any) (ok bool) {
	d := fastJSON{b: data}
	end := func(ok bool) bool {
		d.ws()
		return ok && d.i == len(d.b)
	}
	switch v := v.(type) {
	case *sendMessageBatchRequest:
		var r sendMessageBatchRequest
		if ok = end(d.sendMessageBatch(&r)); ok {
			*v = r
		}
	case *receiveMessageRequest:
		var r receiveMessageRequest
		if ok = end(d.receiveMessage(&r)); ok {
			*v = r
		}
	case *receiptBatchRequest:
		var r receiptBatchRequest
		if ok = end(d.receiptBatch(&r)); ok {
			*v = r
		}
	}
	return ok
}

// fastJSON reads one JSON document from b; every method returns false
// when the input leaves the plain form.
type fastJSON struct {
	b []byte
	i int
}

func (d *fastJSON) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c,
// consuming it if so.
func (d *fastJSON) next(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, in valid
// UTF-8.
func (d *fastJSON) str() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	start := d.i
	ascii := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// int64p reads an integer: an optional minus and digits, no leading
// zero, within int64.
func (d *fastJSON) int64p() (*int64, bool) {
	d.ws()
	neg := d.i < len(d.b) && d.b[d.i] == '-'
	if neg {
		d.i++
	}
	start := d.i
	var n int64
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		if n > (1<<63-1)/10-1 {
			return nil, false // near the edge of int64: leave it to encoding/json
		}
		n = n*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || (digits > 1 && d.b[start] == '0') {
		return nil, false
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return nil, false
		}
	}
	if neg {
		n = -n
	}
	return &n, true
}

// strs reads an array of strings; an empty array is an empty, non-nil
// slice, as encoding/json makes it.
func (d *fastJSON) strs() ([]string, bool) {
	out := []string{}
	ok := d.array(func() bool {
		s, ok := d.str()
		out = append(out, s)
		return ok
	})
	return out, ok
}

// list reads open, elements separated by commas, and close; elem reads
// one element.
func (d *fastJSON) list(open, close byte, elem func() bool) bool {
	if !d.next(open) {
		return false
	}
	if d.next(close) {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.next(close) {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

// array reads an array, calling elem for each element.
func (d *fastJSON) array(elem func() bool) bool { return d.list('[', ']', elem) }

// object reads an object whose keys are fields: field is called with the
// index in known (at most 64 of them) of a key, consumes its value and
// reports whether it read it. A key not in known is skipped, unless it
// matches a known one but for case, which encoding/json would take; a key
// given twice gives up.
func (d *fastJSON) object(known []string, field func(i int) bool) bool {
	return d.objectAt(0, known, field)
}

func (d *fastJSON) objectAt(depth int, known []string, field func(i int) bool) bool {
	var seen uint64
	return d.list('{', '}', func() bool {
		key, ok := d.str()
		if !ok || !d.next(':') {
			return false
		}
		for j := 0; j < len(key); j++ {
			if key[j] >= 0x80 {
				return false // Unicode case folding: encoding/json's
			}
		}
		i := -1
		for j, k := range known {
			if k == key {
				i = j
				break
			}
			if strings.EqualFold(k, key) {
				return false
			}
		}
		if i < 0 {
			return d.skip(depth + 1)
		}
		if seen&(1<<i) != 0 || !field(i) {
			return false
		}
		seen |= 1 << i
		return true
	})
}

// skip passes over one value of an unknown field: strings, integers,
// true, false and arrays or objects of them, nested at most 32 deep.
func (d *fastJSON) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	d.ws()
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		_, ok := d.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		_, ok := d.int64p()
		return ok
	case c == 't' || c == 'f':
		for _, lit := range []string{"true", "false"} {
			if bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
				d.i += len(lit)
				return true
			}
		}
		return false
	case c == '[':
		return d.array(func() bool { return d.skip(depth + 1) })
	case c == '{':
		return d.objectAt(depth+1, nil, nil)
	default:
		return false // null and the rest: encoding/json decides
	}
}

var (
	batchFields          = []string{"QueueUrl", "Entries"}
	sendBatchEntryFields = []string{"Id", "MessageBody", "DelaySeconds", "MessageDeduplicationId", "MessageGroupId",
		"MessageAttributes", "MessageSystemAttributes"}
	receiveFields = []string{"QueueUrl", "AttributeNames", "MessageSystemAttributeNames", "MessageAttributeNames",
		"MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds", "ReceiveRequestAttemptId"}
	receiptBatchEntryFields = []string{"Id", "ReceiptHandle", "VisibilityTimeout"}
)

// batch reads {"QueueUrl": ..., "Entries": [{...}, ...]}, each entry an
// object of fields whose field i entry reads into e.
func batch[E any](d *fastJSON, url *string, entries *[]E, fields []string, entry func(e *E, i int) bool) bool {
	return d.object(batchFields, func(i int) (ok bool) {
		if i == 0 {
			*url, ok = d.str()
			return ok
		}
		*entries = []E{}
		return d.array(func() bool {
			var e E
			ok := d.object(fields, func(i int) bool { return entry(&e, i) })
			*entries = append(*entries, e)
			return ok
		})
	})
}

func (d *fastJSON) sendMessageBatch(v *sendMessageBatchRequest) bool {
	return batch(d, &v.QueueUrl, &v.Entries, sendBatchEntryFields, func(e *sendMessageBatchEntry, i int) (ok bool) {
		switch i {
		case 0:
			e.Id, ok = d.str()
		case 1:
			var s string
			s, ok = d.str()
			e.MessageBody = &s
		case 2:
			e.DelaySeconds, ok = d.int64p()
		case 3:
			e.MessageDeduplicationId, ok = d.str()
		case 4:
			e.MessageGroupId, ok = d.str()
		}
		return ok // message attributes: encoding/json's
	})
}

func (d *fastJSON) receiveMessage(v *receiveMessageRequest) bool {
	return d.object(receiveFields, func(i int) (ok bool) {
		switch i {
		case 0:
			v.QueueUrl, ok = d.str()
		case 1:
			v.AttributeNames, ok = d.strs()
		case 2:
			v.MessageSystemAttributeNames, ok = d.strs()
		case 3:
			v.MessageAttributeNames, ok = d.strs()
		case 4:
			v.MaxNumberOfMessages, ok = d.int64p()
		case 5:
			v.VisibilityTimeout, ok = d.int64p()
		case 6:
			v.WaitTimeSeconds, ok = d.int64p()
		case 7:
			v.ReceiveRequestAttemptId, ok = d.str()
		}
		return ok
	})
}

func (d *fastJSON) receiptBatch(v *receiptBatchRequest) bool {
	return batch(d, &v.QueueUrl, &v.Entries, receiptBatchEntryFields, func(e *receiptBatchEntry, i int) (ok bool) {
		switch i {
		case 0:
			e.Id, ok = d.str()
		case 1:
			e.ReceiptHandle, ok = d.str()
		case 2:
			e.VisibilityTimeout, ok = d.int64p()
		}
		return ok
	})
}

// fastEncode appends the JSON of the hot responses to dst, as
// encoding/json would write them but for HTML escaping, which SDKs do not
// need; ok is false for other values, and for messages with message
// attributes (rare, and left to encoding/json).
func fastEncode(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case sendMessageBatchResponse:
		dst = append(dst, `{"Successful":`...)
		dst = appendList(dst, v.Successful, func(b []byte, e sendMessageBatchResult) []byte {
			b = appendField(b, '{', "Id", e.Id)
			b = appendField(b, ',', "MessageId", e.MessageId)
			b = appendField(b, ',', "MD5OfMessageBody", e.MD5OfMessageBody)
			if e.MD5OfMessageAttributes != "" {
				b = appendField(b, ',', "MD5OfMessageAttributes", e.MD5OfMessageAttributes)
			}
			return append(b, '}')
		})
		return appendFailed(dst, v.Failed), true
	case receiptBatchResponse:
		dst = append(dst, `{"Successful":`...)
		dst = appendList(dst, v.Successful, func(b []byte, e batchResultEntry) []byte {
			return append(appendField(b, '{', "Id", e.Id), '}')
		})
		return appendFailed(dst, v.Failed), true
	case receiveMessageResponse:
		for _, m := range v.Messages {
			if m.MessageAttributes != nil {
				return dst, false
			}
		}
		if len(v.Messages) == 0 {
			return append(dst, "{}\n"...), true
		}
		dst = append(dst, `{"Messages":`...)
		dst = appendList(dst, v.Messages, func(b []byte, m message) []byte {
			b = appendField(b, '{', "MessageId", m.MessageId)
			b = appendField(b, ',', "ReceiptHandle", m.ReceiptHandle)
			b = appendField(b, ',', "MD5OfBody", m.MD5OfBody)
			b = appendField(b, ',', "Body", m.Body)
			if len(m.Attributes) > 0 {
				b = append(b, `,"Attributes":{`...)
				for i, k := range slices.Sorted(maps.Keys(m.Attributes)) {
					if i > 0 {
						b = append(b, ',')
					}
					b = appendString(b, k)
					b = append(b, ':')
					b = appendString(b, m.Attributes[k])
				}
				b = append(b, '}')
			}
			if m.MD5OfMessageAttributes != "" {
				b = appendField(b, ',', "MD5OfMessageAttributes", m.MD5OfMessageAttributes)
			}
			return append(b, '}')
		})
		return append(dst, "}\n"...), true
	}
	return dst, false
}

// appendFailed ends a batch response with its Failed list.
func appendFailed(dst []byte, failed []batchResultErrorEntry) []byte {
	dst = append(dst, `,"Failed":`...)
	dst = appendList(dst, failed, func(b []byte, e batchResultErrorEntry) []byte {
		b = appendField(b, '{', "Id", e.Id)
		b = append(b, `,"SenderFault":`...)
		b = strconv.AppendBool(b, e.SenderFault)
		b = appendField(b, ',', "Code", e.Code)
		b = appendField(b, ',', "Message", e.Message)
		return append(b, '}')
	})
	return append(dst, "}\n"...)
}

// appendList writes a JSON array, or null for a nil slice as
// encoding/json does.
func appendList[T any](dst []byte, list []T, elem func([]byte, T) []byte) []byte {
	if list == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, e := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(dst, e)
	}
	return append(dst, ']')
}

// appendField writes sep, "name": and the string value.
func appendField(dst []byte, sep byte, name, value string) []byte {
	dst = append(dst, sep, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendString(dst, value)
}

// appendString writes s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028 and
// U+2029 escaped, as encoding/json does.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
