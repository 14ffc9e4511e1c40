package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/lambdaevent"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// A function's event sources are taken by its driver: its asynchronous
// invocations from its outbox, and, when its job names a queue, the
// queue's messages in batches (Lambda's SQS event source mapping). A
// message leaves its queue only once the invocation that carried it
// succeeded; until then it is in flight, its visibility kept alive while
// the invocation runs, and a failure gives it back (after the retry
// backoff of the job's task) or, past the queue's max_receives, moves it
// to the dead-letter queue.

// runFunctionSources starts j's event sources; they end with ctx.
func (s *Server) runFunctionSources(ctx context.Context, j *state.Job) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.asyncLoop(ctx, j)
	}()
	if j.Spec.Queue != "" && j.Spec.Function.EventSource != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.eventSourceLoop(ctx, j)
		}()
	}
	return &wg
}

// sourceWait is how long a source's receive waits for a message.
const sourceWait = 20 * time.Second

// asyncLoop runs j's asynchronous invocations, up to concurrency.max at
// once.
func (s *Server) asyncLoop(ctx context.Context, j *state.Job) {
	ob, err := s.asyncOutbox(j)
	for err != nil {
		if !errors.Is(err, errdefs.ErrClosed) {
			s.logger.Warn("function outbox", "function", j.Name, "err", err)
		}
		if !sleepCtx(ctx, time.Second) {
			return
		}
		ob, err = s.asyncOutbox(j)
	}
	sem := make(chan struct{}, j.Spec.Function.Concurrency.Max)
	var wg sync.WaitGroup
	defer wg.Wait()
	wait := sourceWait
	for {
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		msgs, err := ob.Receive(ctx, queue.ReceiveOptions{Max: 1, Wait: &wait, Owner: "function:" + j.Name})
		if err != nil || len(msgs) == 0 {
			<-sem
			if err != nil {
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.runAsync(ctx, j, ob, msgs[0])
		}()
	}
}

// runAsync runs one asynchronous invocation and settles its event.
func (s *Server) runAsync(ctx context.Context, j *state.Job, ob *queue.Outbox, m queue.Message) {
	inv := api.Invocation{RequestID: headerOf(m, "request_id"), Payload: m.Body, TraceID: m.TraceHeader,
		ClientContext: headerOf(m, "client_context")}
	if inv.RequestID == "" {
		inv.RequestID = aws.NewRequestID()
	}
	res, err := s.invokeFn(ctx, j, inv, 0)
	if ctx.Err() != nil {
		return // the driver stops: the event runs again after its visibility timeout
	}
	if err == nil && !res.Error {
		ob.Settle([]string{m.Receipt})
		return
	}
	if m.ReceiveCount >= asyncAttempts {
		s.metrics.fnAsyncDropped.WithLabelValues(j.Name).Inc()
		reason := "function error"
		if err != nil {
			reason = err.Error()
		}
		s.logger.Warn("asynchronous invocation given up", "function", j.Name, "request_id", inv.RequestID, "attempts", m.ReceiveCount, "reason", reason)
		ob.Settle([]string{m.Receipt})
		return
	}
	ob.Retry(m.Receipt, retryBackoff(j.Spec, m.ReceiveCount))
}

// maxBatchPayload bounds the SQS event of one batch, as Lambda's
// synchronous payload limit does.
const maxBatchPayload = MaxSyncPayload - 64<<10

// eventSourceLoop is j's SQS event source mapping: it gathers batches of
// the job's queue's messages and invokes the function with each, at most
// maximum_concurrency (or concurrency.max) at once.
func (s *Server) eventSourceLoop(ctx context.Context, j *state.Job) {
	f := j.Spec.Function
	limit := f.Concurrency.Max
	if m := f.EventSource.MaximumConcurrency; m > 0 {
		limit = min(limit, m)
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		batch := s.gatherBatch(ctx, j)
		if len(batch) == 0 {
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.runBatch(ctx, j, batch)
		}()
	}
}

// gatherBatch receives one batch: it waits for a first message, then
// takes more until batch_size, the batching window or the payload limit.
func (s *Server) gatherBatch(ctx context.Context, j *state.Job) []queue.Message {
	es := j.Spec.Function.EventSource
	q, owner := j.Spec.Queue, "function:"+j.Name
	wait := sourceWait
	first, err := s.queues.Receive(ctx, q, queue.ReceiveOptions{Max: min(es.BatchSize, queue.MaxBatch), Wait: &wait, Owner: owner})
	if err != nil {
		sleepCtx(ctx, time.Second) // the queue is gone or the log failed: look again later
		return nil
	}
	batch, size := first, 0
	for _, m := range batch {
		size += len(m.Body) + 1024
	}
	deadline := time.Now().Add(es.BatchingWindow.Std())
	for len(batch) > 0 && len(batch) < es.BatchSize && size < maxBatchPayload && ctx.Err() == nil {
		left := max(time.Until(deadline), 0)
		more, err := s.queues.Receive(ctx, q, queue.ReceiveOptions{Max: min(es.BatchSize-len(batch), queue.MaxBatch), Wait: &left, Owner: owner})
		if err != nil || len(more) == 0 {
			break
		}
		for _, m := range more {
			size += len(m.Body) + 1024
		}
		batch = append(batch, more...)
	}
	return batch
}

// runBatch invokes the function with one batch and settles its messages:
// a success deletes them, except those the function reports failed when
// it may (report_batch_item_failures); a failure gives them all back.
func (s *Server) runBatch(ctx context.Context, j *state.Job, batch []queue.Message) {
	q := j.Spec.Queue
	ev, err := lambdaevent.SQSEvent(lambdaevent.Source{QueueARN: s.QueueARN(q), Region: s.sqsRegion(), SenderID: s.accountID()}, batch)
	if err != nil {
		s.logger.Error("build SQS event", "function", j.Name, "err", err)
		return
	}
	vt := 30 * time.Second
	if info, err := s.queues.Queue(q); err == nil {
		vt = info.Attributes.VisibilityTimeout
	}
	keepCtx, stopKeeping := context.WithCancel(ctx)
	var keeping sync.WaitGroup
	keeping.Add(1)
	go func() {
		defer keeping.Done()
		s.keepVisible(keepCtx, q, batch, vt)
	}()
	res, err := s.invokeFn(ctx, j, api.Invocation{RequestID: aws.NewRequestID(), Payload: ev}, 0)
	stopKeeping()
	keeping.Wait()
	if ctx.Err() != nil {
		return // the driver stops: the batch comes back after its visibility timeout
	}
	ids := make([]string, len(batch))
	for i, m := range batch {
		ids[i] = m.ID
	}
	var failed []string
	reason := ""
	switch {
	case err != nil:
		failed, reason = ids, err.Error()
	case res.Error:
		failed, reason = ids, "function error: "+string(truncate(res.Payload, 512))
	default:
		failed = lambdaevent.SQSBatchResult(res.Payload, ids, j.Spec.Function.EventSource.ReportBatchItemFailures).Failed
		reason = "reported in batchItemFailures"
	}
	isFailed := make(map[string]bool, len(failed))
	for _, id := range failed {
		isFailed[id] = true
	}
	var done []string
	for _, m := range batch {
		if !isFailed[m.ID] {
			done = append(done, m.Receipt)
		}
	}
	if len(done) > 0 {
		if _, err := s.queues.Delete(q, done); err != nil {
			s.logger.Warn("delete a batch's messages", "function", j.Name, "queue", q, "err", err)
		}
	}
	s.metrics.fnBatchMessages.WithLabelValues(j.Name, "deleted").Add(float64(len(done)))
	for _, m := range batch {
		if !isFailed[m.ID] {
			continue
		}
		outcome, err := s.retryOrDeadLetter(q, m.Receipt, m.ReceiveCount, j.Spec, []queue.Attr{
			{Name: "docket.failure.reason", Type: "String", Value: []byte(reason)},
			{Name: "docket.failure.function", Type: "String", Value: []byte(j.Name)},
		})
		if err != nil && !errors.Is(err, errdefs.ErrOutdated) && !errors.Is(err, errdefs.ErrNotFound) {
			s.logger.Warn("give back a failed message", "function", j.Name, "message", m.ID, "err", err)
		}
		s.metrics.fnBatchMessages.WithLabelValues(j.Name, outcome).Inc()
	}
}

// keepVisible extends the batch's visibility every third of vt until ctx
// ends, so that a long invocation's messages are not handed out again.
func (s *Server) keepVisible(ctx context.Context, q string, batch []queue.Message, vt time.Duration) {
	t := time.NewTicker(max(vt/3, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range batch {
			if err := s.queues.ChangeVisibility(q, m.Receipt, vt); err != nil && !errors.Is(err, errdefs.ErrOutdated) {
				s.logger.Warn("extend message visibility", "queue", q, "message", m.ID, "err", err)
			}
		}
	}
}

// retryOrDeadLetter gives back a message whose processing failed: past
// its queue's max_receives, to the dead-letter queue with attrs added;
// otherwise visible again after the job's retry backoff. It returns what
// it did: "dead-lettered" or "retried".
func (s *Server) retryOrDeadLetter(q, receipt string, receives int, spec *specs.Job, attrs []queue.Attr) (string, error) {
	info, err := s.queues.Queue(q)
	if err == nil && info.Attributes.DeadLetter != "" && receives >= info.Attributes.MaxReceives {
		return "dead-lettered", s.queues.DeadLetter(q, receipt, attrs)
	}
	return "retried", s.queues.ChangeVisibility(q, receipt, retryBackoff(spec, receives))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// subscribedFunction reads the function a lambda subscription names (its
// ARN, or its name), which must exist and the caller may invoke.
func (s *Server) subscribedFunction(caller Identity, endpoint string) (string, error) {
	name, ok := functionOfARN(endpoint)
	if !ok {
		return "", errdefs.New(errdefs.ErrInvalid, "invalid_endpoint", "Invalid parameter: Endpoint: %q is not a function's ARN", endpoint)
	}
	if err := caller.can("function", name, "invoke"); err != nil {
		return "", err
	}
	if _, err := s.function(name); err != nil {
		return "", errdefs.New(errdefs.ErrInvalid, "invalid_endpoint", "Invalid parameter: Endpoint: %v", err)
	}
	return name, nil
}

// invokeSubscribed delivers one notification of a topic to a subscribed
// function, as Lambda's SNS event, and returns "" when the function
// succeeded, else why not (a metric label); the subscription's delivery
// policy retries it.
func (s *Server) invokeSubscribed(ctx context.Context, sub *state.Subscription, m queue.Message) string {
	name, _ := functionOfARN(sub.Endpoint)
	j, err := s.function(name)
	if err != nil {
		return "function_missing"
	}
	ev, err := lambdaevent.SNSEvent(s.SubscriptionARN(sub.Topic, sub.ID), m.Body)
	if err != nil {
		s.logger.Warn("build SNS event", "subscription", sub.ID, "err", err)
		return "bad_notification"
	}
	res, err := s.invokeFn(ctx, j, api.Invocation{RequestID: aws.NewRequestID(), Payload: ev, TraceID: m.TraceHeader}, 0)
	switch {
	case err != nil:
		return "unavailable"
	case res.Error:
		return "function_error"
	}
	return ""
}

// functionOfARN reads a function's name from its ARN
// (arn:aws:lambda:REGION:ACCOUNT:function:NAME) or takes a name as given.
func functionOfARN(endpoint string) (string, bool) {
	if !strings.HasPrefix(endpoint, "arn:") {
		return endpoint, endpoint != ""
	}
	parts := strings.Split(endpoint, ":")
	if len(parts) != 7 || parts[2] != "lambda" || parts[5] != "function" || parts[6] == "" {
		return "", false
	}
	return parts[6], true
}
