package scheduler

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/scheduler/api"
)

// crashServerEnv, when set to a data directory, turns the test binary into a
// server process for TestCrashLosesNothing: it prints its address and
// serves until it is killed.
const crashServerEnv = "DOCKET_TEST_CRASH_SERVER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashServerEnv); dir != "" {
		os.Exit(crashServer(dir))
	}
	os.Exit(m.Run())
}

func crashServer(dir string) int {
	s, err := New(Config{DataDir: dir, QueueSegmentSize: 256 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go s.Run(context.Background())
	fmt.Printf("listening %s\n", ln.Addr())
	http.Serve(ln, s.Handler())
	return 0
}

// crashLedger records what clients were told, to check against what the
// server still has after each SIGKILL.
type crashLedger struct {
	mu          sync.Mutex
	acked       map[string]string // id → body, for every acknowledged send
	deleteTried map[string]bool   // ids whose delete was sent, acknowledged or not
	deleted     map[string]bool   // ids whose delete was acknowledged
	maxCount    map[string]int    // the highest receive count a client was given
	violations  []string
}

func (l *crashLedger) violate(format string, args ...any) {
	l.violations = append(l.violations, fmt.Sprintf(format, args...))
}

// received checks one received message against everything known so far.
func (l *crashLedger) received(m api.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deleted[m.ID] {
		l.violate("message %s received after its delete was acknowledged", m.ID)
	}
	if body, ok := l.acked[m.ID]; ok && body != m.Body {
		l.violate("message %s body %q, want %q", m.ID, m.Body, body)
	}
	if prev := l.maxCount[m.ID]; m.ReceiveCount <= prev {
		l.violate("message %s receive count went from %d to %d", m.ID, prev, m.ReceiveCount)
	}
	l.maxCount[m.ID] = max(l.maxCount[m.ID], m.ReceiveCount)
}

// TestCrashLosesNothing runs the server as its own process, drives it with
// concurrent senders and receivers, kills it with SIGKILL at a random moment
// twenty times, and checks after every restart that every acknowledged send
// is still there, every acknowledged delete stays deleted, and receive
// counts never go backwards.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	l := &crashLedger{acked: map[string]string{}, deleteTried: map[string]bool{}, deleted: map[string]bool{}, maxCount: map[string]int{}}
	const kills = 20
	seq := 0
	for round := 0; round <= kills; round++ {
		proc, cl := startCrashServer(t, dir)
		ctx := context.Background()
		if round == 0 {
			vt := specsDuration(200 * time.Millisecond)
			if _, err := cl.CreateQueue(ctx, api.QueueSettings{Name: "crash", VisibilityTimeout: &vt}); err != nil {
				t.Fatal(err)
			}
		}
		if round == kills {
			drainAndCheck(t, cl, l)
			proc.Process.Kill()
			proc.Wait()
			break
		}
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for s := 0; s < 4; s++ {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				for i := 0; runCtx.Err() == nil; i++ {
					msgs := make([]api.SendMessage, 1+i%10)
					for j := range msgs {
						msgs[j] = api.SendMessage{Body: fmt.Sprintf("r%d-s%d-%d-%d", round, s, i, j)}
					}
					res, err := cl.Send(runCtx, "crash", msgs...)
					if err != nil {
						return // the server died: this send may or may not be stored
					}
					l.mu.Lock()
					for j, r := range res {
						if r.Error != nil {
							l.violate("send entry failed: %v", r.Error)
							continue
						}
						l.acked[r.ID] = msgs[j].Body
					}
					l.mu.Unlock()
				}
			}(s)
		}
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(r)))
				for runCtx.Err() == nil {
					wait := specsDuration(100 * time.Millisecond)
					msgs, err := cl.Receive(runCtx, "crash", api.ReceiveRequest{Max: 10, Wait: &wait})
					if err != nil {
						return
					}
					var receipts []string
					var ids []string
					for _, m := range msgs {
						l.received(m)
						// Delete about half; let the rest time out and come back.
						if rng.IntN(2) == 0 {
							receipts = append(receipts, m.Receipt)
							ids = append(ids, m.ID)
						}
					}
					if len(receipts) == 0 {
						continue
					}
					l.mu.Lock()
					for _, id := range ids {
						l.deleteTried[id] = true
					}
					l.mu.Unlock()
					res, err := cl.Delete(runCtx, "crash", receipts...)
					if err != nil {
						return
					}
					l.mu.Lock()
					for i, r := range res {
						if r.Error == nil {
							l.deleted[ids[i]] = true
						}
					}
					l.mu.Unlock()
				}
			}()
		}
		seq++
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		proc.Process.Signal(syscall.SIGKILL)
		proc.Wait()
		stop()
		wg.Wait()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acked) == 0 || len(l.deleted) == 0 {
		t.Fatalf("the clients got %d sends and %d deletes acknowledged; the test exercised nothing", len(l.acked), len(l.deleted))
	}
	for _, v := range l.violations[:min(len(l.violations), 20)] {
		t.Error(v)
	}
	t.Logf("%d kills; %d sends and %d deletes acknowledged", kills, len(l.acked), len(l.deleted))
}

// drainAndCheck receives everything left and checks it against the ledger:
// every acknowledged send is either left or had a delete sent for it.
func drainAndCheck(t *testing.T, cl *api.Client, l *crashLedger) {
	t.Helper()
	ctx := context.Background()
	left := map[string]bool{}
	for {
		wait := specsDuration(time.Second) // longer than the visibility timeout
		msgs, err := cl.Receive(ctx, "crash", api.ReceiveRequest{Max: 10, Wait: &wait})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		receipts := make([]string, len(msgs))
		for i, m := range msgs {
			l.received(m)
			left[m.ID] = true
			receipts[i] = m.Receipt
		}
		if _, err := cl.Delete(ctx, "crash", receipts...); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := 0
	for id := range l.acked {
		if !left[id] && !l.deleteTried[id] {
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged message %s (%q) was lost", id, l.acked[id])
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged messages lost", lost)
	}
}

func startCrashServer(t *testing.T, dir string) (*exec.Cmd, *api.Client) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashServerEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("crash server did not start: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("crash server said %q", line)
	}
	cl := api.NewClient(addr)
	if _, err := cl.Health(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("crash server health: %v", err)
	}
	return cmd, cl
}
