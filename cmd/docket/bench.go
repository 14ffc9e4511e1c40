package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"

	"github.com/docketd/docket/internal/benchload"
	"github.com/docketd/docket/scheduler/api"
	awsproto "github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/specs"
)

func newBenchCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a running server",
	}
	cmd.AddCommand(newBenchQueueCommand(c), newBenchSchedulerCommand(c), newBenchCrashCommand(c))
	return cmd
}

// queueBench is one run of `docket bench queue`.
type queueBench struct {
	cl       *api.Client
	queue    string
	clients  int
	batch    int
	size     int
	duration time.Duration
	rounds   int
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) percentile(p float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := int(math.Ceil(p/100*float64(len(l.d)))) - 1
	return l.d[max(i, 0)]
}

func (l *latencies) row(w io.Writer, name string) {
	fmt.Fprintf(w, "  %-14s n=%-8d p50=%-10s p90=%-10s p99=%-10s max=%s\n", name, len(l.d),
		l.percentile(50).Round(time.Microsecond), l.percentile(90).Round(time.Microsecond),
		l.percentile(99).Round(time.Microsecond), l.percentile(100).Round(time.Microsecond))
}

func newBenchQueueCommand(c *cli) *cobra.Command {
	var (
		b         queueBench
		mode      string
		keep      bool
		sizeS     string
		messages  int
		protocol  string
		sqsKeyID  string
		sqsSecret string
		cpuProf   string
		sqsClient string
	)
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Drive a running server's queue API and report throughput and latency",
		Long: "Bench queue drives a running server over HTTP, like redis-benchmark.\n\n" +
			"  --mode cycle    each client sends a batch, receives it and deletes it,\n" +
			"                  every step durable before it returns (the default)\n" +
			"  --mode latency  one client sends single messages while a long-polling\n" +
			"                  receiver waits: send latency, and the time from a send\n" +
			"                  returning to the receiver having the message\n" +
			"  --mode fill     send --messages messages and leave them queued (with\n" +
			"                  --keep), then report the server's resident memory",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			size, err := specs.ParseSize(sizeS)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			b.size = int(size)
			if b.batch < 1 || b.batch > 10 {
				return fmt.Errorf("--batch must be 1 to 10")
			}
			if !slices.Contains([]string{"sdk", "signed", "both"}, sqsClient) {
				return fmt.Errorf("unknown --sqs-client %q: use sdk, signed or both", sqsClient)
			}
			b.cl = c.client(cmd)
			ctx := cmd.Context()
			go tuneGC(ctx)
			if cpuProf != "" {
				f, err := os.Create(cpuProf)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if _, err := b.cl.CreateQueue(ctx, api.QueueSettings{Name: b.queue}); err != nil {
				return err
			}
			if _, err := b.cl.Purge(ctx, b.queue); err != nil {
				return err
			}
			if !keep {
				defer b.cl.DeleteQueue(context.Background(), b.queue)
			}
			switch mode {
			case "cycle":
				native := &nativeOps{cl: b.cl, queue: b.queue}
				for range b.batch {
					native.msgs = append(native.msgs, api.SendMessage{Body: strings.Repeat("x", b.size)})
				}
				phases := []*cyclePhase{{name: "native", label: "native API", ops: native}}
				switch protocol {
				case "native":
				case "sqs":
					sqsPhases, err := b.sqsPhases(ctx, sqsClient, sqsKeyID, sqsSecret)
					if err != nil {
						return err
					}
					phases = append(phases, sqsPhases...)
				default:
					return fmt.Errorf("unknown --protocol %q: use native or sqs", protocol)
				}
				return b.cycles(ctx, c.stdout, phases)
			case "latency":
				return b.latency(ctx, c.stdout)
			case "fill":
				return b.fill(ctx, c.stdout, messages)
			default:
				return fmt.Errorf("unknown --mode %q: use cycle or latency", mode)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&b.queue, "queue", "docket-bench", "queue to use; created, purged, and deleted afterwards")
	f.IntVarP(&b.clients, "clients", "c", 16, "concurrent clients")
	f.IntVarP(&b.batch, "batch", "b", 10, "messages per send, receive and delete (1 to 10)")
	f.StringVarP(&sizeS, "size", "s", "256", "message body size, e.g. 256 or 1KiB")
	f.DurationVarP(&b.duration, "duration", "d", 10*time.Second, "how long to run (with --mode cycle: each protocol)")
	f.IntVar(&b.rounds, "rounds", 4, "with --mode cycle and --protocol sqs: take turns this many times, in a rotating order, so that drift does not favour one")
	f.StringVar(&mode, "mode", "cycle", "cycle or latency")
	f.BoolVar(&keep, "keep", false, "keep the queue afterwards")
	f.IntVar(&messages, "messages", 1000000, "with --mode fill: how many messages to leave queued")
	f.StringVar(&protocol, "protocol", "native", "with --mode cycle: native, or sqs to run the native API and then the SQS endpoint in the same run")
	f.StringVar(&sqsKeyID, "sqs-key-id", "", "access key for --protocol sqs (default $AWS_ACCESS_KEY_ID)")
	f.StringVar(&sqsSecret, "sqs-secret", "", "secret for --protocol sqs (default $AWS_SECRET_ACCESS_KEY)")
	f.StringVar(&sqsClient, "sqs-client", "both", "with --protocol sqs: sdk (the AWS SDK for Go), signed (a SigV4-signing client as lean as the native one) or both")
	f.StringVar(&cpuProf, "cpuprofile", "", "write the load generator's CPU profile to `file`")
	return cmd
}

// queueOps are the three calls of the cycle, over one protocol.
type queueOps interface {
	// send sends one batch.
	send(ctx context.Context) error
	// receive receives up to max messages and returns their receipts.
	receive(ctx context.Context, max int) ([]string, error)
	delete(ctx context.Context, receipts []string) error
}

// nativeOps is the cycle over Docket's own API.
type nativeOps struct {
	cl    *api.Client
	queue string
	msgs  []api.SendMessage
}

func (o *nativeOps) send(ctx context.Context) error {
	_, err := o.cl.Send(ctx, o.queue, o.msgs...)
	return err
}

func (o *nativeOps) receive(ctx context.Context, max int) ([]string, error) {
	wait := specs.Duration(time.Second)
	ms, err := o.cl.Receive(ctx, o.queue, api.ReceiveRequest{Max: max, Wait: &wait})
	receipts := make([]string, len(ms))
	for i, m := range ms {
		receipts[i] = m.Receipt
	}
	return receipts, err
}

func (o *nativeOps) delete(ctx context.Context, receipts []string) error {
	_, err := o.cl.Delete(ctx, o.queue, receipts...)
	return err
}

// sqsOps is the cycle through the SQS-compatible endpoint with the AWS SDK,
// as an unchanged SQS producer and worker would run it.
type sqsOps struct {
	c       *awssqs.Client
	url     *string
	entries []sqstypes.SendMessageBatchRequestEntry
}

func (o *sqsOps) send(ctx context.Context) error {
	out, err := o.c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: o.url, Entries: o.entries})
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("%d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
	}
	return err
}

