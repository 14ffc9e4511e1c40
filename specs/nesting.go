package specs

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// maxTemplateWork bounds the work of joining a template's literal pieces:
// HCL's parser joins the pieces between two interpolations (a heredoc's
// lines, and the text around every "$" or "%" that starts none) one at a
// time, in time proportional to their count times their length. This
// allows some thousands of lines of text between interpolations, and
// takes a few hundred milliseconds.
const maxTemplateWork = 1 << 30

// maxNumberLen bounds the length of a number literal. Reading a number's
// digits takes time quadratic in their count (a million digits take
// seconds), and no job file needs more than a few dozen.
const maxNumberLen = 1000

// frame is one construct open at some point of a source: a bracket, an
// interpolation, a quoted template or a heredoc.
type frame struct {
	// kind is the opening bracket for brackets, '$' for an interpolation
	// or template directive, '"' for a quoted template, '<' for a heredoc,
	// and 0 for the file's body at the bottom of the stack.
	kind byte
	// depth is the nesting level of the construct itself.
	depth int
	// extra counts further levels the parser goes down inside the
	// construct without a bracket: in code, the conditional operators and
	// splats (.* and [*]) since the last comma (or newline, where newlines
	// end expressions), each of which the parser handles by recursion; in
	// a template, the if and for directives open.
	extra int
	// splat marks a bracket that holds a "*" first: a splat once closed.
	splat bool
	// unary counts the unary operators (! and -) written in a row just
	// before the next operand in code; the parser recurses once for each.
	unary int
	// marker closes a heredoc, and lineStart says that the scanner is at
	// the start of one of its lines, where the marker may stand.
	marker    []byte
	lineStart bool
	// In a template, pieces counts the literal pieces the lexer makes of
	// the text since runStart, the start of the template or the end of
	// its last interpolation; open is where the template starts.
	pieces         int
	runStart, open int
}

// level is the nesting level inside f.
func (f *frame) level() int { return f.depth + f.extra + f.unary }

// nestingScanner follows a source the way HCL's lexer does, byte by byte
// and without building tokens, keeping only the stack of open constructs.
// It tracks the lexer's modes exactly (code, quoted template, heredoc,
// comments), so that brackets inside strings and comments do not count
// and none outside them is missed; where it cannot tell what the parser
// will do, it counts a level too many rather than one too few.
type nestingScanner struct {
	filename string
	src      []byte
	max      int
	stack    []frame
	refused  *hcl.Diagnostic
	// deepest is the deepest level seen.
	deepest int
	// last is the last character of the last token of code, which tells
	// a splat's "*" from a multiplication.
	last byte
}

// checkNesting refuses src, named filename, when its constructs nest
// deeper than max, with a diagnostic at the opening that goes too deep. It
// also refuses number literals over maxNumberLen characters. It runs
// before parsing, in time linear in len(src) and constant memory beyond
// the stack it refuses to grow past max, because HCL's parser recurses
// once per level and a deep enough source overflows the goroutine's stack,
// which kills the process.
func checkNesting(filename string, src []byte, max int) *hcl.Diagnostic {
	_, d := scanNesting(filename, src, max)
	return d
}

// scanNesting is checkNesting, returning also the deepest level it saw.
func scanNesting(filename string, src []byte, max int) (int, *hcl.Diagnostic) {
	if d := checkUTF8(filename, src); d != nil {
		return 0, d
	}
	s := &nestingScanner{filename: filename, src: src, max: max, stack: make([]frame, 1, 16)}
	i := 0
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		i = 3 // the lexer skips a byte order mark
	}
	for i < len(src) && s.refused == nil {
		switch s.stack[len(s.stack)-1].kind {
		case '"':
			i = s.quoted(i)
		case '<':
			i = s.heredoc(i)
		default:
			i = s.code(i)
		}
	}
	return s.deepest, s.refused
}

func (s *nestingScanner) top() *frame { return &s.stack[len(s.stack)-1] }

// at returns the byte at i, or 0 past the end of the source.
func (s *nestingScanner) at(i int) byte {
	if i < len(s.src) {
		return s.src[i]
	}
	return 0
}

