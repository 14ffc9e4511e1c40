package specs

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "90s", want: 90 * time.Second},
		{in: "2m", want: 2 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "4d", want: 96 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "14d", want: 14 * 24 * time.Hour},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "1us", want: time.Microsecond},
		{in: "1µs", want: time.Microsecond},
		{in: "-5s", want: -5 * time.Second},
		{in: "+5s", want: 5 * time.Second},
		{in: "-1d", want: -24 * time.Hour},
		{in: "", wantErr: true},
		{in: "10", wantErr: true},
		{in: "5 minutes", wantErr: true},
		{in: "1w", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1d1d", wantErr: true},
		{in: "1h2d", wantErr: true},
		{in: "1d-2h", wantErr: true},
		{in: "--1s", wantErr: true},
		{in: "-", wantErr: true},
		{in: ".d", wantErr: true},
		{in: "1e3s", wantErr: true},
		{in: "200000d", wantErr: true},
		{in: "106751d23h47m17s", wantErr: true},
		{in: "106751d23h47m16s", want: 106751*24*time.Hour + 23*time.Hour + 47*time.Minute + 16*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDuration(%q): got error %v, want %v", tt.in, err, tt.want)
			}
			if got.Std() != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got.Std(), tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{in: 0, want: "0s"},
		{in: 90 * time.Second, want: "1m30s"},
		{in: 2 * time.Minute, want: "2m"},
		{in: 96 * time.Hour, want: "4d"},
		{in: 36*time.Hour + time.Second, want: "1d12h1s"},
		{in: -30 * time.Second, want: "-30s"},
		{in: 1500 * time.Millisecond, want: "1.5s"},
		{in: math.MaxInt64, want: "2562047h47m16.854775807s"},
		{in: math.MinInt64, want: "-2562047h47m16.854775808s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			d := Duration(tt.in)
			if got := d.String(); got != tt.want {
				t.Errorf("Duration(%d).String() = %q, want %q", tt.in, got, tt.want)
			}
			back, err := ParseDuration(d.String())
			if err != nil || back != d {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", d.String(), back.Std(), err, tt.in)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "512B", want: 512},
		{in: "256KiB", want: 256 * 1024},
		{in: "1MiB", want: 1 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "", wantErr: true},
		{in: "KiB", wantErr: true},
		{in: "256KB", wantErr: true},
		{in: "256kib", wantErr: true},
		{in: "1.5MiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: " 1", wantErr: true},
		{in: "1 MiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSize(%q): got error %v, want %d", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if back, err := ParseSize(got.String()); err != nil || back != got {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", got.String(), back, err, got)
			}
		})
	}
}

func TestUnitsJSON(t *testing.T) {
	type units struct {
		D Duration `json:"d"`
		S Size     `json:"s"`
	}
	tests := []struct {
		name    string
		in      string
		want    units
		wantErr bool
	}{
		{name: "strings", in: `{"d":"4d","s":"256KiB"}`, want: units{D: Duration(96 * time.Hour), S: 256 * KiB}},
		{name: "numbers", in: `{"d":1000000000,"s":1024}`, want: units{D: Duration(time.Second), S: 1024}},
		{name: "go duration", in: `{"d":"2m0s","s":0}`, want: units{D: Duration(2 * time.Minute)}},
		{name: "null", in: `{"d":null,"s":null}`},
		{name: "bad duration", in: `{"d":"soon"}`, wantErr: true},
		{name: "fractional nanoseconds", in: `{"d":1.5}`, wantErr: true},
		{name: "bad size", in: `{"s":"lots"}`, wantErr: true},
		{name: "fractional size", in: `{"s":1.5}`, wantErr: true},
		{name: "bool duration", in: `{"d":true}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got units
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	b, err := json.Marshal(units{D: Duration(90 * time.Minute), S: MiB})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"d":"1h30m","s":1048576}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
