package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustParse(t testing.TB, src string, scope Scope) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), scope)
	if err != nil {
		t.Fatalf("Parse(%s): %v", src, err)
	}
	return p
}

func str(v string) Attribute        { return Attribute{Type: "String", Value: v} }
func num(v string) Attribute        { return Attribute{Type: "Number", Value: v} }
func strArr(v string) Attribute     { return Attribute{Type: "String.Array", Value: v} }
func binary(v string) Attribute     { return Attribute{Type: "Binary", Value: v} }
func labeled(t, v string) Attribute { return Attribute{Type: t, Value: v} }

func TestMatchAttributes(t *testing.T) {
	for _, tt := range []struct {
		policy string
		attrs  map[string]Attribute
		want   bool
	}{
		{`{}`, nil, true},
		{`{"store":["example_corp"]}`, map[string]Attribute{"store": str("example_corp")}, true},
		{`{"store":["example_corp"]}`, map[string]Attribute{"store": str("other")}, false},
		{`{"store":["example_corp"]}`, nil, false},
		{`{"store":["a","b"]}`, map[string]Attribute{"store": str("b")}, true},
		// All keys must match.
		{`{"store":["a"],"event":["order_placed"]}`, map[string]Attribute{"store": str("a")}, false},
		{`{"store":["a"],"event":["order_placed"]}`, map[string]Attribute{"store": str("a"), "event": str("order_placed")}, true},
		// Types are strict: a string does not equal a number.
		{`{"price":[100]}`, map[string]Attribute{"price": num("100")}, true},
		{`{"price":[100]}`, map[string]Attribute{"price": num("100.000001")}, true}, // five decimals
		{`{"price":[100]}`, map[string]Attribute{"price": num("100.0001")}, false},
		{`{"price":[100]}`, map[string]Attribute{"price": str("100")}, false},
		{`{"price":["100"]}`, map[string]Attribute{"price": num("100")}, false},
		{`{"price":[100]}`, map[string]Attribute{"price": labeled("Number.float", "1e2")}, true},
		{`{"store":["x"]}`, map[string]Attribute{"store": labeled("String.custom", "x")}, true},
		// String.Array: any element.
		{`{"sizes":["large"]}`, map[string]Attribute{"sizes": strArr(`["small","large"]`)}, true},
		{`{"sizes":[10]}`, map[string]Attribute{"sizes": strArr(`["small",10]`)}, true},
		{`{"sizes":["medium"]}`, map[string]Attribute{"sizes": strArr(`["small","large"]`)}, false},
		{`{"sizes":["medium"]}`, map[string]Attribute{"sizes": strArr(`not json`)}, false},
		// prefix, suffix, equals-ignore-case
		{`{"region":[{"prefix":"us-"}]}`, map[string]Attribute{"region": str("us-west-2")}, true},
		{`{"region":[{"prefix":"us-"}]}`, map[string]Attribute{"region": str("eu-west-1")}, false},
		{`{"image":[{"suffix":".png"}]}`, map[string]Attribute{"image": str("cat.png")}, true},
		{`{"image":[{"suffix":".png"}]}`, map[string]Attribute{"image": str("cat.jpg")}, false},
		{`{"name":[{"equals-ignore-case":"Alice"}]}`, map[string]Attribute{"name": str("aLiCe")}, true},
		{`{"name":[{"equals-ignore-case":"Alice"}]}`, map[string]Attribute{"name": str("bob")}, false},
		// anything-but
		{`{"store":[{"anything-but":"a"}]}`, map[string]Attribute{"store": str("b")}, true},
		{`{"store":[{"anything-but":"a"}]}`, map[string]Attribute{"store": str("a")}, false},
		{`{"store":[{"anything-but":["a","b"]}]}`, map[string]Attribute{"store": str("b")}, false},
		{`{"store":[{"anything-but":["a","b"]}]}`, map[string]Attribute{"store": str("c")}, true},
		{`{"store":[{"anything-but":["a"]}]}`, nil, false}, // needs the attribute
		{`{"price":[{"anything-but":[100,200]}]}`, map[string]Attribute{"price": num("150")}, true},
		{`{"price":[{"anything-but":[100,200]}]}`, map[string]Attribute{"price": num("200")}, false},
		{`{"event":[{"anything-but":{"prefix":"order-"}}]}`, map[string]Attribute{"event": str("order-cancelled")}, false},
		{`{"event":[{"anything-but":{"prefix":"order-"}}]}`, map[string]Attribute{"event": str("payment")}, true},
		{`{"file":[{"anything-but":{"suffix":".tmp"}}]}`, map[string]Attribute{"file": str("a.tmp")}, false},
		{`{"file":[{"anything-but":{"suffix":".tmp"}}]}`, map[string]Attribute{"file": str("a.txt")}, true},
		// numeric
		{`{"price":[{"numeric":["=",301.5]}]}`, map[string]Attribute{"price": num("301.5")}, true},
		{`{"price":[{"numeric":[">",0,"<=",150]}]}`, map[string]Attribute{"price": num("150")}, true},
		{`{"price":[{"numeric":[">",0,"<=",150]}]}`, map[string]Attribute{"price": num("0")}, false},
		{`{"price":[{"numeric":[">",0,"<",150]}]}`, map[string]Attribute{"price": num("150")}, false},
		{`{"price":[{"numeric":[">=",0]}]}`, map[string]Attribute{"price": num("0")}, true},
		{`{"price":[{"numeric":["<",0]}]}`, map[string]Attribute{"price": num("-0.5")}, true},
		{`{"price":[{"numeric":["<",0]}]}`, map[string]Attribute{"price": str("-1")}, false},
		// exists, including Binary attributes that match nothing else
		{`{"store":[{"exists":true}]}`, map[string]Attribute{"store": str("x")}, true},
		{`{"store":[{"exists":true}]}`, nil, false},
		{`{"store":[{"exists":false}]}`, nil, true},
		{`{"store":[{"exists":false}]}`, map[string]Attribute{"store": str("x")}, false},
		{`{"blob":[{"exists":true}]}`, map[string]Attribute{"blob": binary("AAEC")}, true},
		{`{"blob":["AAEC"]}`, map[string]Attribute{"blob": binary("AAEC")}, false},
		// cidr
		{`{"ip":[{"cidr":"10.0.0.0/24"}]}`, map[string]Attribute{"ip": str("10.0.0.255")}, true},
		{`{"ip":[{"cidr":"10.0.0.0/24"}]}`, map[string]Attribute{"ip": str("10.0.1.0")}, false},
		{`{"ip":[{"cidr":"2001:db8::/32"}]}`, map[string]Attribute{"ip": str("2001:db8::1")}, true},
		{`{"ip":[{"cidr":"10.0.0.0/8"}]}`, map[string]Attribute{"ip": str("not an address")}, false},
		// $or
		{`{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization"]},{"namespace":["AWS/EC2"]}]}`,
			map[string]Attribute{"source": str("aws.cloudwatch"), "namespace": str("AWS/EC2")}, true},
		{`{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization"]},{"namespace":["AWS/EC2"]}]}`,
			map[string]Attribute{"source": str("aws.cloudwatch"), "namespace": str("AWS/S3")}, false},
		{`{"$or":[{"a":["1"]},{"$or":[{"b":["2"]},{"c":["3"]}]}]}`, map[string]Attribute{"c": str("3")}, true},
		// Several conditions on a key: any.
		{`{"price":[{"numeric":["<",10]},{"numeric":[">",100]},"free"]}`, map[string]Attribute{"price": num("150")}, true},
	} {
		p := mustParse(t, tt.policy, Attributes)
		if got := p.Match(NewMessage(tt.attrs, nil)); got != tt.want {
			t.Errorf("%s on %v: %v, want %v", tt.policy, tt.attrs, got, tt.want)
		}
	}
}

