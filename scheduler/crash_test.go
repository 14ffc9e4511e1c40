package scheduler_test

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/pubsub/webhook"
	"github.com/docketd/docket/internal/soak"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/httpapi"
	"github.com/docketd/docket/specs"
)

// The crash test's knobs. The defaults are the bounded run `go test` does;
// a huge -crash.segment with -crash.min-compactions=0 is the control run
// in which no compaction happens.
var (
	crashRestarts       = flag.Int("crash.restarts", 10, "TestCrashLosesNothing: server restarts")
	crashDuration       = flag.Duration("crash.duration", 40*time.Second, "TestCrashLosesNothing: time the clients run, over all lives")
	crashSegment        = flag.String("crash.segment", "1MiB", "TestCrashLosesNothing: the queue log's segment size")
	crashSeed           = flag.Uint64("crash.seed", 0, "TestCrashLosesNothing: seed (0: from the clock)")
	crashMinCompactions = flag.Int("crash.min-compactions", 3, "TestCrashLosesNothing: compactions the run must see")
	crashDiskFull       = flag.Bool("crash.disk-full", true, "TestCrashLosesNothing: fill the disk once (needs root; always on in CI)")
	crashLog            = flag.String("crash.log", "", "TestCrashLosesNothing: write the servers' output to this `file`")
)

// crashServerEnv, when set to a data directory, turns the test binary into
// a server process for TestCrashLosesNothing; crashSegmentEnv is its queue
// log's segment size.
const (
	crashServerEnv  = "DOCKET_TEST_CRASH_SERVER"
	crashSegmentEnv = "DOCKET_TEST_CRASH_SEGMENT"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashServerEnv); dir != "" {
		os.Exit(crashServer(dir, os.Getenv(crashSegmentEnv)))
	}
	os.Exit(m.Run())
}

// crashServer serves the API on a free port like `docket server` does: it
// logs to stderr (the soak reads "server listening" and "compacted log"
// from there) and shuts down cleanly on SIGTERM, exiting 0.
func crashServer(dir, segment string) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	size, err := specs.ParseSize(segment)
	if err != nil {
		logger.Error("segment size", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	s, err := scheduler.New(scheduler.Config{DataDir: dir, QueueSegmentSize: int64(size), Logger: logger,
		Endpoints: webhook.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}) // the soak's HTTP endpoint
	if err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		logger.Error("listen", "err", err)
		return 1
	}
	web := httpapi.New(s)
	hs, ln := web.HTTPServer(web.Handler(), ln, httpapi.HTTPConfig{})
	logger.Info("server listening", "addr", ln.Addr().String(), "pid", os.Getpid())
	if err := web.Serve(ctx, hs, ln); err != nil {
		logger.Error("server", "err", err)
		return 1
	}
	return 0
}

// TestCrashLosesNothing runs the server as its own process (under the race
// detector when the test is) and drives it with the crash soak: concurrent
// senders of mixed sizes up to the 256 KiB limit, receivers that delete
// most messages and let others time out or go to a dead-letter queue, and
// a small segment size so that the log compacts often. It restarts the
// server ten times with SIGKILL and SIGTERM, fills its disk once (on a
// tmpfs; root only, required in CI), and checks with a ledger that nothing
// acknowledged was lost, resurrected, duplicated or changed, and that the
// server never panicked, raced, or hung on SIGTERM.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	diskFullDir := ""
	fsDir := filepath.Join(root, "fs")
	if err := os.Mkdir(fsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if !*crashDiskFull && os.Getenv("CI") == "" {
		t.Log("disk-full phase skipped: -crash.disk-full=false")
	} else if unmount, err := soak.MountTmpfs(fsDir, 64<<20); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the disk-full phase needs a tmpfs, and CI runs it: %v", err)
		}
		t.Logf("disk-full phase skipped: %v", err)
	} else {
		t.Cleanup(func() {
			if err := unmount(); err != nil {
				t.Errorf("unmount %s: %v", fsDir, err)
			}
		})
		dataDir, diskFullDir = filepath.Join(fsDir, "data"), fsDir
	}

	ctl := &soak.Exec{Command: func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashServerEnv+"="+dataDir, crashSegmentEnv+"="+*crashSegment)
		return cmd
	}}
	if *crashLog != "" {
		f, err := os.Create(*crashLog)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		ctl.Output = f
	}
	t.Cleanup(ctl.Close) // before the unmount
	r, err := soak.Run(t.Context(), ctl, soak.Config{
		Restarts:       *crashRestarts,
		Duration:       *crashDuration,
		Seed:           *crashSeed,
		SendRate:       2 << 20,
		DiskFullDir:    diskFullDir,
		MinCompactions: *crashMinCompactions,
		Logf:           t.Logf,
	})
	var b strings.Builder
	r.Write(&b)
	t.Logf("\n%s", b.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed() {
		t.Errorf("lost %d, missing after restarts %d, resurrected %d, duplicates %d, wrong bodies %d, child failures %d, hung calls %d, disk full %s (rerun with -crash.seed=%d)",
			r.Findings[soak.Lost], r.Findings[soak.MissingAtRestart], r.Findings[soak.Resurrected], r.Findings[soak.Duplicate],
			r.Findings[soak.WrongBody], r.Findings[soak.ChildFailure], r.Findings[soak.Hung], r.DiskFull, r.Seed)
	}
}
