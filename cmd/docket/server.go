package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/docketd/docket/internal/pki"
	"github.com/docketd/docket/internal/pubsub/webhook"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/httpapi"
	"github.com/docketd/docket/specs"
)

func newServerCommand(c *cli) *cobra.Command {
	var (
		dataDir   string
		httpAddr  string
		logLevel  string
		pprof     bool
		sqsKeys   string
		unsigned  bool
		segSize   string
		httpCfg   httpapi.HTTPConfig
		maxHdr    string
		tlsFiles  tlsFlags
		publicURL string
		endpoints endpointFlags
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: queues, jobs, placement and the HTTP API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(c, logLevel)
			if err != nil {
				return err
			}
			o := serverOptions{dataDir: dataDir, httpAddr: httpAddr, pprof: pprof, sqsAllowUnsigned: unsigned, http: httpCfg, publicURL: publicURL}
			if maxHdr != "" {
				size, err := specs.ParseSize(maxHdr)
				if err != nil || size < 4<<10 || size > 16<<20 {
					return fmt.Errorf("--http-max-header-bytes %q: want a size from 4KiB to 16MiB", maxHdr)
				}
				o.http.MaxHeaderBytes = int(size)
			}
			if segSize != "" {
				size, err := specs.ParseSize(segSize)
				if err != nil || size < 64<<10 || size > 1<<30 {
					return fmt.Errorf("--queue-segment-size %q: want a size from 64KiB to 1024MiB", segSize)
				}
				o.queueSegmentSize = int64(size)
			}
			if o.http.TLS, err = tlsFiles.serverConfig(); err != nil {
				return err
			}
			if o.endpoints, err = endpoints.config(); err != nil {
				return err
			}
			if sqsKeys != "" {
				keys, err := aws.LoadKeyFile(sqsKeys)
				if err != nil {
					return err
				}
				o.sqsKeys = keys
			}
			return runServer(cmd.Context(), logger, o)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "docket-data", "directory for the server's state and queues")
	cmd.Flags().StringVar(&httpAddr, "http-addr", api.DefaultAddr, "address the HTTP API listens on")
	cmd.Flags().StringVar(&publicURL, "public-url", "", "the server's base URL as clients reach it, for the links in SNS notifications (default from --http-addr)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().BoolVar(&pprof, "pprof", false, "serve Go's profiler under /debug/pprof/ on the API address")
	cmd.Flags().StringVar(&sqsKeys, "aws-keys", "", "`file` of access keys for the AWS-compatible endpoints, beside ACL tokens' keys: lines of \"KEY_ID SECRET [queue,queue...]\"; a key with queues may use only those")
	cmd.Flags().StringVar(&sqsKeys, "sqs-keys", "", "the older name of --aws-keys")
	cmd.Flags().StringVar(&segSize, "queue-segment-size", "", "size of the queue log's segment files (default 64MiB); the log keeps up to two spare, so a small volume needs a small size")
	cmd.Flags().BoolVar(&unsigned, "sqs-allow-unsigned", false, "accept SQS requests without a signature (for trusted networks only)")
	registerHTTPFlags(cmd, &httpCfg, &maxHdr)
	endpoints.register(cmd)
	tlsFiles.register(cmd, "the server's certificate (docket tls cert create --server); with --tls-key and --tls-ca the API serves HTTPS only, and agents' routes need agents' certificates")
	return cmd
}

// endpointFlags say where a server may deliver topics' notifications.
type endpointFlags struct {
	allow, deny []string
	ca          string
}

func (e *endpointFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&e.allow, "endpoint-allow", nil, "`CIDR`s HTTP(S) subscriptions may be delivered to although refused by default (loopback, link-local, multicast); repeatable, e.g. 127.0.0.0/8 on a single host")
	cmd.Flags().StringSliceVar(&e.deny, "endpoint-deny", nil, "more `CIDR`s HTTP(S) subscriptions may not be delivered to; repeatable")
	cmd.Flags().StringVar(&e.ca, "endpoint-ca", "", "PEM `file` of CA certificates HTTPS endpoints are verified with, instead of the system's")
}

func (e endpointFlags) config() (webhook.Config, error) {
	var cfg webhook.Config
	parse := func(flag string, in []string) ([]netip.Prefix, error) {
		var out []netip.Prefix
		for _, v := range in {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				if a, aerr := netip.ParseAddr(v); aerr == nil {
					p, err = a.Prefix(a.BitLen())
				}
			}
			if err != nil {
				return nil, fmt.Errorf("--%s %q: want a CIDR such as 10.0.0.0/8 or an address", flag, v)
			}
			out = append(out, p.Masked())
		}
		return out, nil
	}
	var err error
	if cfg.Allow, err = parse("endpoint-allow", e.allow); err != nil {
		return cfg, err
	}
	if cfg.Deny, err = parse("endpoint-deny", e.deny); err != nil {
		return cfg, err
	}
	if e.ca != "" {
		b, err := os.ReadFile(e.ca)
		if err != nil {
			return cfg, fmt.Errorf("--endpoint-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return cfg, fmt.Errorf("--endpoint-ca %s: no PEM certificate in it", e.ca)
		}
	}
	return cfg, nil
}

// tlsFlags are the files of a server's or an agent's TLS.
type tlsFlags struct{ cert, key, ca string }

