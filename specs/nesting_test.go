package specs

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestNestingAcceptsSensibleSources(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want int // deepest level
	}{
		{name: "flat", src: "a = 1\nb = \"x\"\n", want: 1},
		{name: "block", src: "job \"a\" {\n  task \"b\" {\n    args = [\"x\"]\n  }\n}\n", want: 3},
		{name: "brackets in a string", src: `a = "[[[[{{{{(((("` + "\n", want: 1},
		{name: "brackets in comments", src: "# [[[[\n// {{{{\n/* (((( */\na = [1]\n", want: 1},
		{name: "brackets in a heredoc", src: "a = <<EOT\n[[[[{{{{\n  EOT\nb = 1\n", want: 1},
		{name: "indented heredoc", src: "a = <<-EOT\n  ((((\n  EOT\n", want: 1},
		{name: "escaped interpolation", src: `a = "$${[[[[" "%%{[[[["` + "\n", want: 1},
		{name: "escaped quote", src: `a = "\"[[[[\""` + "\n", want: 1},
		{name: "interpolation", src: `a = "${[1]}"` + "\n", want: 3},
		{name: "interpolation in a heredoc", src: "a = <<EOT\n${[1]}\nEOT\n", want: 3},
		{name: "directives", src: `a = "%{ if true }x%{ endif }%{ for x in [1] }${x}%{ endfor }"` + "\n", want: 3},
		{name: "conditional", src: "a = true ? 1 : 2\nb = false ? 1 : 2\n", want: 1},
		{name: "conditionals in a tuple", src: "a = [" + strings.Repeat("true ? 1 : 2, ", 200) + "]\n", want: 2},
		{name: "splats", src: "a = [x[*].y, x.*.y]\nb = x[*].y * 2\n", want: 2},
		{name: "negative numbers", src: "a = [" + strings.Repeat("-1, ", 200) + "]\n", want: 2},
		{name: "hyphenated names", src: "a = node-class-of-the-day\n", want: 1},
		{name: "unterminated block comment", src: "/* [\na = 1\n", want: 1},
		{name: "not a heredoc", src: "a = b <<c\n", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := scanNesting("t.hcl", []byte(tt.src), DefaultMaxNesting)
			if d != nil {
				t.Fatalf("got %s, want no diagnostic", FormatDiagnostic(d))
			}
			if got < tt.want || got > tt.want+1 {
				t.Errorf("got depth %d, want %d (or one more)", got, tt.want)
			}
		})
	}
	for _, pattern := range []string{"testdata/valid/*.hcl", "testdata/invalid/*.hcl", "../examples/*.hcl"} {
		for _, name := range globTB(t, pattern) {
			if d := checkNesting(name, readFileTB(t, name), DefaultMaxNesting); d != nil {
				t.Errorf("%s: got %s, want no diagnostic", filepath.Base(name), FormatDiagnostic(d))
			}
		}
	}
}

