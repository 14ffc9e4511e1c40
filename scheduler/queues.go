package scheduler

import (
	"context"
	"sort"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// applySettings returns a with every field s sets replaced.
func applySettings(a queue.Attributes, s api.QueueSettings) queue.Attributes {
	if s.VisibilityTimeout != nil {
		a.VisibilityTimeout = s.VisibilityTimeout.Std()
	}
	if s.Retention != nil {
		a.Retention = s.Retention.Std()
	}
	if s.Delay != nil {
		a.Delay = s.Delay.Std()
	}
	if s.ReceiveWait != nil {
		a.ReceiveWait = s.ReceiveWait.Std()
	}
	if s.MaxMessageSize != nil {
		a.MaxMessageSize = int64(*s.MaxMessageSize)
	}
	if s.MaxReceives != nil {
		a.MaxReceives = *s.MaxReceives
	}
	if s.DeadLetter != nil {
		a.DeadLetter = *s.DeadLetter
	}
	if s.FIFO != nil {
		a.FIFO = *s.FIFO
	}
	if s.ContentBasedDeduplication != nil {
		a.ContentDedup = *s.ContentBasedDeduplication
	}
	if s.DeduplicationScope != nil {
		a.DedupPerGroup = *s.DeduplicationScope == "messageGroup"
	}
	if s.FIFOThroughputLimit != nil {
		a.ThroughputPerGroup = *s.FIFOThroughputLimit == "perMessageGroupId"
	}
	return a
}

// QueueAttributes converts a queue block of a job file into the engine's
// attributes.
func QueueAttributes(q *specs.Queue) queue.Attributes {
	return queue.Attributes{
		VisibilityTimeout:  q.VisibilityTimeout.Std(),
		Retention:          q.Retention.Std(),
		Delay:              q.Delay.Std(),
		ReceiveWait:        q.ReceiveWait.Std(),
		MaxMessageSize:     int64(q.MaxMessageSize),
		MaxReceives:        q.MaxReceives,
		DeadLetter:         q.DeadLetter,
		FIFO:               q.FIFO,
		ContentDedup:       q.ContentBasedDeduplication,
		DedupPerGroup:      q.DeduplicationScope == "messageGroup",
		ThroughputPerGroup: q.FIFOThroughputLimit == "perMessageGroupId",
	}
}

func apiQueue(in queue.Info) api.Queue {
	a := in.Attributes
	st := in.Stats
	return api.Queue{
		Queue: specs.Queue{
			Name:                      in.Name,
			VisibilityTimeout:         specs.Duration(a.VisibilityTimeout),
			Retention:                 specs.Duration(a.Retention),
			Delay:                     specs.Duration(a.Delay),
			ReceiveWait:               specs.Duration(a.ReceiveWait),
			MaxMessageSize:            specs.Size(a.MaxMessageSize),
			MaxReceives:               a.MaxReceives,
			DeadLetter:                a.DeadLetter,
			FIFO:                      a.FIFO,
			ContentBasedDeduplication: a.ContentDedup,
			DeduplicationScope:        a.DedupScope(),
			FIFOThroughputLimit:       a.ThroughputLimit(),
		},
		Tags:      in.Tags,
		CreatedAt: in.CreatedAt.UTC(),
		Stats: api.QueueStats{
			Visible:          st.Visible,
			InFlight:         st.InFlight,
			Delayed:          st.Delayed,
			OldestAgeSeconds: st.OldestAge.Seconds(),
			Sent:             st.Totals.Sent,
			Received:         st.Totals.Received,
			Deleted:          st.Totals.Deleted,
			DeadLettered:     st.Totals.DeadLettered,
			Expired:          st.Totals.Expired,
			Purged:           st.Totals.Purged,
		},
	}
}

// CreateQueue creates a queue, or finds it as it is with the same
// settings (created false).
func (s *Server) CreateQueue(ctx context.Context, caller Identity, in api.QueueSettings) (api.QueueCreated, error) {
	if err := caller.can("queue", in.Name, "write"); err != nil {
		return api.QueueCreated{}, err
	}
	created, err := s.queues.CreateQueue(in.Name, applySettings(queue.DefaultAttributes(), in))
	if err != nil {
		return api.QueueCreated{}, err
	}
	info, err := s.queues.Queue(in.Name)
	if err != nil {
		return api.QueueCreated{}, err
	}
	return api.QueueCreated{Queue: apiQueue(info), Created: created}, nil
}

// ListQueues lists every queue with its figures.
func (s *Server) ListQueues(ctx context.Context, caller Identity) api.QueueList {
	infos := s.queues.Queues()
	out := api.QueueList{Queues: make([]api.Queue, 0, len(infos))}
	for _, in := range infos {
		if caller.ACL.Allowed("queue", in.Name, "read") {
			out.Queues = append(out.Queues, apiQueue(in))
		}
	}
	return out
}

// GetQueue returns one queue with its figures.
func (s *Server) GetQueue(ctx context.Context, caller Identity, name string) (api.Queue, error) {
	info, err := s.queues.Queue(name)
	if err != nil {
		return api.Queue{}, err
	}
	return apiQueue(info), nil
}

// UpdateQueue changes the settings in set of a queue; the others stay.
func (s *Server) UpdateQueue(ctx context.Context, caller Identity, name string, set api.QueueSettings) (api.Queue, error) {
	if set.Name != "" && set.Name != name {
		return api.Queue{}, errdefs.New(errdefs.ErrInvalid, "invalid_request",
			"a queue cannot be renamed (body names %q, path %q)", set.Name, name)
	}
	info, err := s.queues.Queue(name)
	if err != nil {
		return api.Queue{}, err
	}
	if err := s.queues.SetAttributes(name, applySettings(info.Attributes, set)); err != nil {
		return api.Queue{}, err
	}
	if info, err = s.queues.Queue(name); err != nil {
		return api.Queue{}, err
	}
	return apiQueue(info), nil
}

// DeleteQueue deletes a queue and its messages.
func (s *Server) DeleteQueue(ctx context.Context, caller Identity, name string) error {
	if err := s.queues.DeleteQueue(name); err != nil {
		return err
	}
	// Its subscriptions go with it.
	return s.dropQueueSubscriptions(name)
}

// sendInput converts one API message into the engine's form; attributes
// are sorted by name so the stored order is stable.
func sendInput(m api.SendMessage) queue.SendInput {
	in := queue.SendInput{Body: []byte(m.Body), Group: m.Group, DedupID: m.DedupID}
	if m.Delay != nil {
		d := m.Delay.Std()
		in.Delay = &d
	}
	if len(m.Attributes) > 0 {
		in.Attributes = make([]queue.Attr, 0, len(m.Attributes))
		for k, v := range m.Attributes {
			in.Attributes = append(in.Attributes, queue.Attr{Name: k, Type: "String", Value: []byte(v)})
		}
		sort.Slice(in.Attributes, func(i, j int) bool { return in.Attributes[i].Name < in.Attributes[j].Name })
	}
	return in
}

// Send sends one message (given inline) or a batch (Messages). A single
// message that is refused fails the call with its own error; a batch
// reports per entry, as SQS's SendMessageBatch does.
func (s *Server) Send(ctx context.Context, caller Identity, name string, req *api.SendRequest) (api.SendResponse, error) {
	single := len(req.Messages) == 0
	msgs := req.Messages
	if single {
		msgs = []api.SendMessage{req.SendMessage}
	} else if req.Body != "" || req.Attributes != nil || req.Delay != nil {
		return api.SendResponse{}, errdefs.New(errdefs.ErrInvalid, "invalid_request",
			"give either one message inline or a messages list, not both")
	}
	in := make([]queue.SendInput, len(msgs))
	for i, m := range msgs {
		in[i] = sendInput(m)
	}
	res, err := s.queues.Send(name, in)
	if err != nil {
		return api.SendResponse{}, err
	}
	if single && res[0].Err != nil {
		return api.SendResponse{}, res[0].Err
	}
	out := api.SendResponse{Messages: make([]api.SendResult, len(res))}
	for i, r := range res {
		out.Messages[i].ID, out.Messages[i].Duplicate = r.ID, r.Duplicate
		if r.Err == nil {
			out.Messages[i].Seq = r.Seq
		}
		if r.Err != nil {
			out.Messages[i].Error = APIError(r.Err)
		}
	}
	return out, nil
}

// Receive leases up to req.Max messages, waiting up to req.Wait for the
// first. A caller presenting a queue worker's token leases them for its
// allocation. It fails with ctx's error when ctx ends while it waits.
func (s *Server) Receive(ctx context.Context, caller Identity, name string, req *api.ReceiveRequest) (api.ReceiveResponse, error) {
	opts := queue.ReceiveOptions{Max: req.Max, Owner: caller.Owner}
	if req.Wait != nil {
		d := req.Wait.Std()
		opts.Wait = &d
	}
	if req.VisibilityTimeout != nil {
		d := req.VisibilityTimeout.Std()
		opts.VisibilityTimeout = &d
	}
	msgs, err := s.queues.Receive(ctx, name, opts)
	if err != nil {
		if ctx.Err() != nil {
			return api.ReceiveResponse{}, ctx.Err()
		}
		return api.ReceiveResponse{}, err
	}
	out := api.ReceiveResponse{Messages: make([]api.Message, len(msgs))}
	for i, m := range msgs {
		am := api.Message{
			ID:              m.ID,
			Receipt:         m.Receipt,
			Body:            string(m.Body),
			ReceiveCount:    m.ReceiveCount,
			SentAt:          m.SentAt.UTC(),
			FirstReceivedAt: m.FirstReceivedAt.UTC(),
			SourceQueue:     m.SourceQueue,
			Group:           m.Group,
			DedupID:         m.DedupID,
			Seq:             m.Seq,
		}
		if len(m.Attributes) > 0 {
			am.Attributes = make(map[string]string, len(m.Attributes))
			for _, a := range m.Attributes {
				am.Attributes[a.Name] = string(a.Value)
			}
		}
		out.Messages[i] = am
	}
	return out, nil
}

// DeleteMessages deletes messages by their receipts, reporting per
// receipt.
func (s *Server) DeleteMessages(ctx context.Context, caller Identity, name string, req *api.DeleteRequest) (api.DeleteResponse, error) {
	res, err := s.queues.Delete(name, req.Receipts)
	if err != nil {
		return api.DeleteResponse{}, err
	}
	out := api.DeleteResponse{Results: make([]api.DeleteResult, len(res))}
	for i, err := range res {
		out.Results[i].Receipt = req.Receipts[i]
		if err != nil {
			out.Results[i].Error = APIError(err)
		}
	}
	return out, nil
}

// ChangeVisibility makes a leased message visible again after the
// request's timeout.
func (s *Server) ChangeVisibility(ctx context.Context, caller Identity, name string, req api.VisibilityRequest) error {
	return s.queues.ChangeVisibility(name, req.Receipt, time.Duration(req.Timeout))
}

// Purge deletes every message of a queue.
func (s *Server) Purge(ctx context.Context, caller Identity, name string) (api.PurgeResponse, error) {
	n, err := s.queues.Purge(name)
	if err != nil {
		return api.PurgeResponse{}, err
	}
	return api.PurgeResponse{Purged: n}, nil
}

// Redrive moves up to req.Max messages of a dead-letter queue back to the
// queues they came from.
func (s *Server) Redrive(ctx context.Context, caller Identity, name string, req api.RedriveRequest) (api.RedriveResponse, error) {
	n, err := s.queues.Redrive(name, req.Max)
	if err != nil {
		return api.RedriveResponse{}, err
	}
	return api.RedriveResponse{Moved: n}, nil
}