// code scans the token of code at i and returns where the next begins.
func (s *nestingScanner) code(i int) int {
	next := s.codeToken(i)
	if c := s.src[i]; c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '#' &&
		!(c == '/' && (s.at(i+1) == '/' || s.at(i+1) == '*' && next > i+1)) {
		s.last = s.src[next-1]
	}
	return next
}

func (s *nestingScanner) codeToken(i int) int {
	top := s.top()
	c := s.src[i]
	switch {
	case c == ' ' || c == '\t' || c == '\r':
		return i + 1
	case c == '\n':
		// Newlines end expressions in bodies and object constructors;
		// inside parentheses, brackets and interpolations they do not.
		if top.kind == '{' || top.kind == 0 {
			top.extra = 0
		}
		return i + 1
	case c == '#' || c == '/' && s.at(i+1) == '/':
		// A line comment, with its newline: the parser does not see the
		// newline as the end of an expression, so neither does this.
		if j := bytes.IndexByte(s.src[i:], '\n'); j >= 0 {
			return i + j + 1
		}
		return len(s.src)
	case c == '/' && s.at(i+1) == '*':
		if j := bytes.Index(s.src[i+2:], []byte("*/")); j >= 0 {
			return i + 2 + j + 2
		}
		// The lexer reads an unterminated comment as code.
		top.unary = 0
		return i + 1
	case c == '"':
		s.push(i, frame{kind: '"', pieces: 1, runStart: i + 1, open: i})
		return i + 1
	case c == '<' && s.at(i+1) == '<':
		return s.heredocStart(i)
	case c == '(' || c == '[' || c == '{':
		s.push(i, frame{kind: c})
		return i + 1
	case c == ')' || c == ']':
		if top.kind != opening(c) {
			top.unary = 0
			return i + 1
		}
		splat := top.splat
		s.pop()
		if splat {
			// The parser reads the traversals after a splat by
			// recursion, to the end of the expression.
			t := s.top()
			t.extra++
			s.check(i, t.level())
		}
		return i + 1
	case c == '*' && s.last == '.':
		top.unary = 0
		top.extra++
		s.check(i, top.level())
		return i + 1
	case c == '*' && s.last == '[':
		top.unary = 0
		top.splat = true
		return i + 1
	case c == '}':
		s.closeBrace(i + 1)
		return i + 1
	case c == '~' && s.at(i+1) == '}':
		s.closeBrace(i + 2)
		return i + 2
	case c == '?':
		top.unary = 0
		top.extra++
		s.check(i, top.level())
		return i + 1
	case c == ',':
		top.extra, top.unary = 0, 0
		return i + 1
	case c == '!' && s.at(i+1) == '=':
		top.unary = 0
		return i + 2
	case c == '!' || c == '-':
		// A minus in an identifier (such as node-class) or between two
		// operands counts too, for the next operand only: too many in
		// a row is no sensible file either way.
		top.unary++
		s.check(i, top.level())
		return i + 1
	case isDigit(c):
		return s.number(i)
	default:
		top.unary = 0
		return i + 1
	}
}

// number scans a run of digits, dots and exponents at i, refusing it when
// it is longer than any sensible number. Digits inside identifiers count
// as well: a thousand of them in a row is no sensible name either.
func (s *nestingScanner) number(i int) int {
	j := i
	for j < len(s.src) {
		c := s.src[j]
		switch {
		case isDigit(c) || c == '.':
			j++
		case (c == 'e' || c == 'E') && isDigit(s.at(j+1)):
			j += 2
		case (c == 'e' || c == 'E') && (s.at(j+1) == '+' || s.at(j+1) == '-') && isDigit(s.at(j+2)):
			j += 3
		default:
			goto done
		}
	}
done:
	if j-i > maxNumberLen {
		s.refuse(i, "Number too long", fmt.Sprintf("This number is written with %d characters; at most %d are accepted.", j-i, maxNumberLen))
	}
	s.top().unary = 0
	return j
}

