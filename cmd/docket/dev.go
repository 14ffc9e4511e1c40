package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
)

func newDevCommand(c *cli) *cobra.Command {
	var (
		o        agentOptions
		dataDir  string
		httpAddr string
		logLevel string
		runFiles []string
		vars     varFlags
		demo     int
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a server and an agent in one process, for a laptop or a single host",
		Long: "Dev runs the control plane and a node agent in one process with a persistent\n" +
			"data directory, against the system's containerd. With --run it registers job\n" +
			"files once both are up, and with --demo N it sends N messages to the queue of\n" +
			"the first queue-driven job, then shows the allocations come and go. Ctrl-C\n" +
			"stops it and removes its containers.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(c, logLevel)
			if err != nil {
				return err
			}
			if dataDir == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return err
				}
				dataDir = filepath.Join(home, ".local", "share", "docket", "dev")
			}
			fmt.Fprintf(c.stdout, "docket dev: data in %s\n", dataDir)
			ctx := cmd.Context()
			g, ctx := errgroup.WithContext(ctx)
			keys, key, err := devSQSKey(dataDir)
			if err != nil {
				return err
			}
			ready := make(chan string, 1)
			g.Go(func() error {
				return runServer(ctx, logger, serverOptions{dataDir: filepath.Join(dataDir, "server"), httpAddr: httpAddr, ready: ready, sqsKeys: keys})
			})
			var addr string
			select {
			case addr = <-ready:
			case <-ctx.Done():
				return g.Wait()
			}
			token, err := devToken(ctx, api.NewClient(addr), dataDir)
			if err != nil {
				return fmt.Errorf("bootstrap the ACL: %w", err)
			}
			o.server, o.dataDir, o.httpAddr = "http://"+addr, filepath.Join(dataDir, "agent"), "127.0.0.1:0"
			o.token = token
			// On one host, the images of the jobs run from here or from
			// the job files given are the user's own.
			o.imageDirs = append(o.imageDirs, ".")
			for _, f := range runFiles {
				o.imageDirs = append(o.imageDirs, filepath.Dir(f))
			}
			a, rt, err := newAgent(ctx, logger, o)
			if err != nil {
				return err
			}
			defer rt.Close()
			g.Go(func() error { return a.Run(ctx) })
			cl := api.NewClient(addr).WithToken(token)
			fmt.Fprintf(c.stdout, "docket dev: server on http://%s, node %s\n", addr, short(a.NodeID()))
			fmt.Fprintf(c.stdout, "docket dev: management token (kept in %s): export DOCKET_ADDR=http://%s DOCKET_TOKEN=%s\n",
				filepath.Join(dataDir, devTokenFile), addr, token)
			fmt.Fprintf(c.stdout, "docket dev: SQS endpoint: AWS_ENDPOINT_URL_SQS=http://%s AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n", addr, key.ID, key.Secret)
			g.Go(func() error {
				err := devSession(ctx, c, cl, a.NodeID(), &vars, runFiles, demo)
				if err != nil && ctx.Err() == nil {
					fmt.Fprintf(c.stderr, "docket dev: %v\n", err)
				}
				return nil
			})
			err = g.Wait()
			// Leave nothing behind: stop and remove this node's containers.
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			removed := 0
			if cs, lerr := rt.List(cctx); lerr == nil {
				for _, ct := range cs {
					if ct.Labels["docket.node"] != a.NodeID() {
						continue
					}
					if ct.Running {
						rt.Stop(cctx, ct.ID, "SIGTERM", 5*time.Second)
					}
					if rt.Remove(cctx, ct.ID) == nil {
						removed++
					}
				}
			}
			fmt.Fprintf(c.stdout, "docket dev: stopped; removed %d containers\n", removed)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	o.register(cmd, false)
	vars.register(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for all state (default ~/.local/share/docket/dev)")
	cmd.Flags().StringVar(&httpAddr, "http-addr", api.DefaultAddr, "address the API listens on")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	cmd.Flags().StringArrayVar(&runFiles, "run", nil, "register this job `file` once up (repeatable)")
	cmd.Flags().IntVar(&demo, "demo", 0, "send this many messages to the first queue-driven job's queue")
	return cmd
}

