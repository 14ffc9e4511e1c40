package soak

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/polltest"
	"github.com/docketd/docket/scheduler/api"
)

const testSeed = 42

func TestBody(t *testing.T) {
	for _, size := range []int{100, 2048, 65537, maxMessage} {
		body := makeBody(testSeed, 7, size)
		if len(body) != size {
			t.Errorf("size %d: got a body of %d bytes", size, len(body))
		}
		if key, err := checkBody(testSeed, body); key != 7 || err != nil {
			t.Errorf("size %d: checkBody got key %d, %v; want 7, nil", size, key, err)
		}
		if key, ok := bodyKey(body); key != 7 || !ok {
			t.Errorf("size %d: bodyKey got %d, %v; want 7, true", size, key, ok)
		}
	}
	body := makeBody(testSeed, 7, 1000)
	for name, bad := range map[string]string{
		"a byte changed": body[:500] + "!" + body[501:],
		"truncated":      body[:999],
		"another seed":   makeBody(testSeed+1, 7, 1000),
		"no header":      strings.Repeat("x", 1000),
	} {
		if _, err := checkBody(testSeed, bad); err == nil {
			t.Errorf("%s: checkBody accepted it", name)
		}
	}
}

// ledgerTest drives a ledger as clients would, naming messages by test names.
type ledgerTest struct {
	l    *ledger
	f    *findings
	keys map[string]uint64 // test name → key
	body map[string]string
}

func newLedgerTest() *ledgerTest {
	f := newFindings()
	l := newLedger(testSeed, f)
	l.SetDeadLetter("work", "dlq")
	return &ledgerTest{l: l, f: f, keys: map[string]uint64{}, body: map[string]string{}}
}

func (lt *ledgerTest) send(name, queue string, acked bool) {
	key, body := lt.l.NewMessage(queue, 200)
	lt.keys[name], lt.body[name] = key, body
	if acked {
		lt.l.SendAcked(key, "id-"+name)
	}
}

func (lt *ledgerTest) msg(name, id string, count int) api.Message {
	return api.Message{ID: id, Body: lt.body[name], ReceiveCount: count}
}

func TestLedger(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(lt *ledgerTest)
		want map[Kind]int
	}{
		{"received and deleted", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
			lt.l.Deleted("id-a", DeleteAcked)
		}, nil},
		{"found by the final drain", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), true)
		}, nil},
		{"acknowledged and gone", func(lt *ledgerTest) {
			lt.send("a", "work", true)
		}, map[Kind]int{Lost: 1}},
		{"received, never deleted, gone", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
		}, map[Kind]int{Lost: 1}},
		{"delete refused as outdated, gone", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
			lt.l.Deleted("id-a", DeleteRefused)
		}, map[Kind]int{Lost: 1}},
		{"delete unanswered, gone", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
			lt.l.Deleted("id-a", DeleteUnknown)
		}, nil},
		{"send unanswered, gone or there", func(lt *ledgerTest) {
			lt.send("a", "work", false)
			lt.send("b", "work", false)
			lt.l.Received("work", lt.msg("b", "id-b", 1), lt.l.Tick(), true)
		}, nil},
		{"received after the delete was acknowledged", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
			lt.l.Deleted("id-a", DeleteAcked)
			lt.l.Received("work", lt.msg("a", "id-a", 2), lt.l.Tick(), true)
		}, map[Kind]int{Resurrected: 1}},
		{"a receive begun before the delete's answer", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			early := lt.l.Tick()
			lt.l.Received("work", lt.msg("a", "id-a", 2), lt.l.Tick(), false)
			lt.l.Deleted("id-a", DeleteAcked)
			lt.l.Received("work", lt.msg("a", "id-a", 1), early, false)
		}, nil},
		{"unanswered delete, back after a crash", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
			lt.l.Deleted("id-a", DeleteUnknown)
			lt.l.Received("work", lt.msg("a", "id-a", 2), lt.l.Tick(), true)
		}, nil},
		{"in flight at a crash, back with a larger count", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
			lt.l.Received("work", lt.msg("a", "id-a", 3), lt.l.Tick(), true)
		}, nil},
		{"the same receive count twice", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), true)
		}, map[Kind]int{Duplicate: 1}},
		{"a receive count that went back", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("work", lt.msg("a", "id-a", 3), lt.l.Tick(), false)
			lt.l.Received("work", lt.msg("a", "id-a", 2), lt.l.Tick(), true)
		}, map[Kind]int{Duplicate: 1}},
		{"a smaller count from a receive begun earlier", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			early := lt.l.Tick()
			lt.l.Received("work", lt.msg("a", "id-a", 3), lt.l.Tick(), false)
			lt.l.Received("work", lt.msg("a", "id-a", 2), early, true)
		}, nil},
		{"a changed body", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			m := lt.msg("a", "id-a", 1)
			m.Body = m.Body[:150] + "?" + m.Body[151:]
			lt.l.Received("work", m, lt.l.Tick(), false)
			lt.l.Deleted("id-a", DeleteAcked)
		}, map[Kind]int{WrongBody: 1}},
		{"an id that carries another message", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.send("b", "work", true)
			lt.l.Received("work", lt.msg("b", "id-a", 1), lt.l.Tick(), true)
			lt.l.Received("work", lt.msg("a", "id-b", 1), lt.l.Tick(), true)
		}, map[Kind]int{WrongBody: 2, Lost: 2}},
		{"dead-lettered under a new id", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			m := lt.msg("a", "id-dlq", 1)
			m.SourceQueue = "work"
			lt.l.Received("dlq", m, lt.l.Tick(), false)
			lt.l.Deleted("id-dlq", DeleteAcked)
		}, nil},
		{"in the dead-letter queue without its source", func(lt *ledgerTest) {
			lt.send("a", "work", true)
			lt.l.Received("dlq", lt.msg("a", "id-dlq", 1), lt.l.Tick(), true)
		}, map[Kind]int{WrongBody: 1}},
		{"in another queue", func(lt *ledgerTest) {
			lt.send("a", "hold", true)
			lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), true)
		}, map[Kind]int{WrongBody: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLedgerTest()
			tc.run(lt)
			lt.l.Settle()
			for _, k := range kinds {
				if got := lt.f.count(k); got != tc.want[k] {
					t.Errorf("%s: got %d, want %d; %v", k, got, tc.want[k], lt.f.samples[k])
				}
			}
		})
	}
}

