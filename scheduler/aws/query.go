package aws

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The query protocol is the older AWS wire format, still spoken by AWS CLI
// v1 and older boto3: a form-encoded POST of Action=...&Version=... and
// the action's parameters, flattened ("Attribute.1.Name"), answered in
// XML. An API serves it with the very functions its JSON protocol runs: a
// [QueryDecoder] fills the same request shapes from the form, and
// [QueryProtocol.WriteResult] writes the same results as XML, both led by
// the shapes' query struct tags:
//
//   - a field's tag names it where its flattened name differs from the
//     field's: lists and maps repeat an element named by the singular
//     ("AttributeName.1", "Attribute.1.Name");
//   - ",Key" names a map's keys Key rather than Name ("Tag.1.Key");
//   - "*Entry" stands for the action's own entry element:
//     "SendMessageBatchRequestEntry" in a request,
//     "DeleteMessageBatchResultEntry" in a result.

// QueryProtocol answers requests of one service's query protocol.
type QueryProtocol struct {
	// Namespace is the XML namespace of every answer, e.g.
	// "http://queue.amazonaws.com/doc/2012-11-05/".
	Namespace string
}

// IsFormPost reports whether r is a POST of a form, the shape of every
// query-protocol request.
func IsFormPost(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// PeekAction returns the Action of a query-protocol request r, so that a
// server can tell which API a form is for before it is served: the
// Action of the URL's query, or else of the form in the body, which is
// read and put back in r.Body for the handler to read again. A body over
// limit bytes is not read (when its Content-Length says so) or not read
// further; tooLarge reports it, for the handler to refuse. err is a
// failure to read the body. A form with a bad escape still names its
// action; the handler then answers MalformedQueryString.
func PeekAction(r *http.Request, limit int64) (action string, tooLarge bool, err error) {
	if r.ContentLength > limit {
		return "", true, nil
	}
	action = r.URL.Query().Get("Action")
	if action == "" && r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		if errors.As(err, new(*http.MaxBytesError)) || int64(len(b)) > limit {
			return "", true, nil
		}
		if err != nil {
			return "", false, err
		}
		vals, _ := url.ParseQuery(string(b))
		action = vals.Get("Action")
	}
	return action, false, nil
}

// ParseForm returns the parameters of a query-protocol request: those of
// the body, and those of the URL's query the body lacks.
func ParseForm(r *http.Request, body []byte) (url.Values, *Error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, NewError(MalformedQueryString, "the request body is not a valid form: %v", err)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, NewError(MalformedQueryString, "the query string is not valid: %v", err)
	}
	for k, v := range q {
		if _, ok := vals[k]; !ok {
			vals[k] = v
		}
	}
	return vals, nil
}

// QueryDecoder fills a request shape from the flattened parameters of a
// form. Keys are kept sorted so that the members of a list or map are
// found by binary search, which keeps decoding near-linear whatever the
// form holds.
type QueryDecoder struct {
	vals   url.Values
	keys   []string // sorted
	action string
}

// NewQueryDecoder returns a decoder of the form vals of action.
func NewQueryDecoder(vals url.Values, action string) *QueryDecoder {
	return &QueryDecoder{vals: vals, keys: slices.Sorted(maps.Keys(vals)), action: action}
}

// Decode fills *v, a pointer to a request shape. Values that do not
// parse as their field's type are InvalidParameterValue; a map entry
// without its key is MissingParameter.
func (d *QueryDecoder) Decode(v any) *Error {
	return d.decodeStruct("", reflect.ValueOf(v).Elem())
}

// queryName is the query-protocol name of a field and, for maps, the
// name of their keys; dir ("Request" or "Result") completes "*Entry".
func queryName(f reflect.StructField, action, dir string) (name, key string) {
	name, key, _ = strings.Cut(f.Tag.Get("query"), ",")
	if name == "" {
		name = f.Name
	}
	if name == "*Entry" {
		name = action + dir + "Entry"
	}
	if key == "" {
		key = "Name"
	}
	return name, key
}

func (d *QueryDecoder) decodeStruct(prefix string, v reflect.Value) *Error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, key := queryName(f, d.action, "Request")
		if err := d.decodeValue(prefix+name, key, v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

func (d *QueryDecoder) decodeValue(name, key string, v reflect.Value) *Error {
	s, given := d.vals[name]
	str := ""
	if given {
		str = s[0]
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(str)
	case reflect.Bool:
		if given {
			b, err := strconv.ParseBool(str)
			if err != nil {
				return NewError(InvalidParameterValue, "Value %q for parameter %s is invalid. Reason: must be true or false.", str, name)
			}
			v.SetBool(b)
		}
	case reflect.Pointer:
		if !given {
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := d.decodeValue(name, key, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Int64:
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return NewError(InvalidParameterValue, "Value %q for parameter %s is invalid. Reason: must be an integer.", str, name)
		}
		v.SetInt(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if !given {
				return nil
			}
			b, err := base64.StdEncoding.DecodeString(str)
			if err != nil {
				return NewError(InvalidParameterValue, "Value for parameter %s is invalid. Reason: not base64.", name)
			}
			v.SetBytes(b)
			return nil
		}
		idx := d.indices(name)
		if len(idx) == 0 {
			return nil
		}
		out := reflect.MakeSlice(v.Type(), len(idx), len(idx))
		for i, n := range idx {
			var err *Error
			if el := out.Index(i); el.Kind() == reflect.Struct {
				err = d.decodeStruct(name+"."+n+".", el)
			} else {
				err = d.decodeValue(name+"."+n, "", el)
			}
			if err != nil {
				return err
			}
		}
		v.Set(out)
	case reflect.Map:
		idx := d.indices(name)
		if len(idx) == 0 {
			return nil
		}
		m := reflect.MakeMapWithSize(v.Type(), len(idx))
		for _, n := range idx {
			entry := name + "." + n + "."
			k := d.vals.Get(entry + key)
			if k == "" {
				return NewError(MissingParameter, "The request must contain the parameter %s%s.", entry, key)
			}
			el := reflect.New(v.Type().Elem()).Elem()
			var err *Error
			if el.Kind() == reflect.Struct {
				err = d.decodeStruct(entry+"Value.", el)
			} else {
				err = d.decodeValue(entry+"Value", "", el)
			}
			if err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k), el)
		}
		v.Set(m)
	}
	return nil
}