func (t *tlsFlags) register(cmd *cobra.Command, certHelp string) {
	cmd.Flags().StringVar(&t.cert, "tls-cert", "", certHelp)
	cmd.Flags().StringVar(&t.key, "tls-key", "", "the key of --tls-cert")
	cmd.Flags().StringVar(&t.ca, "tls-ca", "", "the cluster's CA certificate (docket tls ca create)")
}

func (t tlsFlags) set() bool { return t.cert != "" || t.key != "" || t.ca != "" }

// serverConfig is the server's TLS configuration, nil without TLS.
func (t tlsFlags) serverConfig() (*tls.Config, error) {
	if !t.set() {
		return nil, nil
	}
	if t.cert == "" || t.key == "" || t.ca == "" {
		return nil, errors.New("TLS needs all of --tls-cert, --tls-key and --tls-ca")
	}
	cfg, err := pki.ServerConfig(t.cert, t.key, t.ca)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return cfg, nil
}

// agentConfig is an agent's TLS configuration, nil without TLS, and the
// CA certificate its queue workers verify the server with. Files the
// agent's flags do not name come from the client's (--ca-cert,
// --client-cert, --client-key or their $DOCKET_ variables).
func (t tlsFlags) agentConfig(ca, cert, key string) (*tls.Config, []byte, error) {
	if t.ca == "" {
		t.ca = ca
	}
	if t.cert == "" && t.key == "" {
		t.cert, t.key = cert, key
	}
	if !t.set() {
		return nil, nil, nil
	}
	if t.cert == "" || t.key == "" || t.ca == "" {
		return nil, nil, errors.New("an agent's TLS needs all of --tls-cert, --tls-key and --tls-ca")
	}
	cfg, err := pki.ClientConfig(t.ca, t.cert, t.key, pki.RoleAgent)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS: %w", err)
	}
	caPEM, err := os.ReadFile(t.ca)
	if err != nil {
		return nil, nil, fmt.Errorf("TLS: %w", err)
	}
	return cfg, caPEM, nil
}

// registerHTTPFlags adds the HTTP server's timeouts and limits; zero
// values take httpapi.HTTPConfig's defaults, given in the help.
func registerHTTPFlags(cmd *cobra.Command, cfg *httpapi.HTTPConfig, maxHeader *string) {
	f := cmd.Flags()
	f.DurationVar(&cfg.ReadHeaderTimeout, "http-read-header-timeout", 0, "time a client has to send a request's headers (default 10s)")
	f.DurationVar(&cfg.ReadTimeout, "http-read-timeout", 0, "time a client has to send a whole request, headers and body (default 60s); long polls, blocking queries and streams wait past it")
	f.DurationVar(&cfg.WriteTimeout, "http-write-timeout", 0, "time to handle a request and write its answer (default 60s); requests that wait get their wait on top")
	f.DurationVar(&cfg.IdleTimeout, "http-idle-timeout", 0, "time a keep-alive connection may stay idle between requests (default 2m)")
	f.IntVar(&cfg.MaxConns, "http-max-conns", 0, "most HTTP connections open at once (default 4096); at the limit a new one closes the longest idle, or waits up to 5s")
	f.StringVar(maxHeader, "http-max-header-bytes", "", "largest request line and headers (default 64KiB)")
}

// newLogger builds the process's logger, writing text to stderr.
func newLogger(c *cli, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: l})), nil
}

// serverOptions are the server command's settings.
type serverOptions struct {
	// endpoints governs delivery to topics' HTTP(S) subscribers.
	endpoints webhook.Config
	dataDir   string
	httpAddr  string
	pprof     bool
	// queueSegmentSize is the queue log's segment size; 0 takes the
	// default.
	queueSegmentSize int64
	// ready, if set, receives the address the API listens on once it
	// accepts connections.
	ready chan<- string
	// sqsKeys and sqsAllowUnsigned configure the SQS-compatible endpoint.
	sqsKeys          aws.KeyStore
	sqsAllowUnsigned bool
	// http holds the HTTP server's timeouts and limits; zero fields take
	// the defaults.
	http httpapi.HTTPConfig
	// publicURL is the server's base URL as clients reach it; default
	// from the address it listens on.
	publicURL string
}

// baseURL is the base URL clients reach the server at: o.publicURL, or
// the listening address (the host's name when it listens on every
// address), over https when TLS is on.
func (o serverOptions) baseURL(addr net.Addr) string {
	if o.publicURL != "" {
		return o.publicURL
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			host = name
		}
	}
	scheme := "http"
	if o.http.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// runServer runs the control plane until ctx ends.
func runServer(ctx context.Context, logger *slog.Logger, o serverOptions) error {
	go tuneGC(ctx)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return err
	}
	srv, err := scheduler.New(scheduler.Config{
		PublicURL:        o.baseURL(ln.Addr()),
		DataDir:          o.dataDir,
		QueueSegmentSize: o.queueSegmentSize,
		Logger:           logger,
		Registry:         reg,
		Version:          version,
		SQSKeys:          o.sqsKeys,
		SQSAllowUnsigned: o.sqsAllowUnsigned,
		Endpoints:        o.endpoints,
	})
	if err != nil {
		ln.Close()
		return err
	}
	web := httpapi.New(srv)
	handler := web.Handler()
	if o.pprof {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/", handler)
		handler = mux
	}
	hs, ln := web.HTTPServer(handler, ln, o.http)
	logger.Info("server listening", "addr", ln.Addr().String(), "tls", o.http.TLS != nil, "data_dir", o.dataDir, "pid", os.Getpid())
	if o.ready != nil {
		o.ready <- ln.Addr().String()
	}
	return web.Serve(ctx, hs, ln)
}
