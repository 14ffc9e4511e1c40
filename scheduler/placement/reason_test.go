package placement

import "testing"

func TestReason(t *testing.T) {
	gpu := []Constraint{{"node.class", OpEqual, "gpu"}}
	tests := []struct {
		name  string
		nodes []Node
		ask   Ask
		want  string
	}{
		{
			name:  "memory is the limit",
			nodes: []Node{mk("a", size(32000, 65536), used(0, 44032)), mk("b", size(32000, 65536), used(0, 50000))},
			ask:   Ask{CPU: 1000, Memory: 65536, Count: 1},
			want:  "no node has 64 GiB free memory; largest free: 21 GiB",
		},
		{
			name:  "CPU is the limit",
			nodes: []Node{mk("a", used(2500, 0)), mk("b", used(3000, 0))},
			ask:   Ask{CPU: 4000, Memory: 1024, Count: 1},
			want:  "no node has 4 cores of free CPU; largest free: 1.5 cores",
		},
		{
			name:  "small amounts",
			nodes: []Node{mk("a", used(3800, 8092))},
			ask:   Ask{CPU: 250, Memory: 512, Count: 1},
			want:  "no node has 512 MiB free memory; largest free: 100 MiB; no node has 250 millicores of free CPU; largest free: 200 millicores",
		},
		{
			name:  "rounding never makes the ask look free",
			nodes: []Node{mk("a", size(4000, 65536), used(0, 65536-22527))},
			ask:   Ask{CPU: 100, Memory: 22528, Count: 1},
			want:  "no node has 22 GiB free memory; largest free: 21.9 GiB",
		},
		{
			name:  "an odd ask rounds up",
			nodes: []Node{mk("a", used(0, 7192))},
			ask:   Ask{CPU: 100, Memory: 1030, Count: 1},
			want:  "no node has 1.1 GiB free memory; largest free: 1000 MiB",
		},
		{
			name: "capacity limit behind a constraint",
			nodes: []Node{
				mk("a", class("gpu"), used(0, 4096)), mk("b", class("gpu"), used(0, 6144)),
				mk("c"), mk("d"), mk("e"), mk("f", notEligible()),
			},
			ask:  Ask{CPU: 100, Memory: 8192, Count: 1, Constraints: gpu},
			want: "no node has 8 GiB free memory; largest free: 4 GiB; 3 nodes filtered by constraint node.class = gpu; 1 node ineligible",
		},
		{
			name: "mixed exhaustion is counted",
			nodes: []Node{
				mk("a", class("gpu"), used(0, 7168)), mk("b", class("gpu"), used(0, 7168)), mk("c", class("gpu"), used(3500, 0)),
				mk("d"), mk("e"), mk("f"),
			},
			ask:  Ask{CPU: 1000, Memory: 2048, Count: 1, Constraints: gpu},
			want: "3 nodes filtered by constraint node.class = gpu; 2 nodes exhausted on memory; 1 node exhausted on CPU",
		},
		{
			name: "every kind of exhaustion",
			nodes: []Node{
				mk("a", used(0, 7168)), mk("b", used(3500, 0)), mk("c", used(3500, 7168)), mk("d", used(3500, 7168)),
			},
			ask:  Ask{CPU: 1000, Memory: 2048, Count: 1},
			want: "2 nodes exhausted on CPU and memory; 1 node exhausted on memory; 1 node exhausted on CPU",
		},
		{
			name: "filters only, biggest first",
			nodes: []Node{
				mk("a"), mk("b"), mk("c"), mk("d", notEligible()), mk("e", notEligible()),
				mk("f", class("gpu")),
			},
			ask: Ask{
				CPU: 100, Memory: 100, Count: 1,
				Constraints: []Constraint{gpu[0], {Operator: OpDistinctHosts}},
				Existing:    map[string]int{"f": 1},
			},
			want: "3 nodes filtered by constraint node.class = gpu; 2 nodes ineligible; 1 node filtered by distinct_hosts",
		},
		{
			name:  "each node counts against the first constraint it fails",
			nodes: []Node{mk("a"), mk("b", class("gpu"))},
			ask: Ask{
				CPU: 100, Memory: 100, Count: 1,
				Constraints: []Constraint{{"node.arch", OpEqual, "arm64"}, gpu[0]},
			},
			want: "2 nodes filtered by constraint node.arch = arm64",
		},
		{
			name:  "an ineligible node with room does not count as room",
			nodes: []Node{mk("a", notEligible()), mk("b", used(0, 8000))},
			ask:   Ask{CPU: 100, Memory: 1024, Count: 1},
			want:  "no node has 1 GiB free memory; largest free: 192 MiB; 1 node ineligible",
		},
		{
			name:  "all ineligible",
			nodes: []Node{mk("a", notEligible())},
			ask:   Ask{CPU: 100, Memory: 100, Count: 1},
			want:  "no eligible node: 1 node not ready, draining or ineligible",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ask.Job = "j"
			res := place(t, tt.nodes, tt.ask)
			if res.Reason != tt.want {
				t.Errorf("got reason %q, want %q", res.Reason, tt.want)
			}
		})
	}
}

func TestFormatUnits(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"MiB", formatMemory(512, false), "512 MiB"},
		{"just under a GiB", formatMemory(1023, true), "1023 MiB"},
		{"whole GiB", formatMemory(65536, false), "64 GiB"},
		{"GiB floored", formatMemory(22527, false), "21.9 GiB"},
		{"GiB ceiled", formatMemory(22529, true), "22.1 GiB"},
		{"GiB exact tenth", formatMemory(1536, true), "1.5 GiB"},
		{"TiB", formatMemory(2<<20, false), "2 TiB"},
		{"millicores", formatCPU(250, true), "250 millicores"},
		{"one core", formatCPU(1000, false), "1 core"},
		{"cores floored", formatCPU(1999, false), "1.9 cores"},
		{"cores ceiled", formatCPU(1001, true), "1.1 cores"},
		{"many cores", formatCPU(64000, false), "64 cores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