// indices returns the member numbers of the list or map called name, in
// numeric order: the N of every key name.N or name.N.rest. Members whose
// number is not a positive integer are ignored, as unknown parameters are.
func (d *QueryDecoder) indices(name string) []string {
	prefix := name + "."
	i := sort.SearchStrings(d.keys, prefix)
	seen := map[string]int{}
	for ; i < len(d.keys) && strings.HasPrefix(d.keys[i], prefix); i++ {
		n, _, _ := strings.Cut(d.keys[i][len(prefix):], ".")
		if _, dup := seen[n]; dup {
			continue
		}
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			seen[n] = v
		}
	}
	out := slices.Collect(maps.Keys(seen))
	slices.SortFunc(out, func(a, b string) int { return seen[a] - seen[b] })
	return out
}

// WriteResult answers with an action's result as the query protocol's
// XML: <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>….
// A result that is an empty struct (the answer of actions that return
// nothing) has no ActionResult.
func (p QueryProtocol) WriteResult(w http.ResponseWriter, action string, out any) error {
	var b bytes.Buffer
	id := NewRequestID()
	b.WriteString(xml.Header)
	b.WriteString("<" + action + `Response xmlns="` + p.Namespace + `">`)
	if v := reflect.ValueOf(out); v.Kind() == reflect.Struct && v.NumField() > 0 {
		b.WriteString("<" + action + "Result>")
		encodeQueryStruct(&b, v, action)
		b.WriteString("</" + action + "Result>")
	}
	b.WriteString("<ResponseMetadata><RequestId>" + id + "</RequestId></ResponseMetadata>")
	b.WriteString("</" + action + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b.Bytes())
	return err
}

func encodeQueryStruct(b *bytes.Buffer, v reflect.Value, action string) {
	t := v.Type()
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			name, key := queryName(f, action, "Result")
			encodeQueryValue(b, name, key, v.Field(i), action)
		}
	}
}

// encodeQueryValue writes one field as XML elements; empty strings and nil
// values are left out, and lists and maps are flattened into repeated
// elements.
func encodeQueryValue(b *bytes.Buffer, name, key string, v reflect.Value, action string) {
	text := func(s string) {
		b.WriteString("<" + name + ">")
		xml.EscapeText(b, []byte(s))
		b.WriteString("</" + name + ">")
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() != "" {
			text(v.String())
		}
	case reflect.Bool:
		text(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int32, reflect.Int64:
		text(strconv.FormatInt(v.Int(), 10))
	case reflect.Pointer:
		if !v.IsNil() {
			if v.Elem().Kind() == reflect.String {
				text(v.Elem().String()) // given, even if empty
			} else {
				encodeQueryValue(b, name, key, v.Elem(), action)
			}
		}
	case reflect.Struct:
		b.WriteString("<" + name + ">")
		encodeQueryStruct(b, v, action)
		b.WriteString("</" + name + ">")
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.Len() > 0 {
				text(base64.StdEncoding.EncodeToString(v.Bytes()))
			}
			return
		}
		for i := range v.Len() {
			encodeQueryValue(b, name, key, v.Index(i), action)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			b.WriteString("<" + name + "><" + key + ">")
			xml.EscapeText(b, []byte(k.String()))
			b.WriteString("</" + key + ">")
			if mv := v.MapIndex(k); mv.Kind() == reflect.String {
				// Written even when empty: clients that find no Value give
				// the entry the previous entry's value.
				b.WriteString("<Value>")
				xml.EscapeText(b, []byte(mv.String()))
				b.WriteString("</Value>")
			} else {
				encodeQueryValue(b, "Value", "", mv, action)
			}
			b.WriteString("</" + name + ">")
		}
	}
}

// WriteError answers with e as the query protocol's ErrorResponse, with
// the query code where the error has one.
func (p QueryProtocol) WriteError(w http.ResponseWriter, e *Error) {
	code := e.QueryCode
	if code == "" {
		code = e.Code
	}
	id := NewRequestID()
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<ErrorResponse xmlns="` + p.Namespace + `"><Error><Type>` + e.fault() + "</Type><Code>")
	xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	xml.EscapeText(&b, []byte(e.Message))
	b.WriteString("</Message><Detail/></Error><RequestId>" + id + "</RequestId></ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(e.Status)
	w.Write(b.Bytes())
}
