package containerd

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/imagetest"
)

// testTimeout bounds the waits of this package's own tests.
const testTimeout = time.Minute

// TestConformance runs the runtime suite on a real containerd, shared by
// the suite's runtimes as by the agents of one host.
func TestConformance(t *testing.T) {
	d := containerdtest.Start(t)
	runtimetest.Conformance(t, runtimetest.Harness{
		Image: func(t *testing.T) string {
			return "oci-archive:" + imagetest.WriteArchive(t, runtimetest.TestProgImage(t, "docket.test/testprog:conformance"))
		},
		New: func(t *testing.T) runtimetest.RuntimeUnderTest { return underTest(t, d) },
		ID:  containerdtest.UniqueID,
	})
}

// underTest returns a new Runtime on d for the suite.
func underTest(t *testing.T, d *containerdtest.Daemon) runtimetest.RuntimeUnderTest {
	r := newRuntime(t, d)
	return runtimetest.RuntimeUnderTest{
		Runtime: r,
		Reopen:  func(t *testing.T) runtimetest.RuntimeUnderTest { return underTest(t, d) },
		Close:   r.Close,
	}
}

// testConfig returns the configuration of a Runtime on d whose log driver
// is this test binary (see TestMain).
func testConfig(t testing.TB, d *containerdtest.Daemon) Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Address:      d.Address,
		Namespace:    d.Namespace,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LoggerBinary: exe,
		LoggerArgs:   []string{testLoggerArg},
		// Tests write their images' archives in temporary directories.
		ImageDirs: []string{os.TempDir()},
	}
}

// newRuntime returns a Runtime on d; the caller closes it.
func newRuntime(t testing.TB, d *containerdtest.Daemon) *Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r, err := New(ctx, testConfig(t, d))
	if err != nil {
		t.Fatalf("new runtime: %v", err)
	}
	return r
}

// testWriter sends a runtime's logs to the test's.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func TestNewConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"relative log driver", Config{LoggerBinary: "docket"}, "not an absolute path"},
		{"two log driver arguments", Config{LoggerBinary: "/bin/docket", LoggerArgs: []string{"internal", "logger"}}, "want exactly one"},
		{"empty log driver argument", Config{LoggerBinary: "/bin/docket", LoggerArgs: []string{""}}, "want exactly one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		d := containerdtest.Start(t)
		r, err := New(context.Background(), Config{Address: d.Address})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		exe, _ := os.Executable()
		if r.cfg.Namespace != DefaultNamespace || r.cfg.LoggerBinary != exe ||
			!slices.Equal(r.cfg.LoggerArgs, []string{"logger"}) || r.snapshotter != d.Snapshotter {
			t.Errorf("got config %+v and snapshotter %s, want the defaults and %s", r.cfg, r.snapshotter, d.Snapshotter)
		}
	})
}