func (o *sqsOps) receive(ctx context.Context, max int) ([]string, error) {
	out, err := o.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: o.url, MaxNumberOfMessages: int32(max), WaitTimeSeconds: 1})
	if err != nil {
		return nil, err
	}
	receipts := make([]string, len(out.Messages))
	for i, m := range out.Messages {
		receipts[i] = aws.ToString(m.ReceiptHandle)
	}
	return receipts, nil
}

func (o *sqsOps) delete(ctx context.Context, receipts []string) error {
	entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(receipts))
	for i, r := range receipts {
		entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r)}
	}
	out, err := o.c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: o.url, Entries: entries})
	if err == nil && len(out.Failed) > 0 {
		err = fmt.Errorf("%d deletes failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
	}
	return err
}

// newSQSOps connects an AWS SDK client to the server's SQS endpoint with
// the given key (default: the AWS_* variables).
func (b *queueBench) newSQSOps(ctx context.Context, keyID, secret string) (*sqsOps, error) {
	// The SDK keeps 10 idle connections per host by default: with more
	// clients than that, connections would be closed and redialed all the
	// time. Keep as many as the native client does.
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 1024
		tr.MaxIdleConnsPerHost = 1024
	})
	c := awssqs.New(awssqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(b.cl.Addr()),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		HTTPClient:   hc,
	})
	url, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(b.queue)})
	if err != nil {
		return nil, err
	}
	body := strings.Repeat("x", b.size)
	o := &sqsOps{c: c, url: url.QueueUrl}
	for i := 0; i < b.batch; i++ {
		o.entries = append(o.entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body)})
	}
	return o, nil
}

