package placement

import (
	"math"
	"testing"
)

func TestBinPackScore(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"empty after placing", binPackScore(4000, 4000, 8192, 8192), 0},
		{"exactly full after placing", binPackScore(0, 4000, 0, 8192), 1},
		{"half full in both", binPackScore(2000, 4000, 4096, 8192), (20 - 2*math.Sqrt(10)) / 18},
		{"full CPU, empty memory", binPackScore(0, 4000, 8192, 8192), 0.5},
		{"no capacity counts as full", binPackScore(0, 0, 0, 0), 1},
		{"over-committed clamps to full", binPackScore(-100, 4000, -100, 8192), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if math.Abs(tt.got-tt.want) > 1e-5 {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestPow10 checks the interpolated table against math.Pow, and that it
// never decreases: a fuller node must never score lower.
func TestPow10(t *testing.T) {
	prev := 0.0
	for k := 0; k <= 100000; k++ {
		x := float64(k) / 100000
		got := pow10(x)
		if want := math.Pow(10, x); math.Abs(got-want) > 1e-5 {
			t.Fatalf("pow10(%v): got %v, want %v", x, got, want)
		}
		if got < prev {
			t.Fatalf("pow10(%v) = %v is below pow10 of a smaller x, %v", x, got, prev)
		}
		prev = got
	}
}

func TestSpreadBoost(t *testing.T) {
	tests := []struct {
		name  string
		count int32
		share float64
		want  float64
	}{
		{"empty value", 0, 0.2, 1},
		{"at the share", 2, 2, 0},
		{"half the share", 1, 2, 0.5},
		{"above the share", 3, 2, -0.5},
		{"twice the share or more", 9, 2, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spreadBoost(tt.count, tt.share); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAntiAffinityScore(t *testing.T) {
	tests := []struct {
		name    string
		onNode  int32
		desired float64
		want    float64
	}{
		{"none on the node", 0, 3, 0},
		{"one of two", 1, 2, -0.5},
		{"one of a hundred", 1, 100, -0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := antiAffinityScore(tt.onNode, tt.desired); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
