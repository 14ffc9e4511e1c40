package scheduler

import (
	"net/http"
	"sort"
	"strings"
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
	return a
}

// QueueAttributes converts a queue block of a job file into the engine's
// attributes.
func QueueAttributes(q *specs.Queue) queue.Attributes {
	return queue.Attributes{
		VisibilityTimeout: q.VisibilityTimeout.Std(),
		Retention:         q.Retention.Std(),
		Delay:             q.Delay.Std(),
		ReceiveWait:       q.ReceiveWait.Std(),
		MaxMessageSize:    int64(q.MaxMessageSize),
		MaxReceives:       q.MaxReceives,
		DeadLetter:        q.DeadLetter,
	}
}

func apiQueue(in queue.Info) api.Queue {
	a := in.Attributes
	st := in.Stats
	return api.Queue{
		Queue: specs.Queue{
			Name:              in.Name,
			VisibilityTimeout: specs.Duration(a.VisibilityTimeout),
			Retention:         specs.Duration(a.Retention),
			Delay:             specs.Duration(a.Delay),
			ReceiveWait:       specs.Duration(a.ReceiveWait),
			MaxMessageSize:    specs.Size(a.MaxMessageSize),
			MaxReceives:       a.MaxReceives,
			DeadLetter:        a.DeadLetter,
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

func (s *Server) createQueue(w http.ResponseWriter, r *http.Request) {
	var in api.QueueSettings
	if err := decode(w, r, &in, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	created, err := s.queues.CreateQueue(in.Name, applySettings(queue.DefaultAttributes(), in))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.queues.Queue(in.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, api.QueueCreated{Queue: apiQueue(info), Created: created})
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	infos := s.queues.Queues()
	out := api.QueueList{Queues: make([]api.Queue, 0, len(infos))}
	for _, in := range infos {
		out.Queues = append(out.Queues, apiQueue(in))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getQueue(w http.ResponseWriter, r *http.Request) {
	info, err := s.queues.Queue(r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiQueue(info))
}

func (s *Server) updateQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var in api.QueueSettings
	if err := decode(w, r, &in, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.Name != "" && in.Name != name {
		s.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_request",
			"a queue cannot be renamed (body names %q, path %q)", in.Name, name))
		return
	}
	info, err := s.queues.Queue(name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.queues.SetAttributes(name, applySettings(info.Attributes, in)); err != nil {
		s.writeError(w, r, err)
		return
	}
	if info, err = s.queues.Queue(name); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiQueue(info))
}

func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request) {
	if err := s.queues.DeleteQueue(r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sendInput converts one API message into the engine's form; attributes
// are sorted by name so the stored order is stable.
func sendInput(m api.SendMessage) queue.SendInput {
	in := queue.SendInput{Body: []byte(m.Body)}
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

func (s *Server) sendMessages(w http.ResponseWriter, r *http.Request) {
	var req api.SendRequest
	if err := decode(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	single := len(req.Messages) == 0
	msgs := req.Messages
	if single {
		msgs = []api.SendMessage{req.SendMessage}
	} else if req.Body != "" || req.Attributes != nil || req.Delay != nil {
		s.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_request",
			"give either one message inline or a messages list, not both"))
		return
	}
	in := make([]queue.SendInput, len(msgs))
	for i, m := range msgs {
		in[i] = sendInput(m)
	}
	res, err := s.queues.Send(r.PathValue("name"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A single message that failed fails the request with its own status;
	// a batch reports per entry, as SQS's SendMessageBatch does.
	if single && res[0].Err != nil {
		s.writeError(w, r, res[0].Err)
		return
	}
	out := api.SendResponse{Messages: make([]api.SendResult, len(res))}
	for i, r := range res {
		out.Messages[i].ID = r.ID
		if r.Err != nil {
			out.Messages[i].Error = apiError(r.Err)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) receiveMessages(w http.ResponseWriter, r *http.Request) {
	var req api.ReceiveRequest
	if err := decode(w, r, &req, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	opts := queue.ReceiveOptions{Max: req.Max}
	if token := requestToken(r); token != "" {
		owner, ok := s.tokenOwner(token)
		if !ok {
			s.writeError(w, r, errdefs.New(errdefs.ErrInvalid, "invalid_token", "the queue token is not valid"))
			return
		}
		opts.Owner = owner
	}
	if req.Wait != nil {
		d := req.Wait.Std()
		opts.Wait = &d
	}
	if req.VisibilityTimeout != nil {
		d := req.VisibilityTimeout.Std()
		opts.VisibilityTimeout = &d
	}
	msgs, err := s.queues.Receive(r.Context(), r.PathValue("name"), opts)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away while waiting
		}
		s.writeError(w, r, err)
		return
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
		}
		if len(m.Attributes) > 0 {
			am.Attributes = make(map[string]string, len(m.Attributes))
			for _, a := range m.Attributes {
				am.Attributes[a.Name] = string(a.Value)
			}
		}
		out.Messages[i] = am
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteMessages(w http.ResponseWriter, r *http.Request) {
	var req api.DeleteRequest
	if err := decode(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.queues.Delete(r.PathValue("name"), req.Receipts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := api.DeleteResponse{Results: make([]api.DeleteResult, len(res))}
	for i, err := range res {
		out.Results[i].Receipt = req.Receipts[i]
		if err != nil {
			out.Results[i].Error = apiError(err)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) changeVisibility(w http.ResponseWriter, r *http.Request) {
	var req api.VisibilityRequest
	if err := decode(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.queues.ChangeVisibility(r.PathValue("name"), req.Receipt, time.Duration(req.Timeout)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) purgeQueue(w http.ResponseWriter, r *http.Request) {
	n, err := s.queues.Purge(r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.PurgeResponse{Purged: n})
}

func (s *Server) redriveQueue(w http.ResponseWriter, r *http.Request) {
	var req api.RedriveRequest
	if err := decode(w, r, &req, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.queues.Redrive(r.PathValue("name"), req.Max)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RedriveResponse{Moved: n})
}

// requestToken returns the worker token a request carries, in
// X-Docket-Token or as a bearer token.
func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Docket-Token"); t != "" {
		return t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return ""
}
