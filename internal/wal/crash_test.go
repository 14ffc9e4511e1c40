package wal

import (
	"bufio"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Environment of the crash helper process.
const (
	crashEnvDir        = "WAL_CRASH_DIR"
	crashEnvRound      = "WAL_CRASH_ROUND"
	crashEnvNoPrealloc = "WAL_CRASH_NO_PREALLOC"
	crashSegmentSize   = 128 << 10
)

// TestCrash kills a process appending to a log with SIGKILL at random
// moments, 20 times in a row on the same log, and checks after each that
// every record the process saw acknowledged replays intact, with each
// appender's records in its own order.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 40 processes")
	}
	forEachMode(t, func(t *testing.T, opts Options) {
		opts.SegmentSize = crashSegmentSize
		r := rand.New(rand.NewPCG(uint64(len(opts.Dir)), 7))
		acked := map[Pos]ackedRecord{}
		var logs strings.Builder
		opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		for round := range 20 {
			kill := 1 + r.IntN(400)
			for _, a := range runCrashHelper(t, opts, round, kill) {
				acked[a.pos] = a
			}
			checkAfterCrash(t, opts, acked, round)
		}
		ids, _ := segmentIDs(t, opts)
		t.Logf("%d acknowledged records in %d segments; torn tails discarded on reopen: %d",
			len(acked), len(ids), strings.Count(logs.String(), "discarding torn tail"))
	})
}

type ackedRecord struct {
	pos  Pos
	key  uint64
	size int
}

// runCrashHelper starts the helper on opts.Dir, kills it once it has
// acknowledged kill records, and returns every acknowledgement it printed.
func runCrashHelper(t testing.TB, opts Options, round, kill int) []ackedRecord {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(),
		crashEnvDir+"="+opts.Dir,
		crashEnvRound+"="+strconv.Itoa(round),
		crashEnvNoPrealloc+"="+strconv.FormatBool(opts.NoPreallocate))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	var acks []ackedRecord
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var a ackedRecord
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d %d", &a.pos.Segment, &a.pos.Offset, &a.key, &a.size); err != nil {
			continue // the test framework's own output
		}
		acks = append(acks, a)
		if len(acks) == kill && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		// Keep reading: lines already written were acknowledged too.
	}
	err = cmd.Wait()
	killed = true
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: helper ended with %v after %d acks, want SIGKILL; stderr:\n%s", round, err, len(acks), stderr.String())
	}
	return acks
}

// segmentIDs opens the log to list its segments.
func segmentIDs(t testing.TB, opts Options) ([]uint32, uint32) {
	t.Helper()
	l := mustOpen(t, opts)
	defer l.Close()
	return l.Segments()
}

// checkAfterCrash reopens the log and checks the acknowledged records.
func checkAfterCrash(t testing.TB, opts Options, acked map[Pos]ackedRecord, round int) {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("round %d: Open: %v", round, err)
	}
	defer l.Close()
	seen := map[Pos]bool{}
	last := map[uint64]uint64{} // appender (round, goroutine) → last sequence number
	err = l.Replay(func(pos Pos, rec []byte) error {
		if len(rec) < 8 || string(rec) != string(payload(keyOf(rec), len(rec))) {
			return fmt.Errorf("record at %v is not one that was appended", pos)
		}
		k := keyOf(rec)
		who, seq := k>>32, k&0xffffffff
		if prev, ok := last[who]; ok && seq <= prev {
			return fmt.Errorf("record at %v: appender %x sequence %d after %d", pos, who, seq, prev)
		}
		last[who] = seq
		if a, ok := acked[pos]; ok && (a.key != k || a.size != len(rec)) {
			return fmt.Errorf("record at %v: key %x size %d, acknowledged key %x size %d", pos, k, len(rec), a.key, a.size)
		}
		seen[pos] = true
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: Replay: %v", round, err)
	}
	for p := range acked {
		if !seen[p] {
			t.Fatalf("round %d: acknowledged record at %v lost (%d acknowledged, %d replayed)", round, p, len(acked), len(seen))
		}
	}
}

// TestCrashHelper is the process TestCrash kills. It appends from several
// goroutines until killed and prints every acknowledged record.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	round, _ := strconv.Atoi(os.Getenv(crashEnvRound))
	noPrealloc, _ := strconv.ParseBool(os.Getenv(crashEnvNoPrealloc))
	l, err := Open(Options{Dir: dir, SegmentSize: crashSegmentSize, NoPreallocate: noPrealloc})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := l.Replay(func(Pos, []byte) error { return nil }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex // keeps lines whole
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(round), uint64(g)))
			for seq := uint64(0); ; {
				recs := make([][]byte, 1+r.IntN(3))
				keys := make([]uint64, len(recs))
				for i := range recs {
					keys[i] = uint64(round)<<40 | uint64(g)<<32 | seq
					recs[i] = payload(keys[i], 8+r.IntN(3000))
					seq++
				}
				pos, err := l.Append(recs...)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				var b strings.Builder
				for i, p := range pos {
					fmt.Fprintf(&b, "ack %d %d %d %d\n", p.Segment, p.Offset, keys[i], len(recs[i]))
				}
				mu.Lock()
				os.Stdout.WriteString(b.String())
				mu.Unlock()
				if g == 0 && seq%97 < 3 {
					if err := l.Roll(); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(2)
					}
				}
			}
		})
	}
	wg.Wait()
}