// heredocStart scans "<<" at i: the start of a heredoc when an identifier
// and a newline follow, else a "<".
func (s *nestingScanner) heredocStart(i int) int {
	j := i + 2
	if s.at(j) == '-' {
		j++
	}
	k := j
	ascii := true
	for k < len(s.src) && (isIdentByte(s.src[k]) || s.src[k] >= utf8.RuneSelf) {
		ascii = ascii && s.src[k] < utf8.RuneSelf
		k++
	}
	marker := s.src[j:k]
	nl := k
	if s.at(nl) == '\r' {
		nl++
	}
	if len(marker) == 0 || s.at(nl) != '\n' || isDigit(marker[0]) || marker[0] == '-' {
		s.top().unary = 0
		return i + 1
	}
	if !ascii {
		// Whether the lexer takes this for a heredoc depends on Unicode
		// tables this scanner does not have; guessing wrong could hide
		// nesting from it.
		s.refuse(i, "Unsupported heredoc marker", "A heredoc marker must be made of ASCII letters, digits, underscores and hyphens.")
		return nl + 1
	}
	s.push(i, frame{kind: '<', marker: marker, lineStart: true, pieces: 1, runStart: nl + 1, open: i})
	return nl + 1
}

// quoted scans the token of a quoted template at i.
func (s *nestingScanner) quoted(i int) int {
	switch c := s.src[i]; c {
	case '"':
		s.piece(i)
		s.pop()
		return i + 1
	case '\n', '\r':
		s.piece(i)
		return i + 1
	case '\\':
		// An escape takes the next character, which may be "$" or "%"
		// and then starts no interpolation, but never a newline.
		if n := s.at(i + 1); n != '\n' && n != '\r' && n != 0 {
			return i + 2
		}
		return i + 1
	case '$', '%':
		return s.templateSequence(i)
	default:
		return i + 1
	}
}

// heredoc scans the token of a heredoc at i.
func (s *nestingScanner) heredoc(i int) int {
	h := s.top()
	if h.lineStart {
		h.lineStart = false
		if j := bytes.IndexByte(s.src[i:], '\n'); j >= 0 && bytes.Equal(bytes.TrimSpace(s.src[i:i+j]), h.marker) {
			s.piece(i)
			s.pop()
			return i + j // the newline is code again
		}
	}
	switch c := s.src[i]; c {
	case '\n':
		h.lineStart = true
		s.piece(i)
		return i + 1
	case '$', '%':
		return s.templateSequence(i)
	default:
		return i + 1
	}
}

// templateSequence scans "$" or "%" in a template at i: an interpolation
// or directive when "{" follows, an escape when the same character and
// "{" do, else a literal character.
func (s *nestingScanner) templateSequence(i int) int {
	c := s.src[i]
	if s.at(i+1) == c && s.at(i+2) == '{' {
		s.piece(i)
		return i + 3
	}
	if s.at(i+1) != '{' {
		s.piece(i)
		return i + 1
	}
	s.piece(i)
	j := i + 2
	if s.at(j) == '~' {
		j++
	}
	tmpl := s.top()
	tmpl.lineStart = false
	if c == '%' {
		// The parser nests what lies between if and endif, and between
		// for and endfor, by recursion.
		switch directiveKeyword(s.src[j:]) {
		case "if", "for":
			tmpl.extra++
			s.check(i, tmpl.level())
		case "endif", "endfor":
			if tmpl.extra > 0 {
				tmpl.extra--
			}
		}
	}
	s.push(i, frame{kind: '$'})
	return j
}

// directiveKeyword returns the word that starts b after spaces.
func directiveKeyword(b []byte) string {
	b = bytes.TrimLeft(b, " \t")
	n := 0
	for n < len(b) && n < 8 && b[n] >= 'a' && b[n] <= 'z' {
		n++
	}
	return string(b[:n])
}

// closeBrace handles "}" in code, ending before next: it closes the
// innermost brace or interpolation, and any parenthesis or bracket left
// open inside it, as the lexer matches braces alone. A "}" with nothing to
// close is ignored.
func (s *nestingScanner) closeBrace(next int) {
	for k := len(s.stack) - 1; k > 0; k-- {
		if kind := s.stack[k].kind; kind == '{' || kind == '$' {
			s.stack = s.stack[:k]
			top := s.top()
			top.unary = 0
			if kind == '$' {
				// Back in the template: a new run of literal text.
				top.pieces, top.runStart = 1, next
			}
			return
		}
	}
}

