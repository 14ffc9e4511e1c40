package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/docketd/docket/internal/imagetest"
)

// bench crash runs servers of the real binary as its children, ends them
// with SIGKILL and SIGTERM, and prints what its ledger found; against a
// correct server it finds nothing and exits 0. As root (always in CI) it
// also fills the data directory's tmpfs once.
func TestBenchCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash soak skipped in -short mode")
	}
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket")
	args := []string{"bench", "crash", "--kills", "3", "--duration", "12s", "--segment-size", "256KiB", "--rate", "2MiB", "--quiet"}
	if os.Geteuid() == 0 {
		args = append(args, "--disk-full")
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI runs as root, for --disk-full")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	if err != nil {
		t.Fatalf("docket %v: %v\n%s%s", args, err, out, stderr.String())
	}
	t.Logf("docket %v:\n%s", args, out)

	figure := func(label string) int {
		t.Helper()
		m := regexp.MustCompile(`(?m)^\s+` + label + `\s+(\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %q in the report", label)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	for _, c := range []struct {
		label   string
		ok      func(int) bool
		explain string
	}{
		{"sends acknowledged", func(n int) bool { return n > 0 }, "some"},
		{"deletes acknowledged", func(n int) bool { return n > 0 }, "some"},
		{"compactions", func(n int) bool { return n >= 3 }, "at least 3"},
		{"lost", func(n int) bool { return n == 0 }, "0"},
		{"resurrected", func(n int) bool { return n == 0 }, "0"},
		{"duplicates", func(n int) bool { return n == 0 }, "0"},
	} {
		if n := figure(c.label); !c.ok(n) {
			t.Errorf("%s: got %d, want %s", c.label, n, c.explain)
		}
	}
	m := regexp.MustCompile(`restarts\s+(\d+) SIGKILL, (\d+) SIGTERM`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no restarts line in the report")
	}
	kills, _ := strconv.Atoi(m[1])
	terms, _ := strconv.Atoi(m[2])
	if kills < 1 || terms < 1 || kills+terms != 3 {
		t.Errorf("restarts: %d SIGKILL and %d SIGTERM, want 3 with both", kills, terms)
	}
	if os.Geteuid() == 0 && !regexp.MustCompile(`disk full\s+ok`).MatchString(out) {
		t.Error("the disk-full phase did not pass")
	}
}