// devSession registers the job files, sends the demo messages and prints
// what happens to allocations until ctx ends.
func devSession(ctx context.Context, c *cli, cl *api.Client, node string, vars *varFlags, files []string, demo int) error {
	// Wait for the agent's node to register.
	for {
		if _, err := cl.Node(ctx, node); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	var demoQueue string
	for _, name := range files {
		f, err := loadJobFile(ctx, c, cl, vars, name)
		if err != nil {
			return err
		}
		if _, err := cl.RegisterJobs(ctx, f); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, j := range f.Jobs {
			fmt.Fprintf(c.stdout, "docket dev: job %s (%s) registered from %s\n", j.Name, j.Type, name)
			if demoQueue == "" && j.Queue != "" {
				demoQueue = j.Queue
			}
		}
	}
	if demo > 0 && demoQueue != "" {
		for i := 1; i <= demo; i++ {
			if _, err := cl.Send(ctx, demoQueue, api.SendMessage{Body: fmt.Sprintf("message %d of %d", i, demo)}); err != nil {
				return err
			}
		}
		fmt.Fprintf(c.stdout, "docket dev: sent %d messages to queue %s\n", demo, demoQueue)
	}
	if demoQueue != "" {
		fmt.Fprintf(c.stdout, "docket dev: send more with: docket queue send %s \"your message\" (with DOCKET_ADDR and DOCKET_TOKEN exported as above)\n", demoQueue)
	}
	fmt.Fprintln(c.stdout, "docket dev: press Ctrl-C to stop")
	return followAllocations(ctx, c.stdout, cl)
}

// followAllocations prints allocation changes from the event stream, one
// line each.
func followAllocations(ctx context.Context, w io.Writer, cl *api.Client) error {
	body, err := cl.Events(ctx, "Allocation")
	if err != nil {
		return err
	}
	defer body.Close()
	last := map[string]string{}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		var ev struct {
			Type    string         `json:"type"`
			Payload api.Allocation `json:"payload"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Payload.ID == "" {
			continue
		}
		a := ev.Payload
		state := a.ClientStatus
		if a.DesiredStatus == api.DesiredStop && !api.Terminal(state) {
			state = "stopping"
		}
		if last[a.ID] == state {
			continue
		}
		last[a.ID] = state
		what := ""
		if a.Dispatch != nil {
			what = fmt.Sprintf(" (message %s, receive %d)", short(a.Dispatch.MessageID), a.Dispatch.ReceiveCount)
		}
		reason := ""
		if a.ClientReason != "" {
			reason = ": " + a.ClientReason
		}
		fmt.Fprintf(w, "%s  %s[%d] %s %s%s%s\n", time.Now().Format("15:04:05.000"), a.Job, a.Index, short(a.ID), state, what, reason)
	}
	return sc.Err()
}

// devTokenFile keeps the dev server's management token in its data
// directory, so that the printed token stays valid across runs.
const devTokenFile = "management-token"

// devToken bootstraps the dev server's ACL, or finds the token a former
// run bootstrapped it with.
func devToken(ctx context.Context, cl *api.Client, dir string) (string, error) {
	path := filepath.Join(dir, devTokenFile)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	t, err := cl.Bootstrap(ctx)
	if err != nil {
		return "", fmt.Errorf("%w (a data directory bootstrapped elsewhere needs its management token in %s)", err, path)
	}
	if err := os.WriteFile(path, []byte(t.SecretID+"\n"), 0o600); err != nil {
		return "", err
	}
	return t.SecretID, nil
}

// devSQSKey returns the dev server's SQS access key, made once and kept in
// the data directory so that the printed credentials stay valid across runs.
func devSQSKey(dir string) (aws.StaticKeys, aws.Key, error) {
	path := filepath.Join(dir, "sqs-keys")
	if keys, err := aws.LoadKeyFile(path); err == nil {
		for _, k := range keys {
			return keys, k, nil
		}
	}
	id := make([]byte, 8)
	secret := make([]byte, 30)
	if _, err := rand.Read(id); err != nil {
		return nil, aws.Key{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return nil, aws.Key{}, err
	}
	k := aws.Key{ID: "AKID" + strings.ToUpper(hex.EncodeToString(id)), Secret: base64.RawURLEncoding.EncodeToString(secret), Access: aws.Everything}
	k.Accessor = "key:" + k.ID
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, aws.Key{}, err
	}
	if err := os.WriteFile(path, []byte("# docket dev's SQS access key: KEY_ID SECRET\n"+k.ID+" "+k.Secret+"\n"), 0o600); err != nil {
		return nil, aws.Key{}, err
	}
	return aws.StaticKeys{k.ID: k}, k, nil
}