func TestNestingRefusesDeepSources(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // FormatDiagnostic's position and summary
	}{
		{name: "brackets", src: "a = " + strings.Repeat("[", 100000), want: "t.hcl:1:69: Nesting too deep"},
		{name: "braces", src: "a = " + strings.Repeat("{", 100000), want: "t.hcl:1:69: Nesting too deep"},
		{name: "parentheses", src: "a = " + strings.Repeat("(", 100000), want: "t.hcl:1:69: Nesting too deep"},
		{name: "blocks", src: strings.Repeat("b {\n", 100000), want: "t.hcl:65:3: Nesting too deep"},
		{name: "interpolations", src: "a = " + strings.Repeat(`"${`, 50000), want: "t.hcl:1:101: Nesting too deep"},
		{name: "heredocs", src: "a = " + strings.Repeat("<<EOT\n${", 50000), want: "t.hcl:33:3: Nesting too deep"},
		{name: "directives", src: "a = \"" + strings.Repeat("%{if true}", 50000), want: "t.hcl:1:626: Nesting too deep"},
		{name: "unary minus", src: "a = " + strings.Repeat("-", 100000) + "1", want: "t.hcl:1:69: Nesting too deep"},
		{name: "negation", src: "a = " + strings.Repeat("!", 100000) + "true", want: "t.hcl:1:69: Nesting too deep"},
		{name: "full splats", src: "a = b" + strings.Repeat("[*]", 100_000), want: "t.hcl:1:198: Nesting too deep"},
		{name: "attribute splats", src: "a = b" + strings.Repeat(".*", 100_000), want: "t.hcl:1:135: Nesting too deep"},
		{name: "conditionals", src: "a = " + strings.Repeat("x ? y : ", 30000) + "z", want: "t.hcl:1:519: Nesting too deep"},
		{name: "long number", src: "a = " + strings.Repeat("7", 1_000_000), want: "t.hcl:1:5: Number too long"},
		{name: "non-ASCII heredoc marker", src: "a = <<FIN_É\nx\nFIN_É\n", want: "t.hcl:1:5: Unsupported heredoc marker"},
		{name: "after a string", src: "a = \"[[[[\"\nb = " + strings.Repeat("[", 100), want: "t.hcl:2:69: Nesting too deep"},
		{name: "after a heredoc", src: "a = <<EOT\n[[[[\nEOT\nb = " + strings.Repeat("[", 100), want: "t.hcl:4:69: Nesting too deep"},
		{name: "broken UTF-8 before a comment sign", src: "a = \xe6#0" + strings.Repeat("[", 100), want: "t.hcl:1:5: Invalid character encoding"},
		{name: "after a comment", src: "/* \" */ a = " + strings.Repeat("[", 100), want: "t.hcl:1:77: Nesting too deep"},
		{name: "string closing an interpolation", src: "a = \"${ ( }\" " + strings.Repeat("[", 100), want: "t.hcl:1:78: Nesting too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := checkNesting("t.hcl", []byte(tt.src), DefaultMaxNesting)
			if d == nil {
				t.Fatalf("got no diagnostic, want %q", tt.want)
			}
			if got := FormatDiagnostic(d); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want it to start %q", got, tt.want)
			}
			if r := Refused(hcl.Diagnostics{d}); (r == nil || r.Reason != RefusedShape) && d.Summary != "Invalid character encoding" {
				t.Errorf("got refusal %+v, want reason %q", r, RefusedShape)
			}
		})
	}
}

func TestJSONNesting(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{name: "flat", src: `{"a": [1, 2, {"b": "[[[["}]}`},
		{name: "escaped quote", src: `{"a": "\"[[[[", "b": [[1]]}`},
		{name: "arrays", src: `{"a": ` + strings.Repeat("[", 100000), want: "t.json:1:70: Nesting too deep"},
		{name: "objects", src: strings.Repeat(`{"a":`, 100000), want: "t.json:1:321: Nesting too deep"},
		{name: "long number", src: `{"a": ` + strings.Repeat("7", 100000) + "}", want: "t.json:1:7: Number too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := checkJSONNesting("t.json", []byte(tt.src), DefaultMaxNesting)
			switch {
			case d == nil && tt.want != "":
				t.Fatalf("got no diagnostic, want %q", tt.want)
			case d != nil && tt.want == "":
				t.Fatalf("got %q, want no diagnostic", FormatDiagnostic(d))
			case d != nil && !strings.HasPrefix(FormatDiagnostic(d), tt.want):
				t.Errorf("got %q, want it to start %q", FormatDiagnostic(d), tt.want)
			}
		})
	}
}

