package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/docketd/docket/internal/atomicfile"
	"github.com/docketd/docket/scheduler/api"
)

// Config configures an [Agent]. Zero fields take the defaults noted.
type Config struct {
	// Server is the control plane's address. Required.
	Server string
	// Token is the ACL token the agent presents: it needs node:write on
	// its node's ID (to register it and report on it) and node:read.
	Token string
	// DataDir holds the node ID and secret, allocation files and task
	// logs. Required.
	DataDir string
	// Name defaults to the hostname; Class and Meta are free-form node
	// attributes for constraints.
	Name  string
	Class string
	Meta  map[string]string
	// ReserveCPU (millicores) and ReserveMemory (MiB) are kept back from
	// what the node offers to allocations.
	ReserveCPU    int64
	ReserveMemory int64
	// HTTPAddr is where the agent serves its health and metrics; default
	// 127.0.0.1:0. AdvertiseAddr, if set, is the address the server uses
	// to reach it; default the listener's.
	HTTPAddr      string
	AdvertiseAddr string
	// Runtime and Inspector run and find containers. Required.
	Runtime   Runtime
	Inspector Inspector
	// Fingerprint measures the host; default HostFingerprint.
	Fingerprint Fingerprinter
	Logger      *slog.Logger
	Registry    *prometheus.Registry
	// LogMaxBytes and LogMaxFiles rotate task logs; default 10 MiB, 3.
	LogMaxBytes int64
	LogMaxFiles int
	// LogRetention is how long a finished allocation's logs are kept;
	// default 1h.
	LogRetention time.Duration
	// ServerAddrForTasks is the server URL as containers see it, given to
	// queue workers as DOCKET_ADDR; default Server.
	ServerAddrForTasks string
	// Pprof serves Go's profiler under /debug/pprof/ on HTTPAddr.
	Pprof bool
	// TLS, if set, is how the agent reaches the server over HTTPS
	// (internal/pki's ClientConfig with the agent's certificate); the
	// server's certificate must be a server's of the cluster's CA.
	TLS *tls.Config
	// TaskCA is the CA certificate (PEM) queue workers verify the server
	// with on a TLS cluster: the agent keeps it in its data directory and
	// gives it to them read-only at CAPath, named by AWS_CA_BUNDLE (which
	// the AWS SDKs and CLI read) and DOCKET_CACERT.
	TaskCA []byte
	// FunctionPauseAfter is how long a function's execution environment
	// stays idle before it is paused; default 100ms, negative never.
	FunctionPauseAfter time.Duration
}

// CAPath is where a queue worker on a TLS cluster finds the cluster's CA
// certificate.
const CAPath = "/docket/ca.pem"

// taskCAFile is the agent's copy of Config.TaskCA.
const taskCAFile = "task-ca.pem"

// Agent is the node daemon.
type Agent struct {
	cfg    Config
	logger *slog.Logger
	// client is the server's client, with the node's secret once the
	// server has issued it; client() reads it.
	clientp atomic.Pointer[api.Client]
	metrics *metrics
	nodeID  string

	mu        sync.Mutex // guards runners and healthy
	runners   map[string]*allocRunner
	healthy   bool
	healthMsg string
	// running counts the allocation runners' goroutines, which Run waits
	// for once it has detached them.
	running sync.WaitGroup

	ln net.Listener
}