// signedOps is the cycle through the SQS endpoint with a client as lean as
// Docket's own: JSON protocol, each request marshalled with encoding/json
// and signed with SigV4, each answer decoded with encoding/json. Next to
// the AWS SDK run it separates what the endpoint costs from what the SDK
// costs the load generator.
type signedOps struct {
	hc      *http.Client
	base    string
	url     string
	signer  *awsproto.Signer
	entries []sqsSendEntry
}

type sqsSendEntry struct {
	Id          string
	MessageBody string
}

type sqsBatchEntry struct {
	Id            string
	ReceiptHandle string
}

// sqsBatchResult is the answer of the batch actions; only failures matter.
type sqsBatchResult struct {
	Failed []struct{ Id, Code, Message string }
}

func (o *signedOps) call(ctx context.Context, action string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	o.signer.Sign(req, body, time.Now())
	resp, err := o.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("%s: %s: %s", action, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body) // the newline after it: the connection is reused
	return err
}

func batchFailure(what string, r sqsBatchResult) error {
	if len(r.Failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d %s failed: %s: %s", len(r.Failed), what, r.Failed[0].Code, r.Failed[0].Message)
}

func (o *signedOps) send(ctx context.Context) error {
	var out sqsBatchResult
	err := o.call(ctx, "SendMessageBatch", struct {
		QueueUrl string
		Entries  []sqsSendEntry
	}{o.url, o.entries}, &out)
	if err != nil {
		return err
	}
	return batchFailure("sends", out)
}

func (o *signedOps) receive(ctx context.Context, max int) ([]string, error) {
	var out struct {
		Messages []struct{ ReceiptHandle string }
	}
	err := o.call(ctx, "ReceiveMessage", struct {
		QueueUrl            string
		MaxNumberOfMessages int
		WaitTimeSeconds     int
	}{o.url, max, 1}, &out)
	receipts := make([]string, len(out.Messages))
	for i, m := range out.Messages {
		receipts[i] = m.ReceiptHandle
	}
	return receipts, err
}

func (o *signedOps) delete(ctx context.Context, receipts []string) error {
	entries := make([]sqsBatchEntry, len(receipts))
	for i, r := range receipts {
		entries[i] = sqsBatchEntry{Id: strconv.Itoa(i), ReceiptHandle: r}
	}
	var out sqsBatchResult
	err := o.call(ctx, "DeleteMessageBatch", struct {
		QueueUrl string
		Entries  []sqsBatchEntry
	}{o.url, entries}, &out)
	if err != nil {
		return err
	}
	return batchFailure("deletes", out)
}

// newSignedOps connects the lean client and looks the queue's URL up.
func (b *queueBench) newSignedOps(ctx context.Context, keyID, secret string) (*signedOps, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	o := &signedOps{
		hc:     &http.Client{Transport: tr},
		base:   b.cl.Addr(),
		signer: &awsproto.Signer{KeyID: keyID, Secret: secret, Region: "us-east-1", Service: "sqs"},
	}
	var u struct{ QueueUrl string }
	if err := o.call(ctx, "GetQueueUrl", struct{ QueueName string }{b.queue}, &u); err != nil {
		return nil, err
	}
	o.url = u.QueueUrl
	body := strings.Repeat("x", b.size)
	for i := range b.batch {
		o.entries = append(o.entries, sqsSendEntry{Id: strconv.Itoa(i), MessageBody: body})
	}
	return o, nil
}

// sqsPhases are the cycle's runs through the SQS endpoint with the clients
// asked for.
func (b *queueBench) sqsPhases(ctx context.Context, client, keyID, secret string) ([]*cyclePhase, error) {
	if keyID == "" {
		keyID, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if keyID == "" {
		return nil, fmt.Errorf("--protocol sqs needs an access key: --sqs-key-id and --sqs-secret, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (docket dev prints one)")
	}
	var phases []*cyclePhase
	if client == "signed" || client == "both" {
		ops, err := b.newSignedOps(ctx, keyID, secret)
		if err != nil {
			return nil, err
		}
		phases = append(phases, &cyclePhase{name: "signed", label: "SQS endpoint, lean SigV4 client", ops: ops})
	}
	if client == "sdk" || client == "both" {
		ops, err := b.newSQSOps(ctx, keyID, secret)
		if err != nil {
			return nil, err
		}
		phases = append(phases, &cyclePhase{name: "sdk", label: "SQS endpoint, AWS SDK", ops: ops})
	}
	return phases, nil
}

// cyclePhase is the cycle over one protocol and client, summed over the
// turns it ran in.
type cyclePhase struct {
	name, label string
	ops         queueOps
	n           int64         // messages sent, received and deleted
	elapsed     time.Duration // time it ran
	serverCPU   float64       // server CPU seconds; 0 if unknown
	clientCPU   float64       // load generator CPU seconds
	send, recv  latencies
	del         latencies
}

func (p *cyclePhase) rate() float64 { return float64(p.n) / p.elapsed.Seconds() }

// perMessage is seconds spent per message, in µs.
func (p *cyclePhase) perMessage(seconds float64) float64 { return seconds / float64(max(p.n, 1)) * 1e6 }

// cycles runs the phases for b.duration each. With more than one, they
// take turns in b.rounds rounds, each starting with the next phase, so
// that the machine's drift over the run weighs on all alike; the first
// phase is the one the others are compared with.
func (b *queueBench) cycles(ctx context.Context, w io.Writer, phases []*cyclePhase) error {
	rounds := 1
	if len(phases) > 1 {
		rounds = max(b.rounds, 1)
	}
	for r := range rounds {
		for i := range phases {
			p := phases[(r+i)%len(phases)]
			if err := b.cycle(ctx, p, b.duration/time.Duration(rounds)); err != nil {
				return err
			}
			// What the turn left queued or in flight is not the next's.
			if _, err := b.cl.Purge(ctx, b.queue); err != nil {
				return err
			}
		}
	}
	for _, p := range phases {
		fmt.Fprintf(w, "queue cycle (%s): %d clients, batches of %d, %d-byte bodies, %s", p.label, b.clients, b.batch, b.size, p.elapsed.Round(time.Millisecond))
		if rounds > 1 {
			fmt.Fprintf(w, " in %d turns", rounds)
		}
		fmt.Fprintf(w, "\n  throughput     %.0f messages/s (%d messages sent, received and deleted)\n", p.rate(), p.n)
		fmt.Fprintf(w, "  CPU/message    server %.1f µs, load generator %.1f µs\n", p.perMessage(p.serverCPU), p.perMessage(p.clientCPU))
		p.send.row(w, "send")
		p.recv.row(w, "receive")
		p.del.row(w, "delete")
	}
	base := phases[0]
	for _, p := range phases[1:] {
		fmt.Fprintf(w, "SQS endpoint (%s) / native API: %.2f", p.name, p.rate()/base.rate())
		if p.serverCPU > 0 && base.serverCPU > 0 {
			fmt.Fprintf(w, "; server CPU per message, native / SQS: %.2f; load generator's: %.2f",
				base.perMessage(base.serverCPU)/p.perMessage(p.serverCPU), base.perMessage(base.clientCPU)/p.perMessage(p.clientCPU))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// cycle runs the send-receive-delete cycle over p's ops for d and adds
// what it measured to p.
func (b *queueBench) cycle(ctx context.Context, p *cyclePhase, d time.Duration) error {
	var done atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	errc := make(chan error, b.clients)
	var wg sync.WaitGroup
	cpu := b.startCPU(ctx)
	start := time.Now()
	for range b.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t := time.Now()
				if err := p.ops.send(ctx); err != nil {
					errc <- err
					return
				}
				p.send.add(time.Since(t))
				for got := 0; got < b.batch; {
					t = time.Now()
					receipts, err := p.ops.receive(ctx, b.batch-got)
					if err != nil {
						errc <- err
						return
					}
					p.recv.add(time.Since(t))
					if len(receipts) == 0 {
						continue
					}
					t = time.Now()
					if err := p.ops.delete(ctx, receipts); err != nil {
						errc <- err
						return
					}
					p.del.add(time.Since(t))
					got += len(receipts)
					done.Add(int64(len(receipts)))
				}
			}
		}()
	}
	wg.Wait()
	p.elapsed += time.Since(start)
	close(errc)
	for err := range errc {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	p.n += done.Load()
	server, client := cpu.spent(context.WithoutCancel(ctx))
	p.serverCPU += server
	p.clientCPU += client
	return nil
}

func (b *queueBench) latency(ctx context.Context, w io.Writer) error {
	body := strings.Repeat("x", b.size)
	var sendL, deliverL latencies
	ctx, cancel := context.WithTimeout(ctx, b.duration)
	defer cancel()
	sentAt := make(chan time.Time, 1)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	ready := make(chan struct{}, 1)
	wg.Add(1)
	go func() { // the long-polling receiver
		defer wg.Done()
		wait := specs.Duration(20 * time.Second)
		for ctx.Err() == nil {
			ready <- struct{}{}
			ms, err := b.cl.Receive(ctx, b.queue, api.ReceiveRequest{Max: 1, Wait: &wait})
			got := time.Now()
			if err != nil {
				errc <- err
				return
			}
			if len(ms) == 0 {
				continue
			}
			if t := <-sentAt; got.After(t) {
				deliverL.add(got.Sub(t))
			} else {
				deliverL.add(0)
			}
			if _, err := b.cl.Delete(ctx, b.queue, ms[0].Receipt); err != nil {
				errc <- err
				return
			}
		}
	}()
	for ctx.Err() == nil {
		select {
		case <-ready:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		// Let the receiver's request reach the server and start waiting.
		time.Sleep(2 * time.Millisecond)
		t := time.Now()
		if _, err := b.cl.Send(ctx, b.queue, api.SendMessage{Body: body}); err != nil {
			errc <- err
			break
		}
		now := time.Now()
		sendL.add(now.Sub(t))
		sentAt <- now
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	fmt.Fprintf(w, "queue latency: single %d-byte messages, one long-polling receiver\n", b.size)
	sendL.row(w, "send")
	deliverL.row(w, "send→receive")
	return nil
}

func newBenchSchedulerCommand(c *cli) *cobra.Command {
	var cfg benchload.SchedulerConfig
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Measure placement: simulated nodes, the real state store and commit path",
		Long: "Bench scheduler runs a control plane in this process on a temporary data\n" +
			"directory, registers simulated nodes (five classes, ten zones), then jobs\n" +
			"of --per-job allocations each with a class constraint and a zone spread,\n" +
			"and times until every allocation is placed and committed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			go tuneGC(cmd.Context()) // as the server does
			res, err := benchload.RunScheduler(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return output(cmd, c.stdout, res, func(w io.Writer) {
				fmt.Fprintf(w, "scheduler: %d nodes, %d allocations in jobs of %d\n", res.Nodes, res.Placed, cfg.PerJob)
				fmt.Fprintf(w, "  throughput           %.0f placements/s (%s)\n", res.PlacementsPerSecond, res.Elapsed.Round(time.Millisecond))
				fmt.Fprintf(w, "  evaluation→commit    p50=%s p99=%s saturated\n", res.EvalP50.Round(time.Microsecond), res.EvalP99.Round(time.Microsecond))
				fmt.Fprintf(w, "  evaluation→commit    p50=%s p99=%s one %d-allocation job at a time (%d jobs)\n",
					res.IdleP50.Round(time.Microsecond), res.IdleP99.Round(time.Microsecond), cfg.PerJob, cfg.IdleJobs)
				fmt.Fprintf(w, "  memory per node      %.0f bytes of heap\n", res.BytesPerNode)
			})
		},
	}
	cmd.Flags().IntVar(&cfg.Nodes, "nodes", 5000, "simulated nodes")
	cmd.Flags().IntVar(&cfg.Allocations, "allocations", 100000, "allocations to place")
	cmd.Flags().IntVar(&cfg.PerJob, "per-job", 100, "allocations per job (one evaluation each)")
	cmd.Flags().IntVar(&cfg.Workers, "workers", 0, "scheduler workers (default 2)")
	cmd.Flags().IntVar(&cfg.IdleJobs, "latency-jobs", 200, "jobs submitted one at a time afterwards, for latency")
	return cmd
}

// fill sends n messages from the clients in batches and leaves them
// queued, then reads the server's resident memory from its metrics.
func (b *queueBench) fill(ctx context.Context, w io.Writer, n int) error {
	body := strings.Repeat("x", b.size)
	msgs := make([]api.SendMessage, b.batch)
	for i := range msgs {
		msgs[i] = api.SendMessage{Body: body}
	}
	var left atomic.Int64
	left.Store(int64(n))
	errc := make(chan error, b.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for range b.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(min(left.Add(-int64(b.batch))+int64(b.batch), int64(b.batch)))
				if k <= 0 {
					return
				}
				if _, err := b.cl.Send(ctx, b.queue, msgs[:k]...); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	el := time.Since(start)
	q, err := b.cl.Queue(ctx, b.queue)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "queue fill: %d messages of %d bytes in %s (%.0f messages/s); %d visible\n",
		n, b.size, el.Round(time.Millisecond), float64(n)/el.Seconds(), q.Stats.Visible)
	if rss, err := b.serverMetric(ctx, "process_resident_memory_bytes"); err == nil {
		fmt.Fprintf(w, "  server resident memory  %.0f MB\n", rss/1e6)
	}
	return nil
}

// serverMetric reads an unlabelled metric from the server's /metrics.
func (b *queueBench) serverMetric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cl.Addr()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in the server's metrics", name)
}

// cpuMeter measures the CPU time the server (from its
// process_cpu_seconds_total, 10 ms resolution) and this process spend
// during a phase: on a machine that runs both, the load generator's share
// bounds the rate as much as the server's.
type cpuMeter struct {
	b              *queueBench
	server, client float64
	serverOK       bool
}

func (b *queueBench) startCPU(ctx context.Context) *cpuMeter {
	m := &cpuMeter{b: b, client: selfCPU()}
	var err error
	m.server, err = b.serverMetric(ctx, "process_cpu_seconds_total")
	m.serverOK = err == nil
	return m
}

// spent returns the server's and this process's CPU seconds since start;
// server is 0 when the server's metric is missing.
func (m *cpuMeter) spent(ctx context.Context) (server, client float64) {
	client = selfCPU() - m.client
	if now, err := m.b.serverMetric(ctx, "process_cpu_seconds_total"); err == nil && m.serverOK {
		server = now - m.server
	}
	return server, client
}

// selfCPU is this process's user and system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