// FuzzNesting checks the byte scanner against HCL's own lexer: on any
// input, the depth it finds is at least the depth of the same rules applied
// to the lexer's tokens, so that no nesting the parser will see can hide
// from it in a string, a heredoc or a comment.
func FuzzNesting(f *testing.F) {
	for _, s := range []string{
		`a = "${[1]}"`, "a = <<EOT\n${[1]}\nEOT\n", `a = "%{ if x }[${y}]%{ endif }"`,
		"a = <<-EOT\n  x\n  EOT\nb = [[1]]\n", `a = "\"${"${[]}"}"`, "/* [ */ a = [(1)]", "# [\na = {b = [1]}\n",
		`a = "$${[" "%%{["`, "a = x ? [y ? 1 : 2] : -(-1)", "a = \"${ ( }\" [[", "a = <<EOT\n${x}EOT\nEOT\n",
		"a = [\"\n[[\"]", "a = b[*].c[*].d", "a = b.*.c * d[*]", "a = [*]", "a = \"\\\n[\"", "a = <<EOT\r\n[\r\nEOT\r\n[[", "\xef\xbb\xbfa = [[1]]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		got, d := scanNesting("f.hcl", []byte(src), 1<<30)
		if d != nil && Refused(hcl.Diagnostics{d}) == nil {
			return // not UTF-8
		}
		if want := tokenDepth([]byte(src)); got < want {
			t.Fatalf("scanner found depth %d, tokens %d, in %q", got, want, src)
		}
	})
}

// tokenDepth applies the scanner's rules to the tokens of HCL's lexer.
func tokenDepth(src []byte) int {
	tokens, _ := hclsyntax.LexConfig(src, "f.hcl", hcl.InitialPos)
	stack := []frame{{}}
	deepest := 0
	see := func(level int) { deepest = max(deepest, level) }
	push := func(kind byte) {
		top := &stack[len(stack)-1]
		f := frame{kind: kind, depth: top.level() + 1}
		top.unary = 0
		see(f.depth)
		stack = append(stack, f)
	}
	pop := func() {
		if len(stack) > 1 {
			stack = stack[:len(stack)-1]
		}
		stack[len(stack)-1].unary = 0
	}
	for i, tok := range tokens {
		top := &stack[len(stack)-1]
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen:
			push(tok.Bytes[0])
		case hclsyntax.TokenCBrack, hclsyntax.TokenCParen:
			if top.kind == opening(tok.Bytes[0]) {
				pop()
				if i >= 2 && tokens[i-1].Type == hclsyntax.TokenStar && tokens[i-2].Type == hclsyntax.TokenOBrack {
					t := &stack[len(stack)-1]
					t.extra++
					see(t.level())
				}
			} else {
				top.unary = 0
			}
		case hclsyntax.TokenStar:
			top.unary = 0
			if i >= 1 && tokens[i-1].Type == hclsyntax.TokenDot {
				top.extra++
				see(top.level())
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenTemplateSeqEnd:
			for k := len(stack) - 1; k > 0; k-- {
				if stack[k].kind == '{' || stack[k].kind == '$' {
					stack = stack[:k]
					stack[k-1].unary = 0
					break
				}
			}
		case hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			push('"')
		case hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			pop()
		case hclsyntax.TokenTemplateInterp:
			push('$')
		case hclsyntax.TokenTemplateControl:
			if i+1 < len(tokens) && tokens[i+1].Type == hclsyntax.TokenIdent {
				switch string(tokens[i+1].Bytes) {
				case "if", "for":
					top.extra++
					see(top.level())
				case "endif", "endfor":
					if top.extra > 0 {
						top.extra--
					}
				}
			}
			push('$')
		case hclsyntax.TokenQuestion:
			top.unary = 0
			top.extra++
			see(top.level())
		case hclsyntax.TokenComma:
			top.extra, top.unary = 0, 0
		case hclsyntax.TokenNewline:
			if top.kind == '{' || top.kind == 0 {
				top.extra = 0
			}
		case hclsyntax.TokenMinus, hclsyntax.TokenBang:
			top.unary++
			see(top.level())
		case hclsyntax.TokenComment, hclsyntax.TokenEOF:
		default:
			top.unary = 0
		}
	}
	return deepest
}