// piece counts a literal piece of the template on top ending at i, and
// refuses the template when joining its pieces would take too long.
func (s *nestingScanner) piece(i int) {
	t := s.top()
	t.pieces++
	if int64(t.pieces)*int64(i-t.runStart) > maxTemplateWork && s.refused == nil {
		r := sourceRange(s.filename, s.src, t.open)
		s.refused = refusal(RefusedShape, &r, "Template too long",
			"This template has %d lines or escapes in %d bytes without an interpolation, which takes too long to read; "+
				"split it, or keep long text out of the job file.", t.pieces, i-t.runStart)
	}
}

// push opens f at i, one level below the current one.
func (s *nestingScanner) push(i int, f frame) {
	top := s.top()
	f.depth = top.level() + 1
	top.unary = 0
	if s.check(i, f.depth) {
		s.stack = append(s.stack, f)
	}
}

// pop closes the innermost construct, which ends the operand that the
// unary operators before it applied to.
func (s *nestingScanner) pop() {
	if len(s.stack) > 1 {
		s.stack = s.stack[:len(s.stack)-1]
	}
	s.top().unary = 0
}

// check refuses the source at i when level is too deep, and reports
// whether it is not.
func (s *nestingScanner) check(i, level int) bool {
	s.deepest = max(s.deepest, level)
	if level <= s.max {
		return true
	}
	s.refuse(i, "Nesting too deep",
		fmt.Sprintf("Brackets, templates and operators nest more than %d levels deep here; a job file needs a handful.", s.max))
	return false
}

func (s *nestingScanner) refuse(i int, summary, detail string) {
	if s.refused != nil {
		return
	}
	r := sourceRange(s.filename, s.src, i)
	s.refused = refusal(RefusedShape, &r, summary, "%s", detail)
}

// checkUTF8 reports the first byte of src, named filename, that is not
// valid UTF-8. HCL's lexer reads a broken sequence together with the bytes
// after it, which could hide a bracket or a quote from the scanner, and no
// job file has one: the parser would refuse it anyway.
func checkUTF8(filename string, src []byte) *hcl.Diagnostic {
	if utf8.Valid(src) {
		return nil
	}
	i := 0
	for {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		i += size
	}
	r := sourceRange(filename, src, i)
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid character encoding",
		Detail:   "The source must be UTF-8 encoded; this byte is not.",
		Subject:  &r,
	}
}

// sourceRange returns the range of the character at byte offset i of src.
// Columns count characters, as HCL's do for all but combining sequences.
func sourceRange(filename string, src []byte, i int) hcl.Range {
	lineStart := bytes.LastIndexByte(src[:i], '\n') + 1
	line := bytes.Count(src[:lineStart], []byte("\n")) + 1
	col := utf8.RuneCount(src[lineStart:i]) + 1
	if lineStart == 0 && bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) && i >= 3 {
		col--
	}
	_, size := utf8.DecodeRune(src[i:])
	start := hcl.Pos{Line: line, Column: col, Byte: i}
	return hcl.Range{Filename: filename, Start: start, End: hcl.Pos{Line: line, Column: col + 1, Byte: i + size}}
}

// checkJSONNesting is checkNesting for JSON: var files and the argument of
// jsondecode, whose parsers recurse once per level as well.
func checkJSONNesting(filename string, src []byte, max int) *hcl.Diagnostic {
	if d := checkUTF8(filename, src); d != nil {
		return d
	}
	depth := 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '"':
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case c == '[' || c == '{':
			if depth++; depth > max {
				r := sourceRange(filename, src, i)
				return refusal(RefusedShape, &r, "Nesting too deep",
					"Arrays and objects nest more than %d levels deep here.", max)
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		case isDigit(c):
			j := i
			for j < len(src) && (isDigit(src[j]) || bytes.IndexByte([]byte(".eE+-"), src[j]) >= 0) {
				j++
			}
			if j-i > maxNumberLen {
				r := sourceRange(filename, src, i)
				return refusal(RefusedShape, &r, "Number too long",
					"This number is written with %d characters; at most %d are accepted.", j-i, maxNumberLen)
			}
			i = j - 1
		}
	}
	return nil
}

func opening(closing byte) byte {
	if closing == ')' {
		return '('
	}
	return '['
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIdentByte reports whether c may continue an ASCII identifier.
func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '-'
}
