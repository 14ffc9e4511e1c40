package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/docketd/docket/internal/queue"
)

// Config configures a [Server]. Zero fields take the defaults noted.
type Config struct {
	// DataDir holds everything the server keeps on disk. Required.
	DataDir string
	// Logger receives the server's logs; default discards.
	Logger *slog.Logger
	// Registry receives the server's metrics; default a new registry, which
	// Server.Registry returns.
	Registry *prometheus.Registry
	// Version is reported by /v1/health.
	Version string
	// QueueSegmentSize is the size of the queue log's segment files;
	// default 64 MiB.
	QueueSegmentSize int64
}

// Server is the control plane.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	queues  *queue.Engine
	metrics *metrics
}

// New opens the server's data directory and wires its parts. Nothing runs
// until [Server.Run].
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("scheduler: Config.DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger.With("component", "server")}
	s.metrics = newMetrics(cfg.Registry)
	q, err := queue.Open(queue.Config{
		Dir:         filepath.Join(cfg.DataDir, "queues"),
		SegmentSize: cfg.QueueSegmentSize,
		Logger:      cfg.Logger.With("component", "queue"),
		OnCommit:    s.metrics.observeCommit,
	})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.queues = q
	cfg.Registry.MustRegister(newQueueCollector(q))
	return s, nil
}

// Registry returns the registry holding the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// Queues returns the server's queue engine, for in-process consumers.
func (s *Server) Queues() *queue.Engine { return s.queues }

// Run drives the server's background loops until ctx ends, then closes the
// server's stores.
func (s *Server) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.queues.Run(ctx) })
	err := g.Wait()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the server's stores; pending commits finish first.
func (s *Server) Close() error {
	return s.queues.Close()
}

// now is the server's clock.
func (s *Server) now() time.Time { return time.Now() }
