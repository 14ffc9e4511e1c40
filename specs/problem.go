package specs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error [File.Validate] returns, so callers
// can map invalid specs to a client error with [errors.Is].
var ErrInvalid = errors.New("invalid spec")

// ValidationError lists every problem [File.Validate] found. It wraps
// [ErrInvalid].
type ValidationError struct {
	Problems []Problem
}

// Problem is one broken rule of a model.
type Problem struct {
	// Path names the offending field, such as jobs[0].tasks[1].image; it is
	// empty for a problem of the file as a whole.
	Path string `json:"path"`
	// Summary is a short title, such as "Value out of range".
	Summary string `json:"summary"`
	// Message says what is wrong, such as "must not be empty".
	Message string `json:"message"`
}

// String returns "path: message", or the message alone for the file itself.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error lists every problem on one line, separated by semicolons.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns [ErrInvalid].
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// path names a field of the model the way API errors show it. Its segments
// are field names and bracketed indexes or keys: "jobs", "[0]", "tasks",
// "[1]", "image" is jobs[0].tasks[1].image. Keeping segments, rather than the
// joined string, lets Parse walk from a field to its enclosing block even
// when a map key holds dots or brackets.
type path []string

// field, index and key return a new path; they never share p's backing array,
// so sibling paths built from one parent stay independent.
func (p path) field(name string) path { return p.with(name) }
func (p path) index(i int) path       { return p.with("[" + strconv.Itoa(i) + "]") }
func (p path) key(k string) path      { return p.with("[" + strconv.Quote(k) + "]") }

func (p path) with(seg string) path {
	q := make(path, len(p), len(p)+1)
	copy(q, p)
	return append(q, seg)
}

func (p path) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// noun is the last field name in p: "image" for jobs[0].tasks[1].image and
// "env" for jobs[0].tasks[0].env["A"].
func (p path) noun() string {
	for i := len(p) - 1; i >= 0; i-- {
		if !strings.HasPrefix(p[i], "[") {
			return p[i]
		}
	}
	return ""
}

// problem is a broken rule as the rules report it, before it becomes a
// [Problem] (for the API) or an hcl.Diagnostic (for Parse).
type problem struct {
	path    path
	summary string
	// msg is lower case without a final period. When pred is set it is a
	// predicate of the field ("must not be empty") and diagnostics prefix it
	// with the field's name.
	msg  string
	pred bool
	// ref, when set, is another definition the problem refers to, such as
	// the first of two jobs with one name. Messages end with " at " and its
	// location.
	ref path
}

// problems collects what the rules find.
type problems []problem

// field reports a predicate about the field at p: "must not be empty".
func (ps *problems) field(p path, summary, format string, args ...any) {
	*ps = append(*ps, problem{path: p, summary: summary, msg: fmt.Sprintf(format, args...), pred: true})
}

// add reports a problem stated as a whole sentence.
func (ps *problems) add(p path, summary, format string, args ...any) {
	*ps = append(*ps, problem{path: p, summary: summary, msg: fmt.Sprintf(format, args...)})
}

// duplicate reports a name at p already used by the definition at first.
func (ps *problems) duplicate(p, first path, summary, format string, args ...any) {
	*ps = append(*ps, problem{path: p, summary: summary, msg: fmt.Sprintf(format, args...), ref: first})
}

// public returns pr as the API shows it, with ref as a field path.
func (pr problem) public() Problem {
	msg := pr.msg
	if pr.ref != nil {
		msg += " at " + pr.ref.String()
	}
	return Problem{Path: pr.path.String(), Summary: pr.summary, Message: msg}
}

// detail returns pr as a diagnostic's detail: a sentence naming the field,
// with ref shown by where (its source position).
func (pr problem) detail(where string) string {
	msg := pr.msg
	if pr.pred {
		if n := pr.path.noun(); n != "" {
			msg = "the " + n + " " + msg
		}
	}
	if pr.ref != nil {
		msg += " at " + where
	}
	return upperFirst(msg) + "."
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
