package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/docketd/docket/internal/pubsub/webhook"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/internal/store"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/placement"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
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
	// HeartbeatTTL is how often nodes must heartbeat; default 10s. A node
	// silent for HeartbeatTTL+HeartbeatGrace (default 5s) is marked down.
	HeartbeatTTL   time.Duration
	HeartbeatGrace time.Duration
	// Workers is how many evaluations run at once; default 2.
	Workers int
	// GCAge is how long ended allocations and evaluations are kept;
	// default 1h.
	GCAge time.Duration
	// SQSKeys are the access keys the SQS-compatible endpoint verifies
	// SigV4 signatures with. Without keys it refuses every request unless
	// SQSAllowUnsigned, which only an explicit operator flag sets.
	SQSKeys          aws.KeyStore
	SQSAllowUnsigned bool
	// SQSRegion and SQSAccountID appear in queue ARNs; defaults us-east-1
	// and 000000000000.
	SQSRegion    string
	SQSAccountID string
	// Endpoints governs delivery to HTTP(S) subscriptions: which
	// addresses the server may connect to, the CAs HTTPS endpoints are
	// verified with, the time an attempt may take.
	Endpoints webhook.Config
	// PublicURL is the server's base URL as clients reach it, for the
	// links in SNS notifications (SigningCertURL, UnsubscribeURL); default
	// http://127.0.0.1:3625.
	PublicURL string
	// MaxJobParses is how many job files are parsed and planned at once;
	// default 2×GOMAXPROCS. Parsing is CPU work a client can make costly,
	// so a job file that finds no free slot within a second is refused
	// with 503 server_busy.
	MaxJobParses int
	// JobFileLimits bound what parsing one job file may cost; zero fields
	// take the defaults of specs.Limits.
	JobFileLimits specs.Limits
	// EvalObserver, if set, learns how long each evaluation took from its
	// start to its plan being committed (benchmarks set it).
	EvalObserver func(time.Duration)
}