// MustHold counts acknowledged sends not deleted, also when a receiver
// deleted a message before its sender read the acknowledgement.
func TestLedgerMustHold(t *testing.T) {
	lt := newLedgerTest()
	lt.send("a", "work", false)
	lt.l.Received("work", lt.msg("a", "id-a", 1), lt.l.Tick(), false)
	lt.l.Deleted("id-a", DeleteAcked)
	lt.l.SendAcked(lt.keys["a"], "id-a")
	lt.send("b", "work", true)
	lt.send("c", "hold", true)
	lt.send("d", "hold", false)
	if got := lt.l.MustHold(); got != 2 {
		t.Errorf("MustHold: got %d, want 2", got)
	}
	if got := lt.l.Outstanding("hold"); got != 1 {
		t.Errorf("Outstanding(hold): got %d, want 1", got)
	}
}

func TestParseCounter(t *testing.T) {
	text := `# HELP docket_queue_compactions_total Compactions.
# TYPE docket_queue_compactions_total counter
docket_queue_compactions_total 3
docket_queue_compactions_total_other 100
docket_queue_compactions_total{log="queue"} 2
`
	if n, ok, err := parseCounter(text, compactionsMetric); n != 5 || !ok || err != nil {
		t.Errorf("got %d, %v, %v; want 5, true, nil", n, ok, err)
	}
	if _, ok, _ := parseCounter("go_goroutines 4\n", compactionsMetric); ok {
		t.Error("found a counter that is not there")
	}
}

// script is an Exec whose children are shell scripts.
func script(src string) *Exec {
	return &Exec{Command: func() *exec.Cmd { return exec.Command("/bin/sh", "-c", src) }, StartTimeout: 5 * time.Second}
}

const listening = `echo 'time=now level=INFO msg="server listening" addr=127.0.0.1:9'; `

// loop keeps a script alive in small steps, so that a signal's trap runs
// soon.
const loop = `while :; do sleep 0.02; done`

func TestExec(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		src     string // ends with echo ready, then loops or exits
		exits   bool
		stop    bool   // Stop rather than Kill
		wantErr string // "" for none
	}{
		{"killed", listening + `echo ready; ` + loop, false, false, ""},
		{"stopped", listening + `trap 'exit 0' TERM; echo ready; ` + loop, false, true, ""},
		{"a data race", listening + `echo 'WARNING: DATA RACE'; echo 'Write at 0x1 by goroutine 7:'; echo '=================='; echo ready; ` + loop, false, false, "Write at 0x1"},
		{"a panic", listening + `echo 'panic: boom'; echo; echo 'goroutine 1 [running]:'; echo ready; exit 2`, true, false, "panic: boom"},
		{"exits by itself", listening + `echo ready; exit 3`, true, false, "exited by itself"},
		{"a failed exit on SIGTERM", listening + `trap 'exit 4' TERM; echo ready; ` + loop, false, true, "exit status 4"},
		{"a hang on SIGTERM", listening + `trap '' TERM; echo ready; ` + loop, false, true, "still running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := script(tc.src)
			t.Cleanup(e.Close)
			addr, err := e.Start(ctx)
			if err != nil || addr != "127.0.0.1:9" {
				t.Fatalf("Start: got %q, %v; want 127.0.0.1:9", addr, err)
			}
			waitReady(t, e, tc.exits)
			if tc.stop {
				timeout := 10 * time.Second
				if tc.name == "a hang on SIGTERM" {
					timeout = 300 * time.Millisecond
				}
				err = e.Stop(timeout)
			} else {
				err = e.Kill()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			}
			if _, err := e.Start(ctx); err != nil {
				t.Errorf("a new life after the end: %v", err)
			}
			e.Kill()
		})
	}
	e := script(listening + `echo 'msg="compacted log"'; echo 'msg="compacted log"'; echo ready; ` + loop)
	for range 2 {
		if _, err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitReady(t, e, false)
		e.Kill()
	}
	if got := e.CompactionsLogged(); got != 4 {
		t.Errorf("CompactionsLogged: got %d, want 4", got)
	}
	if _, err := script(`echo starting; exit 1`).Start(ctx); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("a child that never listens: got %v, want an error with its output", err)
	}
}

// waitReady waits until the running child has printed "ready" and, if it
// exits by itself, has exited.
func waitReady(t *testing.T, e *Exec, exits bool) {
	t.Helper()
	c, err := e.current()
	if err != nil {
		t.Fatal(err)
	}
	polltest.WaitFor(t, 5*time.Second, func() error {
		if !strings.HasSuffix(c.output(), "ready") {
			return fmt.Errorf("output so far: %q", c.output())
		}
		if exits {
			select {
			case <-c.done:
			default:
				return errors.New("still running")
			}
		}
		return nil
	})
}