// New checks cfg and prepares the agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Server == "":
		return nil, errors.New("agent: Config.Server is required")
	case cfg.DataDir == "":
		return nil, errors.New("agent: Config.DataDir is required")
	case cfg.Runtime == nil || cfg.Inspector == nil:
		return nil, errors.New("agent: Config.Runtime and Config.Inspector are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Fingerprint == nil {
		cfg.Fingerprint = HostFingerprint
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.LogMaxBytes <= 0 {
		cfg.LogMaxBytes = 10 << 20
	}
	if cfg.LogMaxFiles <= 0 {
		cfg.LogMaxFiles = 3
	}
	if cfg.LogRetention <= 0 {
		cfg.LogRetention = time.Hour
	}
	if cfg.ServerAddrForTasks == "" {
		cfg.ServerAddrForTasks = cfg.Server
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "allocs"), 0o755); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	id, err := nodeID(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{
		cfg:     cfg,
		logger:  cfg.Logger.With("component", "agent"),
		nodeID:  id,
		runners: map[string]*allocRunner{},
		healthy: true,
	}
	secret, err := loadNodeSecret(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if len(cfg.TaskCA) > 0 {
		// Public, and readable by tasks whatever their user.
		if err := os.WriteFile(filepath.Join(cfg.DataDir, taskCAFile), cfg.TaskCA, 0o644); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	cl := api.NewClient(cfg.Server).WithToken(cfg.Token).WithNodeSecret(secret)
	if cfg.TLS != nil {
		cl = cl.WithTLS(cfg.TLS)
	}
	a.clientp.Store(cl)
	a.metrics = newMetrics(cfg.Registry, a)
	return a, nil
}

// client is the server's API client, with the agent's token and its
// node's secret.
func (a *Agent) client() *api.Client { return a.clientp.Load() }

// The node secret, kept in the data directory: heartbeats, status reports
// and the allocation watch present it, and registering the node again
// needs it. The agent makes it (as Nomad's clients do) and stores it
// before its first registration, so that no crash can leave the server
// holding a secret the agent never kept; a secret the server issues
// instead (to an agent whose own it refused as too short) replaces it.
const nodeSecretFile = "node-secret"

func loadNodeSecret(dir string) (string, error) {
	path := filepath.Join(dir, nodeSecretFile)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [32]byte
	rand.Read(r[:])
	secret := hex.EncodeToString(r[:])
	if err := atomicfile.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return secret, nil
}

// keepNodeSecret stores a secret the server issued and uses it from now
// on.
func (a *Agent) keepNodeSecret(secret string) error {
	if err := atomicfile.WriteFile(filepath.Join(a.cfg.DataDir, nodeSecretFile), []byte(secret+"\n"), 0o600); err != nil {
		return err
	}
	a.clientp.Store(a.client().WithNodeSecret(secret))
	return nil
}

// NodeID is the agent's stable node ID.
func (a *Agent) NodeID() string { return a.nodeID }

// nodeID reads the node's ID from the data directory, creating it once.
func nodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var b [16]byte
	rand.Read(b[:])
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	if err := os.WriteFile(path+".tmp", []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, os.Rename(path+".tmp", path)
}

// Addr is the address the agent's HTTP server listens on, once Run has
// started it.
func (a *Agent) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Listen opens the agent's HTTP listener; Run calls it if the caller did
// not, so callers that need the address early call it first.
func (a *Agent) Listen() error {
	if a.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("agent: listen: %w", err)
	}
	a.ln = ln
	return nil
}

// Run runs the agent until ctx ends, and returns once every goroutine it
// started has. Running tasks keep running when it returns: containers
// outlive the agent.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Listen(); err != nil {
		return err
	}
	hs := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := hs.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	g.Go(func() error {
		hbInterval, err := a.register(ctx)
		if err != nil {
			return nil // ctx ended
		}
		g.Go(func() error { return a.heartbeat(ctx, hbInterval) })
		g.Go(func() error { return a.watch(ctx) })
		g.Go(func() error { return a.collectGarbage(ctx) })
		g.Go(func() error { return a.relayLogs(ctx) })
		return nil
	})
	err := g.Wait()
	a.mu.Lock()
	runners := make([]*allocRunner, 0, len(a.runners))
	for _, r := range a.runners {
		runners = append(runners, r)
	}
	a.mu.Unlock()
	for _, r := range runners {
		r.detach()
	}
	// Every runner started under g, so none starts after this: they let go
	// of their tasks as ctx ended, and return.
	a.running.Wait()
	return err
}

