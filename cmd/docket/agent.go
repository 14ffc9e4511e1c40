package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/docketd/docket/agent"
	agentcontainerd "github.com/docketd/docket/agent/containerd"
	"github.com/docketd/docket/scheduler/api"
)

// agentOptions are the agent command's settings.
type agentOptions struct {
	server        string
	token         string
	dataDir       string
	containerd    string
	name          string
	class         string
	meta          stringMap
	reserveCPU    int64
	reserveMemory int64
	httpAddr      string
	logger        string
	pprof         bool
	tlsFiles      tlsFlags
	tls           *tls.Config
	taskCA        []byte
	imageDirs     []string
	allowRoot     bool
}

func (o *agentOptions) register(cmd *cobra.Command, withServer bool) {
	f := cmd.Flags()
	if withServer {
		f.StringVar(&o.server, "server", "", "the server's address (default $DOCKET_ADDR or "+api.DefaultAddr+")")
		f.StringVar(&o.dataDir, "data-dir", "docket-agent", "directory for the node ID, task logs and messages")
		f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:0", "address the agent serves its health and metrics on")
		f.BoolVar(&o.pprof, "pprof", false, "serve Go's profiler under /debug/pprof/ on the agent's address")
		o.tlsFiles.register(cmd, "the agent's certificate (docket tls cert create --agent); with it the agent speaks HTTPS to the server")
	}
	f.StringVar(&o.containerd, "containerd", agentcontainerd.DefaultAddress, "containerd's socket")
	f.StringVar(&o.logger, "logger", "", "the tasks' log driver executable (default docket-logger next to docket, else docket itself)")
	f.StringVar(&o.name, "name", "", "node name (default the hostname)")
	f.StringVar(&o.class, "class", "", "node class, for constraints")
	o.meta = stringMap{}
	f.Var(o.meta, "meta", "node metadata `key=value`, for constraints and spreads (repeatable)")
	f.Int64Var(&o.reserveCPU, "reserve-cpu", 0, "millicores kept back from allocations")
	f.Int64Var(&o.reserveMemory, "reserve-memory", 0, "MiB kept back from allocations")
	f.StringArrayVar(&o.imageDirs, "image-dir", nil, "a directory oci-archive: images may be read from, besides the data directory (repeatable)")
	f.BoolVar(&o.allowRoot, "allow-root-tasks", false, "let tasks ask to run as root (user = \"0:0\"); images whose own user is root run either way")
}

// absImageDirs are the directories the agent reads oci-archive: images from:
// its data directory and --image-dir, made absolute.
func (o agentOptions) absImageDirs() ([]string, error) {
	var dirs []string
	for _, d := range append([]string{o.dataDir}, o.imageDirs...) {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("--image-dir %s: %w", d, err)
		}
		dirs = append(dirs, abs)
	}
	return dirs, nil
}

func newAgentCommand(c *cli) *cobra.Command {
	var o agentOptions
	var logLevel string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node daemon: run the server's allocations as containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(c, logLevel)
			if err != nil {
				return err
			}
			if o.server == "" {
				o.server = c.getenv("DOCKET_ADDR")
			}
			if o.server == "" {
				o.server = api.DefaultAddr
			}
			o.token = c.token(cmd)
			ca, cert, key := c.clientTLSFiles(cmd)
			if o.tls, o.taskCA, err = o.tlsFiles.agentConfig(ca, cert, key); err != nil {
				return err
			}
			a, rt, err := newAgent(cmd.Context(), logger, o)
			if err != nil {
				return err
			}
			defer rt.Close()
			return a.Run(cmd.Context())
		},
	}
	o.register(cmd, true)
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// newAgent connects to containerd and wires an agent.
func newAgent(ctx context.Context, logger *slog.Logger, o agentOptions) (*agent.Agent, *agentcontainerd.Runtime, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pulls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "docket_agent_image_pulls_total",
		Help: "Image imports (oci-archive) and registry pulls, by kind and result.",
	}, []string{"kind", "result"})
	pullTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "docket_agent_image_pull_duration_seconds",
		Help:    "Time to import or pull and unpack an image.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"kind"})
	reg.MustRegister(pulls, pullTime)
	imageDirs, err := o.absImageDirs()
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rt, err := agentcontainerd.New(cctx, agentcontainerd.Config{
		ImageDirs:      imageDirs,
		AllowRootTasks: o.allowRoot,
		Address:        o.containerd,
		Logger:         logger,
		LoggerBinary:   o.logger,
		OnImageFetch: func(f agentcontainerd.ImageFetch) {
			result := "ok"
			if f.Err != nil {
				result = "error"
			} else {
				pullTime.WithLabelValues(f.Kind).Observe(f.Took.Seconds())
			}
			pulls.WithLabelValues(f.Kind, result).Inc()
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("containerd at %s: %w", o.containerd, err)
	}
	server := o.server
	if server != "" && !hasScheme(server) {
		server = "http://" + server
		if o.tls != nil {
			server = "https://" + o.server
		}
	}
	a, err := agent.New(agent.Config{
		Server: server, Token: o.token, DataDir: o.dataDir, Name: o.name, Class: o.class, Meta: o.meta,
		ReserveCPU: o.reserveCPU, ReserveMemory: o.reserveMemory, HTTPAddr: o.httpAddr,
		Runtime: rt, Inspector: rt, Logger: logger, Registry: reg, Pprof: o.pprof,
		TLS: o.tls, TaskCA: o.taskCA,
	})
	if err != nil {
		rt.Close()
		return nil, nil, err
	}
	return a, rt, nil
}

func hasScheme(addr string) bool { return strings.Contains(addr, "://") }

// newLoggerCommand is the hidden log driver containerd's shim runs for
// every task: it copies the task's output into rotated files.
func newLoggerCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:    "logger OPTIONS",
		Short:  "Log driver run by containerd's shim (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := agentcontainerd.RunLogger(args); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return exitError{code: 1}
			}
			return nil
		},
	}
}