func TestMatchBody(t *testing.T) {
	for _, tt := range []struct {
		policy, body string
		want         bool
	}{
		{`{"store":["example_corp"]}`, `{"store":"example_corp"}`, true},
		{`{"store":["example_corp"]}`, `{"store":"other"}`, false},
		{`{"store":["example_corp"]}`, `not json`, false},
		{`{"store":["example_corp"]}`, `["store"]`, false},
		{`{}`, `not json`, true},
		// Nested keys follow nested objects.
		{`{"order":{"customer":{"tier":["gold"]}}}`, `{"order":{"customer":{"tier":"gold"}}}`, true},
		{`{"order":{"customer":{"tier":["gold"]}}}`, `{"order":{"customer":{"tier":"silver"}}}`, false},
		{`{"order":{"customer":{"tier":["gold"]}}}`, `{"order":"gold"}`, false},
		// Arrays: any element, of scalars or of objects.
		{`{"tags":["urgent"]}`, `{"tags":["low","urgent"]}`, true},
		{`{"items":{"sku":["A1"]}}`, `{"items":[{"sku":"B2"},{"sku":"A1"}]}`, true},
		{`{"items":{"sku":["A1"]}}`, `{"items":[{"sku":"B2"}]}`, false},
		// JSON types: numbers, booleans, null.
		{`{"price":[{"numeric":[">=",10]}]}`, `{"price":12.5}`, true},
		{`{"price":[12.5]}`, `{"price":12.5}`, true},
		{`{"price":[12.5]}`, `{"price":"12.5"}`, false},
		{`{"paid":[true]}`, `{"paid":true}`, true},
		{`{"paid":[true]}`, `{"paid":false}`, false},
		{`{"coupon":[null]}`, `{"coupon":null}`, true},
		{`{"coupon":[null]}`, `{}`, false},
		{`{"coupon":[{"exists":false}]}`, `{}`, true},
		{`{"coupon":[{"exists":true}]}`, `{"coupon":null}`, true},
		{`{"a":{"b":[{"exists":false}]}}`, `{"a":{}}`, true},
		{`{"$or":[{"a":["x"]},{"b":{"c":["y"]}}]}`, `{"b":{"c":"y"}}`, true},
	} {
		p := mustParse(t, tt.policy, Body)
		if got := p.Match(NewMessage(nil, []byte(tt.body))); got != tt.want {
			t.Errorf("%s on %s: %v, want %v", tt.policy, tt.body, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	combos := func(n int) string {
		vals := make([]string, n)
		for i := range vals {
			vals[i] = fmt.Sprintf("%q", fmt.Sprint(i))
		}
		return `{"a":[` + strings.Join(vals, ",") + `]}`
	}
	for _, tt := range []struct {
		policy string
		scope  Scope
		want   string
	}{
		{`not json`, Attributes, "FilterPolicy: failed to parse JSON"},
		{``, Attributes, "FilterPolicy: failed to parse JSON"},
		{`{} {}`, Attributes, "failed to parse JSON"},
		{`["a"]`, Attributes, "Filter policy must be a JSON object"},
		{`{"a":"b"}`, Attributes, `FilterPolicy: "a" must be an object or an array`},
		{`{"a":[]}`, Attributes, "Empty arrays are not allowed"},
		{`{"a":{"b":["c"]}}`, Attributes, "Filter policy scope MessageAttributes does not support nested filter policy"},
		{`{"a":[["b"]]}`, Attributes, "Match value must be String, number, true, false, or null"},
		{`{"a":[{"prefix":"x","suffix":"y"}]}`, Attributes, "Only one key allowed in match expression"},
		{`{"a":[{"wildcard":"x*"}]}`, Attributes, "Unrecognized match type wildcard"},
		{`{"a":[{"prefix":1}]}`, Attributes, "prefix match pattern must be a string"},
		{`{"a":[{"exists":"yes"}]}`, Attributes, "exists match pattern must be either true or false."},
		{`{"a":[{"numeric":[]}]}`, Attributes, "Value of numeric must be an array."},
		{`{"a":[{"numeric":[1]}]}`, Attributes, "Invalid member in numeric match: 1"},
		{`{"a":[{"numeric":["~",1]}]}`, Attributes, "Unrecognized numeric range operator: ~"},
		{`{"a":[{"numeric":["=","1"]}]}`, Attributes, "Value of equals must be numeric"},
		{`{"a":[{"numeric":[">"]}]}`, Attributes, "Value of > must be numeric"},
		{`{"a":[{"numeric":["=",1,"<",2]}]}`, Attributes, "Too many elements in numeric expression"},
		{`{"a":[{"numeric":[">",1,">",2]}]}`, Attributes, "Bad numeric range operator: >"},
		{`{"a":[{"numeric":[">",5,"<",2]}]}`, Attributes, "Bottom must be less than top"},
		{`{"a":[{"numeric":[">",1,"<",2,"<",3]}]}`, Attributes, "Too many terms in numeric range expression"},
		{`{"a":[1e10]}`, Attributes, "out of range"},
		{`{"a":[{"cidr":"10.0.0.0"}]}`, Attributes, "Malformed CIDR"},
		{`{"a":[{"anything-but":[]}]}`, Attributes, "Empty arrays are not allowed"},
		{`{"a":[{"anything-but":[true]}]}`, Attributes, "anything but list"},
		{`{"a":[{"anything-but":{"wildcard":"x"}}]}`, Attributes, "Unsupported anything-but pattern: wildcard"},
		{`{"a":[{"anything-but":true}]}`, Attributes, "Value of anything-but must be"},
		{`{"$or":[{"a":["1"]}]}`, Attributes, "Value of $or must be an array of at least 2 objects"},
		{`{"$or":"x"}`, Attributes, "Value of $or must be"},
		{`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}`, Attributes, "Filter policy can not have more than 5 keys"},
		{`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"$or":[{"e":["1"]},{"e":["2"],"f":["3"]}]}`, Attributes, "can not have more than 5 keys"},
		{combos(151), Attributes, "Filter policy is too complex"},
		{`{"a":["1","2","3","4","5","6"],"b":["1","2","3","4","5"],"c":["1","2","3","4","5","6"]}`, Attributes, "Filter policy is too complex"},
		{`{"a":{"b":{"c":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19","20","21","22","23","24","25","26","27","28","29","30","31","32","33","34","35","36","37","38","39","40","41","42","43","44","45","46","47","48","49","50","51"]}}}`, Body, "Filter policy is too complex"},
		{`{"a":["` + strings.Repeat("x", MaxSize) + `"]}`, Attributes, "Filter policy is too long"},
	} {
		_, err := Parse([]byte(tt.policy), tt.scope)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			short := tt.policy
			if len(short) > 80 {
				short = short[:80] + "…"
			}
			t.Errorf("Parse(%s): %v, want %q", short, err, tt.want)
		}
	}
	// At the limits: accepted.
	for _, ok := range []string{
		combos(150),
		`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"]}`,
		`{"a":{"b":{"c":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19","20","21","22","23","24","25","26","27","28","29","30","31","32","33","34","35","36","37","38","39","40","41","42","43","44","45","46","47","48","49","50"]}}}`,
	} {
		if _, err := Parse([]byte(ok), Body); err != nil {
			t.Errorf("Parse(%.60s…): %v, want it accepted", ok, err)
		}
	}
	if _, err := ParseScope("Everything"); err == nil || !strings.Contains(err.Error(), "MessageBody or MessageAttributes") {
		t.Errorf("ParseScope: %v", err)
	}
}

// Matching allocates nothing, whatever the policy.
func TestMatchDoesNotAllocate(t *testing.T) {
	p := mustParse(t, typicalPolicy, Attributes)
	m := NewMessage(typicalAttrs, nil)
	if n := testing.AllocsPerRun(100, func() { p.Match(m) }); n != 0 {
		t.Errorf("Match allocates %.0f times", n)
	}
	b := mustParse(t, `{"order":{"total":[{"numeric":[">",10]}],"tier":["gold"]}}`, Body)
	bm := NewMessage(nil, []byte(`{"order":{"total":12,"tier":"gold"}}`))
	b.Match(bm)
	if n := testing.AllocsPerRun(100, func() { b.Match(bm) }); n != 0 {
		t.Errorf("a body Match allocates %.0f times", n)
	}
}

const typicalPolicy = `{"store":["example_corp","other_corp"],"event":[{"anything-but":"order_cancelled"}],"price_usd":[{"numeric":[">=",100]}]}`

var typicalAttrs = map[string]Attribute{
	"store":     str("example_corp"),
	"event":     str("order_placed"),
	"price_usd": num("210.75"),
	"customer":  str("c-1"),
}

// BenchmarkMatch is issue 15's filter figure: a typical 3-key policy
// against a message with four attributes, on one core.
func BenchmarkMatch(b *testing.B) {
	p := mustParse(b, typicalPolicy, Attributes)
	m := NewMessage(typicalAttrs, nil)
	b.ReportAllocs()
	for b.Loop() {
		if !p.Match(m) {
			b.Fatal("no match")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{typicalPolicy, `{}`, `{"a":{"b":["c"]}}`, `{"$or":[{"a":["1"]},{"b":[{"cidr":"10.0.0.0/8"}]}]}`,
		`{"a":[{"numeric":[">",1,"<=",2]},{"anything-but":{"prefix":"x"}},null,true,1.5]}`} {
		f.Add([]byte(s), []byte(`{"a":"1","b":{"c":[1,"x",null]}}`), "String", "1")
	}
	f.Fuzz(func(t *testing.T, policy, body []byte, typ, val string) {
		for _, scope := range []Scope{Attributes, Body} {
			p, err := Parse(policy, scope)
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("Parse returned a %T: %v", err, err)
				}
				continue
			}
			if keyCount(p.root) > MaxKeys || combinations(p.root, 1) > MaxCombinations {
				t.Fatalf("Parse accepted a policy over SNS's limits: %s", policy)
			}
			m := NewMessage(map[string]Attribute{"a": {Type: typ, Value: val}, "b": {Type: "String.Array", Value: val}}, body)
			first := p.Match(m)
			if p.Match(m) != first {
				t.Fatal("Match is not deterministic")
			}
		}
	})
}
