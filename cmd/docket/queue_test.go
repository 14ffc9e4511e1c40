package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/docketd/docket/scheduler/api"
)

// startServer runs `docket server` in-process on a loopback port and
// returns the environment that points the CLI at it.
func startServer(t *testing.T) []string {
	t.Helper()
	return startServerWith(t, serverOptions{})
}

// startServerWith is startServer with the options in o (its data directory
// and address are the test's).
func startServerWith(t *testing.T, o serverOptions) []string {
	t.Helper()
	o.dataDir, o.httpAddr = t.TempDir(), "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	o.ready = ready
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, slog.New(slog.DiscardHandler), o)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return []string{"DOCKET_ADDR=" + addr, "DOCKET_TOKEN=" + bootstrap(t, addr)}
}

// envValue is key's value in env.
func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestQueueCommands(t *testing.T) {
	env := startServer(t)
	mustRun := cliRunner(t, env)
	mustRun(0, "queue", "create", "dead")
	if out := mustRun(0, "queue", "create", "work", "--max-receives", "1", "--dead-letter", "dead", "--visibility-timeout", "1h"); !strings.Contains(out, "queue work created") {
		t.Fatalf("create said %q", out)
	}
	if out := mustRun(1, "queue", "create", "work", "--visibility-timeout", "5s"); !strings.Contains(out, "queue_exists") {
		t.Fatalf("conflicting create said %q", out)
	}
	mustRun(0, "queue", "send", "work", "hello", "--attr", "kind=greeting")
	var sent []api.SendResult
	json.Unmarshal([]byte(mustRun(0, "queue", "send", "work", "--lines", "-o", "json", "--file", writeTemp(t, "a\nb\n\nc\n"))), &sent)
	if len(sent) != 3 {
		t.Fatalf("--lines sent %d messages, want 3 (blank lines skipped)", len(sent))
	}
	var got []api.Message
	json.Unmarshal([]byte(mustRun(0, "queue", "receive", "work", "-n", "10", "-o", "json")), &got)
	if len(got) != 4 || got[0].Body != "hello" || got[0].Attributes["kind"] != "greeting" {
		t.Fatalf("received %+v, want hello (kind=greeting), a, b, c", got)
	}
	mustRun(0, "queue", "delete", "work", "--receipt", got[0].Receipt)
	if out := mustRun(1, "queue", "delete", "work", "--receipt", "garbage"); !strings.Contains(out, "invalid_receipt") {
		t.Fatalf("bad receipt said %q", out)
	}
	var q api.Queue
	json.Unmarshal([]byte(mustRun(0, "queue", "status", "work", "-o", "json")), &q)
	if q.Stats.InFlight != 3 || q.Stats.Deleted != 1 || q.DeadLetter != "dead" {
		t.Fatalf("status %+v", q)
	}
	if out := mustRun(0, "queue", "list"); !strings.Contains(out, "work") || !strings.Contains(out, "dead") {
		t.Fatalf("list said %q", out)
	}
	if out := mustRun(0, "queue", "purge", "work"); !strings.Contains(out, "purged 3") {
		t.Fatalf("purge said %q", out)
	}
	if out := mustRun(1, "queue", "delete", "dead"); !strings.Contains(out, "queue_in_use") {
		t.Fatalf("deleting a dead-letter target said %q", out)
	}
	if out := mustRun(0, "queue", "redrive", "dead"); !strings.Contains(out, "moved 0") {
		t.Fatalf("redrive said %q", out)
	}
	mustRun(0, "queue", "delete", "work")
	if out := mustRun(1, "queue", "status", "work"); !strings.Contains(out, "queue_not_found") {
		t.Fatalf("status of a deleted queue said %q", out)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f := t.TempDir() + "/body"
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// FIFO queues through the CLI: created with --fifo, sent to with --group
// and --dedup-id (a duplicate says so), received in group order.
func TestQueueFIFOCommands(t *testing.T) {
	env := startServer(t)
	run := cliRunner(t, env)
	if out := run(1, "queue", "create", "orders", "--fifo"); !strings.Contains(out, ".fifo") {
		t.Errorf("--fifo without the name: %q", out)
	}
	run(0, "queue", "create", "orders.fifo", "--fifo", "--content-based-dedup")
	first := run(0, "queue", "send", "orders.fifo", "one", "--group", "a")
	run(0, "queue", "send", "orders.fifo", "two", "--group", "a")
	if out := run(0, "queue", "send", "orders.fifo", "one", "--group", "a"); !strings.Contains(out, "duplicate") || !strings.Contains(out, strings.TrimSpace(first)) {
		t.Errorf("a duplicate send printed %q (first %q)", out, first)
	}
	if out := run(1, "queue", "send", "orders.fifo", "three"); !strings.Contains(out, "missing_message_group_id") {
		t.Errorf("a send without --group: %q", out)
	}
	out := run(0, "queue", "receive", "orders.fifo", "--max", "10")
	if i, j := strings.Index(out, "one"), strings.Index(out, "two"); i < 0 || j < i || !regexp.MustCompile(`group:\s+a\n`).MatchString(out) {
		t.Errorf("receive printed:\n%s", out)
	}
	if out := run(0, "queue", "status", "orders.fifo", "-o", "json"); !strings.Contains(out, `"fifo": true`) || !strings.Contains(out, `"content_based_deduplication": true`) {
		t.Errorf("queue status -o json:\n%s", out)
	}
}
