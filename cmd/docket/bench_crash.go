package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/docketd/docket/internal/soak"
	"github.com/docketd/docket/specs"
)

// crashTmpfsSize is the size of the file system --disk-full puts the data
// directory on: small enough to fill in a moment, large enough for the
// soak's data.
const crashTmpfsSize = 64 << 20

func newBenchCrashCommand(c *cli) *cobra.Command {
	var (
		cfg      soak.Config
		segment  string
		rate     string
		diskFull bool
		keep     bool
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "crash",
		Short: "Restart a server of this binary again and again under load and check that nothing acknowledged is lost",
		Long: "Bench crash runs `docket server` of this binary as a child on a temporary\n" +
			"data directory with a small queue segment size, drives it with concurrent\n" +
			"senders (batches, bodies of 100 B to 256 KiB), receivers that delete most\n" +
			"messages and leave some to time out or go to a dead-letter queue, and ends\n" +
			"it --kills times with SIGKILL or SIGTERM spread over --duration, restarting\n" +
			"it on the same data. A ledger of every acknowledged send, receive and delete\n" +
			"is checked after each restart and by a final drain. With --disk-full (root\n" +
			"only) the data directory is on a small tmpfs that is filled once mid-run.\n\n" +
			"It exits 1 if an acknowledged message was lost, resurrected, handed out\n" +
			"twice or changed, or the server panicked, raced, stopped answering or hung\n" +
			"on SIGTERM.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := specs.ParseSize(segment); err != nil {
				return fmt.Errorf("--segment-size: %w", err)
			}
			r, err := specs.ParseSize(rate)
			if err != nil {
				return fmt.Errorf("--rate: %w", err)
			}
			cfg.SendRate = int64(r)
			dir, err := os.MkdirTemp("", "docket-crash-")
			if err != nil {
				return err
			}
			if !quiet {
				cfg.Logf = func(format string, args ...any) {
					fmt.Fprintf(c.stderr, format+"\n", args...)
				}
			}
			report, err := benchCrash(cmd.Context(), dir, segment, diskFull, cfg)
			if report != nil {
				if oerr := output(cmd, c.stdout, report, report.Write); oerr != nil && err == nil {
					err = oerr
				}
			}
			if err != nil || report.Failed() || keep {
				fmt.Fprintf(c.stderr, "the servers' output is in %s\n", filepath.Join(dir, "server.log"))
			} else {
				os.RemoveAll(dir)
			}
			if err != nil {
				return err
			}
			if report.Failed() {
				return exitError{1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Restarts, "kills", 10, "how many times the server is ended (SIGKILL or SIGTERM, both used) and started again")
	f.DurationVarP(&cfg.Duration, "duration", "d", 40*time.Second, "how long the clients run, over all the server's lives")
	f.StringVar(&segment, "segment-size", "1MiB", "the server's --queue-segment-size: small, so that the log compacts often")
	f.StringVar(&rate, "rate", "2MiB", "bytes per second the senders send at most, together")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed for the run's choices and bodies (default from the clock)")
	f.IntVar(&cfg.Senders, "senders", 4, "concurrent senders")
	f.IntVar(&cfg.MinCompactions, "min-compactions", 3, "fail unless the servers compacted their logs at least this often")
	f.DurationVar(&cfg.StopTimeout, "stop-timeout", 15*time.Second, "how long the server may take to exit after SIGTERM")
	f.BoolVar(&diskFull, "disk-full", false, "put the data directory on a small tmpfs and fill it once mid-run (needs root)")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory with the servers' output")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines on stderr")
	return cmd
}

// benchCrash runs the soak against servers of this binary on a data
// directory in dir, on a tmpfs with diskFull. It returns once the last
// server has exited and the tmpfs is unmounted; the servers' output stays
// in dir/server.log.
func benchCrash(ctx context.Context, dir, segment string, diskFull bool, cfg soak.Config) (_ *soak.Report, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	if diskFull {
		fs := filepath.Join(dir, "fs")
		if err := os.Mkdir(fs, 0o700); err != nil {
			return nil, err
		}
		unmount, err := soak.MountTmpfs(fs, crashTmpfsSize)
		if err != nil {
			return nil, fmt.Errorf("--disk-full needs root: %w", err)
		}
		defer func() {
			if uerr := unmount(); uerr != nil && err == nil {
				err = uerr
			}
		}()
		dataDir, cfg.DiskFullDir = filepath.Join(fs, "data"), fs
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	ctl := &soak.Exec{
		Command: func() *exec.Cmd {
			return exec.Command(exe, "server", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0",
				"--queue-segment-size", segment, "--log-level", "info",
				"--endpoint-allow", "127.0.0.0/8") // the soak's HTTP endpoint
		},
		Output: logFile,
	}
	defer ctl.Close() // before the unmount
	return soak.Run(ctx, ctl, cfg)
}