// Server is the control plane.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	queues  *queue.Engine
	db      *store.DB
	state   *state.State
	broker  *broker
	hb      *heartbeats
	metrics *metrics

	// stopping is closed by StopWaits (stopCtx's end, stopWaits): long
	// polls, blocking queries and event streams end early, as if their
	// wait ran out.
	stopping     <-chan struct{}
	stopCtx      context.Context
	stopWaits    context.CancelFunc
	stopWaitsOne sync.Once

	// policies caches subscriptions' compiled filter policies.
	policies policies
	// signer signs the notifications delivered in SNS's envelope.
	signer *notificationSigner
	// endpoints delivers to HTTP(S) subscriptions.
	endpoints *endpoints
	// fns meets functions' invocations with their environments.
	fns *fnRouter

	// drains holds a timer per node whose drain has a deadline; drainMu
	// serializes bringing one in step with the state (syncDrainDeadline),
	// and is taken under no other lock, before the state's and drains'.
	drainMu sync.Mutex
	drains  timerSet

	// jobParses holds a token for every job file being parsed or planned
	// (Config.MaxJobParses).
	jobParses chan struct{}

	// planHook, if set (tests only), runs before (true) and after (false)
	// each plan commit of an evaluation.
	planHook func(before bool)

	secret  []byte    // signs queue workers' tokens
	awsKeys *keyStore // the AWS endpoints' access keys
	auth    authCache // resolved ACL tokens

	driversMu sync.Mutex // guards drivers
	drivers   map[string]*driver
	startSeen sync.Map // dispatch allocations whose start was timed

	usageMu sync.Mutex // guards usage
	// usage is each node's measured use from its latest heartbeat: kept in
	// memory only, like the heartbeats themselves.
	usage map[string]*api.NodeUsage

	snapMu   sync.Mutex          // guards the cached placement snapshots
	snapBase *placement.Snapshot // the nodes, without usage
	snap     *placement.Snapshot // snapBase with the usage of snapKey's state
	snapKey  [2]uint64           // nodes and allocations table indexes of snap
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
	if cfg.HeartbeatTTL <= 0 {
		cfg.HeartbeatTTL = 10 * time.Second
	}
	if cfg.HeartbeatGrace <= 0 {
		cfg.HeartbeatGrace = 5 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.GCAge <= 0 {
		cfg.GCAge = time.Hour
	}
	if cfg.MaxJobParses <= 0 {
		cfg.MaxJobParses = 2 * runtime.GOMAXPROCS(0)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger.With("component", "server"), broker: newBroker(), drivers: map[string]*driver{}, usage: map[string]*api.NodeUsage{}, fns: newFnRouter(),
		endpoints: newEndpoints(cfg.Endpoints)}
	s.stopCtx, s.stopWaits = context.WithCancel(context.Background())
	s.stopping = s.stopCtx.Done()
	s.jobParses = make(chan struct{}, cfg.MaxJobParses)
	secret, err := loadSecret(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.secret = secret
	if s.signer, err = loadSigner(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.awsKeys = &keyStore{s: s, static: cfg.SQSKeys}
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
	db, err := store.Open(store.Options{
		Path:     filepath.Join(cfg.DataDir, "state.db"),
		Logger:   cfg.Logger.With("component", "store"),
		OnCommit: s.metrics.observeStateCommit,
	})
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.db = db
	st, err := state.Open(db, nil)
	if err != nil {
		db.Close()
		q.Close()
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.state = st
	s.hb = newHeartbeats(cfg.HeartbeatTTL, cfg.HeartbeatGrace, s.nodeExpired)
	cfg.Registry.MustRegister(newQueueCollector(q), newStateCollector(st, s.broker))
	return s, nil
}

// Registry returns the registry holding the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// Queues returns the server's queue engine, for in-process consumers.
func (s *Server) Queues() *queue.Engine { return s.queues }

// State returns the server's state, for in-process readers.
func (s *Server) State() *state.State { return s.state }

// BlockedEvals is how many evaluations wait for capacity.
func (s *Server) BlockedEvals() int { return s.broker.blockedCount() }

// Config returns the server's configuration, with the defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// AWSKeys are the access keys the AWS-compatible endpoints verify
// signatures with, each with what it may do: the operator's
// (Config.SQSKeys), the AWS keys of ACL tokens, and the keys of queue
// workers' allocations (awskeys.go).
func (s *Server) AWSKeys() aws.KeyStore { return s.awsKeys }

// Health reports whether the server takes writes: "ok", or "degraded"
// with the reason while the queue log or the state store refuses them. It
// turns back to ok by itself once a write succeeds again.
func (s *Server) Health(ctx context.Context) api.Health {
	if err := s.storageErr(); err != nil {
		return api.Health{Status: "degraded", Reason: err.Error(), Version: s.cfg.Version}
	}
	return api.Health{Status: "ok", Version: s.cfg.Version}
}

// storageErr is why writes fail now, or nil.
func (s *Server) storageErr() error {
	if err := s.queues.Err(); err != nil {
		return err
	}
	return s.state.Err()
}

// Run drives the server's background loops until ctx ends, then closes the
// server's stores: the queue engine's maintenance, and the leader's loops
// (lead).
func (s *Server) Run(ctx context.Context) error {
	defer context.AfterFunc(ctx, s.StopWaits)()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.queues.Run(ctx) })
	g.Go(func() error { return s.lead(ctx) })
	err := g.Wait()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// lead runs the leader's loops — the broker's workers, the queue-driven
// jobs' drivers, GC, and the heartbeat and drain-deadline timers that
// recover arms — under one errgroup until ctx ends or one fails, then
// stops the timers they started, waiting for any that is firing. It is
// the one owner of what only a leader does: replication will run it on
// gaining leadership and end its context on losing it.
func (s *Server) lead(ctx context.Context) error {
	s.recover()
	g, ctx := errgroup.WithContext(ctx)
	for range s.cfg.Workers {
		g.Go(func() error { return s.runWorker(ctx) })
	}
	g.Go(func() error { return s.runQueueJobs(ctx) })
	g.Go(func() error { return s.runGC(ctx) })
	g.Go(func() error { return s.runEndpoints(ctx) })
	err := g.Wait()
	s.stopTimers()
	return err
}

// stopTimers stops the drain deadlines, heartbeats and evaluation
// backoffs, waiting for any that is firing; none starts after it. Drain
// deadlines and heartbeats submit evaluations to the broker: stopped
// first, so the broker's stop is the last word.
func (s *Server) stopTimers() {
	s.drains.stop()
	s.hb.stop()
	s.broker.stop()
}

// recover picks up after a restart: every ready node gets a full TTL to
// heartbeat again, and evaluations that were pending or blocked run again.
func (s *Server) recover() {
	var evals []*state.Evaluation
	s.state.View(func(rd *state.Reader) {
		for _, n := range rd.Nodes() {
			if n.Status == state.NodeReady {
				s.hb.reset(n.ID)
			}
			if n.Drain != nil && !n.Drain.Deadline.IsZero() {
				s.scheduleDrainDeadline(n.ID, n.Drain.Deadline)
			}
		}
		for _, e := range rd.Evals("") {
			if e.Status == state.EvalPending || e.Status == state.EvalBlocked {
				evals = append(evals, e)
			}
		}
	})
	for _, e := range evals {
		if e.Status == state.EvalBlocked {
			s.broker.block(e, s.broker.capacitySeen(), s.now())
		} else {
			s.submit(e)
		}
	}
}

// StopWaits ends what waits for a change — receives' long polls,
// blocking queries, event streams — answering as if its wait ran out,
// and makes later ones answer at once. A server stopping calls it before
// it waits for the requests in progress, so that they do not hold its
// shutdown up; Run calls it when its context ends.
func (s *Server) StopWaits() {
	s.stopWaitsOne.Do(func() {
		s.stopWaits()
		s.queues.StopWaits()
	})
}

// Stopping is closed once StopWaits is called.
func (s *Server) Stopping() <-chan struct{} { return s.stopping }

// UntilStopping is ctx, ended also by StopWaits: for streams that outlast
// any wait, such as a task's followed logs.
func (s *Server) UntilStopping(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.stopCtx, cancel)
	return ctx, func() { unhook(); cancel() }
}

// Close stops the server's timers, waiting for any that is firing, then
// closes the server's stores; pending commits finish first. No timer
// starts after it.
func (s *Server) Close() error {
	s.stopTimers()
	err := s.queues.Close()
	if derr := s.db.Close(); err == nil {
		err = derr
	}
	return err
}

// now is the server's clock.
func (s *Server) now() time.Time { return time.Now() }
