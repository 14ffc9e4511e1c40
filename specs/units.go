package specs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a [time.Duration] that job files and the API write the way
// people do: "90s", "2m", "1h30m", "4d". In JSON it is a string in the
// compact form of [Duration.String]; it also decodes from integer
// nanoseconds.
type Duration time.Duration

// Std returns d as a [time.Duration].
func (d Duration) Std() time.Duration { return time.Duration(d) }

const day = 24 * time.Hour

// String returns the compact form of d, which [ParseDuration] reads back to
// the same value: whole seconds as days, hours, minutes and seconds without
// zero parts ("4d", "1h30m", "0s"), anything finer as [time.Duration.String].
func (d Duration) String() string {
	td := time.Duration(d)
	if td%time.Second != 0 || td == math.MinInt64 {
		return td.String()
	}
	var b strings.Builder
	if td < 0 {
		b.WriteByte('-')
		td = -td
	}
	if td == 0 {
		return "0s"
	}
	for _, u := range []struct {
		size time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := td / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			td -= n * u.size
		}
	}
	return b.String()
}

// ParseDuration reads a duration in Go's syntax ("1h30m", "250ms") extended
// with a leading whole or decimal number of days ("4d", "1d12h", "1.5d").
// A sign applies to the whole value. Negative durations parse; callers check
// the range they accept.
func ParseDuration(s string) (Duration, error) {
	bad := func() (Duration, error) {
		return 0, fmt.Errorf("invalid duration %q: use a number with a unit, such as 90s, 2m, 1h30m or 4d", s)
	}
	unsigned, neg := s, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		unsigned, neg = s[1:], s[0] == '-'
	}
	if !startsWithNumber(unsigned) {
		return bad()
	}
	days, rest, hasDays := strings.Cut(unsigned, "d")
	if !hasDays {
		// time.ParseDuration takes the sign itself, which keeps the one
		// value whose magnitude does not fit, math.MinInt64.
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad()
		}
		return Duration(d), nil
	}
	if !isDecimal(days) || rest != "" && !startsWithNumber(rest) {
		return bad()
	}
	// Parsing the days as hours keeps time.ParseDuration's exact decimal
	// arithmetic and overflow checks.
	h, err := time.ParseDuration(days + "h")
	if err != nil || h > math.MaxInt64/24 {
		return bad()
	}
	total := h * 24
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || d > math.MaxInt64-total {
			return bad()
		}
		total += d
	}
	if neg {
		total = -total
	}
	return Duration(total), nil
}

func startsWithNumber(s string) bool {
	return s != "" && (s[0] == '.' || s[0] >= '0' && s[0] <= '9')
}

func isDecimal(s string) bool {
	if s == "" || s == "." {
		return false
	}
	dot := false
	for _, c := range s {
		switch {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return true
}

// MarshalJSON writes d as a string in its compact form.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string (see [ParseDuration]) or an integer
// number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a string such as \"2m\" or integer nanoseconds", b)
	}
	*d = Duration(n)
	return nil
}

// Size is a number of bytes. Job files write it as "256KiB", "1MiB" or a
// plain number of bytes; JSON carries it as a number and also accepts the
// string forms.
type Size int64

// The binary units a [Size] may be written in.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

var errSizeSyntax = errors.New("use a whole number of bytes, optionally with a unit B, KiB, MiB, GiB or TiB, such as 256KiB")

// ParseSize reads a whole number of bytes with an optional unit: "1024",
// "512B", "256KiB", "1MiB", "2GiB", "1TiB".
func ParseSize(s string) (Size, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q: %w", s, errSizeSyntax)
	}
	var unit Size
	switch s[i:] {
	case "", "B":
		unit = 1
	case "KiB":
		unit = KiB
	case "MiB":
		unit = MiB
	case "GiB":
		unit = GiB
	case "TiB":
		unit = TiB
	default:
		return 0, fmt.Errorf("invalid size %q: %w", s, errSizeSyntax)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || Size(n) > math.MaxInt64/unit {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n) * unit, nil
}

// String returns s in the largest binary unit that divides it exactly, such
// as "256KiB", or in bytes ("1000B").
func (s Size) String() string {
	for _, u := range []struct {
		size Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s != 0 && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalJSON reads a number of bytes or a size string (see [ParseSize]).
func (s *Size) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := ParseSize(str)
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid size %s: want a whole number of bytes or a string such as \"256KiB\"", b)
	}
	*s = Size(n)
	return nil
}