// register registers the node, retrying with backoff until it succeeds
// or ctx ends, and returns the heartbeat interval the server asks for.
func (a *Agent) register(ctx context.Context) (time.Duration, error) {
	delay := 100 * time.Millisecond
	for {
		interval, err := a.registerOnce(ctx)
		if err == nil {
			return interval, nil
		}
		a.logger.Warn("register with the server", "server", a.cfg.Server, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (a *Agent) registerOnce(ctx context.Context) (time.Duration, error) {
	fp, err := a.cfg.Fingerprint(ctx)
	if err != nil {
		return 0, fmt.Errorf("fingerprint: %w", err)
	}
	name := a.cfg.Name
	if name == "" {
		name = fp.Hostname
	}
	addr := a.cfg.AdvertiseAddr
	if addr == "" && a.ln != nil {
		addr = a.ln.Addr().String()
	}
	res, err := a.client().RegisterNode(ctx, api.RegisterNodeRequest{
		ID: a.nodeID, Name: name, Class: a.cfg.Class, Meta: a.cfg.Meta,
		OS: fp.OS, Arch: fp.Arch, Kernel: fp.Kernel, Address: addr,
		CPU:    max(fp.CPU-a.cfg.ReserveCPU, 1),
		Memory: max(fp.Memory-a.cfg.ReserveMemory, 1),
	})
	if err != nil {
		return 0, err
	}
	if res.NodeSecret != "" {
		if err := a.keepNodeSecret(res.NodeSecret); err != nil {
			return 0, fmt.Errorf("keep the node secret: %w", err)
		}
	}
	a.logger.Info("registered", "node", a.nodeID, "name", name, "cpu", res.Node.CPU, "memory_mib", res.Node.Memory)
	return res.HeartbeatInterval, nil
}

// heartbeat tells the server the node is alive, with its health: a node
// whose runtime does not answer is alive but cannot take work.
func (a *Agent) heartbeat(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		healthy, reason := a.checkHealth(ctx)
		cpuUsed, memUsed := hostUsage(ctx)
		res, err := a.client().Heartbeat(ctx, a.nodeID, api.HeartbeatRequest{
			Healthy: healthy, HealthReason: reason, UsedCPU: cpuUsed, UsedMemory: memUsed,
			Tasks: a.taskUsage(ctx),
		})
		var apiErr *api.Error
		switch {
		case err == nil && res.Reregister, errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
			if iv, err := a.register(ctx); err == nil {
				interval = iv
			}
		case err != nil:
			if ctx.Err() == nil {
				a.logger.Warn("heartbeat", "err", err)
			}
			t.Reset(min(interval, time.Second))
			continue
		default:
			if res.HeartbeatInterval > 0 {
				interval = res.HeartbeatInterval
			}
		}
		t.Reset(interval)
	}
}

// taskUsage measures every running task of the node's allocations.
func (a *Agent) taskUsage(ctx context.Context) []api.TaskUsage {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cs, err := a.cfg.Inspector.List(cctx)
	if err != nil {
		return nil
	}
	var out []api.TaskUsage
	for _, c := range cs {
		if !c.Running || c.Labels[labelAlloc] == "" {
			continue
		}
		u, err := a.cfg.Inspector.Stats(cctx, c.ID)
		if err != nil {
			continue
		}
		out = append(out, api.TaskUsage{AllocID: c.Labels[labelAlloc], Task: c.Labels[labelTask],
			CPUSeconds: u.CPUSeconds, MemoryBytes: u.MemoryBytes})
	}
	return out
}

// checkHealth asks the runtime a cheap question to learn whether it
// answers.
func (a *Agent) checkHealth(ctx context.Context) (bool, string) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := a.cfg.Inspector.List(cctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.healthy, a.healthMsg = false, "container runtime unreachable: "+err.Error()
	} else {
		a.healthy, a.healthMsg = true, ""
	}
	return a.healthy, a.healthMsg
}
