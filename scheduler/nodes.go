package scheduler

import (
	"context"
	"regexp"
	"time"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// minNodeSecret is the shortest node secret an agent may bring.
const minNodeSecret = 32

// heartbeatInterval is what agents are told: half the TTL, so one lost
// heartbeat does not mark a node down.
func (s *Server) heartbeatInterval() time.Duration { return s.cfg.HeartbeatTTL / 2 }

// RegisterNode registers a node or refreshes what it reports of itself;
// a node that was down is ready again and its jobs are re-evaluated.
func (s *Server) RegisterNode(ctx context.Context, caller Identity, in api.RegisterNodeRequest) (api.RegisterNodeResponse, error) {
	switch {
	case !nodeIDRE.MatchString(in.ID):
		return api.RegisterNodeResponse{}, errdefs.New(errdefs.ErrInvalid, "invalid_node", "node id %q: use 1 to 128 letters, digits, '.', '_' or '-'", in.ID)
	case in.Name == "":
		return api.RegisterNodeResponse{}, errdefs.New(errdefs.ErrInvalid, "invalid_node", "a node needs a name")
	case in.CPU <= 0 || in.Memory <= 0:
		return api.RegisterNodeResponse{}, errdefs.New(errdefs.ErrInvalid, "invalid_node", "a node needs positive cpu and memory, got %d and %d", in.CPU, in.Memory)
	}
	if err := caller.can("node", in.ID, "write"); err != nil {
		return api.RegisterNodeResponse{}, err
	}
	n := &state.Node{
		ID: in.ID, Name: in.Name, Class: in.Class, OS: in.OS, Arch: in.Arch, Kernel: in.Kernel,
		Meta: in.Meta, Address: in.Address, CPU: in.CPU, Memory: in.Memory,
		Healthy: true, TTL: s.cfg.HeartbeatTTL,
	}
	var evals []*state.Evaluation
	var old *state.Node
	s.state.View(func(rd *state.Reader) {
		if old = rd.Node(in.ID); old != nil && old.Status == state.NodeDown {
			// A node that comes back: its jobs see it again.
			evals = nodeEvals(rd, in.ID, triggerNodeUpdate)
		}
	})
	// A node is its secret's: registering it again needs the secret it
	// was given. A new node (or one registered before nodes had secrets)
	// gets the one its agent presents, as Nomad's clients make their own,
	// if it is long enough to be a secret; else the server issues one,
	// which only this answer carries.
	var issued string
	switch {
	case old != nil && old.SecretHash != "":
		if err := checkNodeSecret(caller, old, in.ID); err != nil {
			return api.RegisterNodeResponse{}, err
		}
		n.SecretHash = old.SecretHash
	case len(caller.NodeSecret) >= minNodeSecret:
		n.SecretHash = hashSecret(caller.NodeSecret)
	default:
		issued = randomSecret()
		n.SecretHash = hashSecret(issued)
	}
	res, err := s.state.Apply(state.RegisterNode{Node: n, Evals: evals})
	if err != nil {
		return api.RegisterNodeResponse{}, err
	}
	s.hb.reset(in.ID)
	s.submit(evals...)
	s.broker.unblock(s.now()) // new capacity
	s.logger.Info("node registered", "node", in.ID, "name", in.Name, "cpu", in.CPU, "memory_mib", in.Memory)
	return api.RegisterNodeResponse{Node: apiNode(res.Node), HeartbeatInterval: s.heartbeatInterval(), NodeSecret: issued}, nil
}

// checkNodeSecret fails with node_secret_mismatch unless the caller
// presents the secret of node n (called id; nil if there is none).
func checkNodeSecret(caller Identity, n *state.Node, id string) error {
	if n != nil && secretMatches(n.SecretHash, caller.NodeSecret) {
		return nil
	}
	if caller.NodeSecret == "" {
		return errdefs.New(errdefs.ErrPermissionDenied, "node_secret_mismatch",
			"calls for node %q must present its node secret (%s)", id, api.NodeSecretHeader)
	}
	return errdefs.New(errdefs.ErrPermissionDenied, "node_secret_mismatch", "the node secret is not node %q's", id)
}

// CheckNodeChannel lets a call on a node's own channel through (the
// agent asking what the server wants of it, such as a task's logs, and
// answering) only from a caller that presents the node's secret.
func (s *Server) CheckNodeChannel(ctx context.Context, caller Identity, id string) error {
	var node *state.Node
	s.state.View(func(rd *state.Reader) { node = rd.Node(id) })
	if node == nil {
		return errdefs.New(errdefs.ErrNotFound, "node_not_found", "node %q is not registered", id)
	}
	return checkNodeSecret(caller, node, id)
}

// Heartbeat renews a node's TTL and records its measured use and health.
// A node that was marked down is told to register again.
func (s *Server) Heartbeat(ctx context.Context, caller Identity, id string, in *api.HeartbeatRequest) (api.HeartbeatResponse, error) {
	var node *state.Node
	s.state.View(func(rd *state.Reader) { node = rd.Node(id) })
	if node == nil {
		return api.HeartbeatResponse{}, errdefs.New(errdefs.ErrNotFound, "node_not_found", "node %q is not registered", id)
	}
	if err := checkNodeSecret(caller, node, id); err != nil {
		return api.HeartbeatResponse{}, err
	}
	s.hb.reset(id)
	s.usageMu.Lock()
	s.usage[id] = &api.NodeUsage{At: s.now().UTC(), CPU: in.UsedCPU, Memory: in.UsedMemory, Tasks: in.Tasks}
	s.usageMu.Unlock()
	if node.Status == state.NodeDown {
		// It missed its TTL and comes back: it must register again, which
		// marks it ready and re-evaluates its jobs.
		return api.HeartbeatResponse{HeartbeatInterval: s.heartbeatInterval(), Reregister: true}, nil
	}
	if node.Healthy != in.Healthy || node.HealthReason != in.HealthReason {
		if _, err := s.state.Apply(state.SetNodeHealth{ID: id, Healthy: in.Healthy, Reason: in.HealthReason}); err != nil {
			return api.HeartbeatResponse{}, err
		}
	}
	return api.HeartbeatResponse{HeartbeatInterval: s.heartbeatInterval()}, nil
}

// nodeExpired marks a node that missed its heartbeats down and
// re-evaluates every job with allocations on it.
func (s *Server) nodeExpired(id string) {
	var evals []*state.Evaluation
	var status string
	s.state.View(func(rd *state.Reader) {
		if n := rd.Node(id); n != nil {
			status = n.Status
			evals = nodeEvals(rd, id, triggerNodeUpdate)
		}
	})
	if status != state.NodeReady {
		return
	}
	if _, err := s.state.Apply(state.SetNodeStatus{ID: id, Status: state.NodeDown, Evals: evals}); err != nil {
		s.logger.Error("mark node down", "node", id, "err", err)
		return
	}
	s.logger.Warn("node missed its heartbeats: marked down", "node", id, "jobs", len(evals))
	s.submit(evals...)
}

// ListNodes lists every node with its use; a blocking query on the nodes
// table.
func (s *Server) ListNodes(ctx context.Context, caller Identity, q Query) (api.NodeList, uint64, error) {
	idx, err := s.block(ctx, q, func(rd *state.Reader) uint64 { return rd.TableIndex(state.TableNodes) })
	if err != nil {
		return api.NodeList{}, 0, err
	}
	var out api.NodeList
	s.state.View(func(rd *state.Reader) {
		for _, n := range rd.Nodes() {
			if caller.ACL.Allowed("node", n.ID, "read") {
				out.Nodes = append(out.Nodes, s.nodeStatus(rd, n))
			}
		}
	})
	if out.Nodes == nil {
		out.Nodes = []api.NodeStatus{}
	}
	return out, idx, nil
}

func (s *Server) nodeStatus(rd *state.Reader, n *state.Node) api.NodeStatus {
	cpu, mem := rd.NodeUsage(n.ID)
	live := 0
	for _, a := range rd.Allocs("", n.ID, "") {
		if a.Holds() {
			live++
		}
	}
	s.usageMu.Lock()
	measured := s.usage[n.ID]
	s.usageMu.Unlock()
	return api.NodeStatus{Node: apiNode(n), UsedCPU: cpu, UsedMemory: mem, Allocations: live, Measured: measured}
}

func apiNode(n *state.Node) api.Node {
	out := api.Node{
		ID: n.ID, Name: n.Name, Class: n.Class, OS: n.OS, Arch: n.Arch, Kernel: n.Kernel, Meta: n.Meta,
		Address: n.Address, CPU: n.CPU, Memory: n.Memory, Status: n.Status, Eligible: n.Eligible,
		Healthy: n.Healthy, HealthReason: n.HealthReason, TTL: n.TTL, StatusAt: n.StatusAt,
		RegisteredAt: n.RegisteredAt, CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
	}
	if n.Drain != nil {
		out.Drain = &api.Drain{StartedAt: n.Drain.StartedAt, Deadline: n.Drain.Deadline}
	}
	return out
}

// GetNode returns one node with its use.
func (s *Server) GetNode(ctx context.Context, caller Identity, id string) (api.NodeStatus, error) {
	var out *api.NodeStatus
	s.state.View(func(rd *state.Reader) {
		if n := rd.Node(id); n != nil {
			ns := s.nodeStatus(rd, n)
			out = &ns
		}
	})
	if out == nil {
		return api.NodeStatus{}, errdefs.New(errdefs.ErrNotFound, "node_not_found", "node %q does not exist", id)
	}
	return *out, nil
}

// DrainNode starts or ends a node's drain: its allocations move elsewhere,
// and those still on it when the deadline passes are stopped.
func (s *Server) DrainNode(ctx context.Context, caller Identity, id string, in api.DrainRequest) (api.Node, error) {
	var drain *state.Drain
	if in.Enable {
		drain = &state.Drain{StartedAt: s.now()}
		if in.Deadline != "" {
			d, err := specs.ParseDuration(in.Deadline)
			if err != nil || d < 0 {
				return api.Node{}, errdefs.New(errdefs.ErrInvalid, "invalid_deadline", "deadline %q is not a duration", in.Deadline)
			}
			if d > 0 {
				drain.Deadline = drain.StartedAt.Add(d.Std())
			}
		}
	}
	n, err := s.changeNode(id, triggerNodeDrain, func(evals []*state.Evaluation) state.Command {
		return state.SetNodeDrain{ID: id, Drain: drain, Eligible: in.MarkEligible, Evals: evals}
	})
	if err != nil {
		return api.Node{}, err // nothing changed: the node's deadline, if any, stands
	}
	s.syncDrainDeadline(id)
	return apiNode(n), nil
}

// SetNodeEligibility makes a node eligible for new allocations or not.
func (s *Server) SetNodeEligibility(ctx context.Context, caller Identity, id string, in api.EligibilityRequest) (api.Node, error) {
	n, err := s.changeNode(id, triggerNodeUpdate, func(evals []*state.Evaluation) state.Command {
		return state.SetNodeEligibility{ID: id, Eligible: in.Eligible, Evals: evals}
	})
	if err != nil {
		return api.Node{}, err
	}
	return apiNode(n), nil
}

// changeNode applies a node command with an evaluation for every job on
// the node, and returns the node as committed.
func (s *Server) changeNode(id, trigger string, cmd func([]*state.Evaluation) state.Command) (*state.Node, error) {
	var evals []*state.Evaluation
	s.state.View(func(rd *state.Reader) { evals = nodeEvals(rd, id, trigger) })
	res, err := s.state.Apply(cmd(evals))
	if err != nil {
		return nil, err
	}
	s.submit(evals...)
	s.broker.unblock(s.now())
	return res.Node, nil
}

// syncDrainDeadline makes a node's drain-deadline timer match its drain as
// committed: a drain with a deadline (re)schedules it, and no drain or one
// without a deadline cancels it. It reads the drain from the state, under
// drainMu, so that of two drain commands racing the later commit's
// deadline is the one kept.
func (s *Server) syncDrainDeadline(id string) {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	var deadline time.Time
	s.state.View(func(rd *state.Reader) {
		if n := rd.Node(id); n != nil && n.Drain != nil {
			deadline = n.Drain.Deadline
		}
	})
	if deadline.IsZero() {
		s.drains.cancel(id)
		return
	}
	s.scheduleDrainDeadline(id, deadline)
}

// scheduleDrainDeadline stops what is still on a draining node when its
// deadline passes. The timer replaces the node's previous one and is kept
// in s.drains, which Close stops.
func (s *Server) scheduleDrainDeadline(id string, deadline time.Time) {
	s.drains.after(id, time.Until(deadline), func() {
		var stops []state.AllocStop
		var evals []*state.Evaluation
		s.state.View(func(rd *state.Reader) {
			n := rd.Node(id)
			if n == nil || n.Drain == nil || !n.Drain.Deadline.Equal(deadline) {
				return // the drain ended or changed
			}
			for _, a := range rd.Allocs("", id, "") {
				if a.Live() {
					stops = append(stops, state.AllocStop{ID: a.ID, Reason: "drain deadline"})
				}
			}
			evals = nodeEvals(rd, id, triggerNodeDrain)
		})
		if len(stops) == 0 {
			return
		}
		if _, err := s.state.Apply(state.ApplyPlan{Stop: stops}); err != nil {
			s.logger.Error("drain deadline", "node", id, "err", err)
			return
		}
		if _, err := s.state.Apply(state.UpsertEvals{Evals: evals}); err == nil {
			s.submit(evals...)
		}
	})
}

// NodeAllocations is the agents' blocking query: every allocation on the
// node, with the job version each runs.
func (s *Server) NodeAllocations(ctx context.Context, caller Identity, id string, q Query) (api.NodeAllocations, uint64, error) {
	// What a node's allocations carry (messages, workers' credentials) is
	// for its agent only.
	var node *state.Node
	s.state.View(func(rd *state.Reader) { node = rd.Node(id) })
	if node == nil {
		return api.NodeAllocations{}, 0, errdefs.New(errdefs.ErrNotFound, "node_not_found", "node %q does not exist", id)
	}
	if err := checkNodeSecret(caller, node, id); err != nil {
		return api.NodeAllocations{}, 0, err
	}
	idx, err := s.block(ctx, q, func(rd *state.Reader) uint64 { return rd.NodeViewIndex(id) })
	if err != nil {
		return api.NodeAllocations{}, 0, err
	}
	out := api.NodeAllocations{Index: idx, Allocations: []api.NodeAllocation{}}
	known := true
	s.state.View(func(rd *state.Reader) {
		if rd.Node(id) == nil {
			known = false
			return
		}
		jobs := map[string]*api.Job{}
		for _, a := range rd.Allocs("", id, "") {
			if state.Terminal(a.ClientStatus) {
				// Ended: nothing for the agent to do but what it does for
				// any container it does not find here (stop and remove).
				continue
			}
			key := a.Job + "/" + itoa(a.JobVersion)
			j, ok := jobs[key]
			if !ok {
				if spec := rd.JobVersion(a.Job, a.JobVersion); spec != nil {
					j = &api.Job{Name: a.Job, Version: a.JobVersion, Spec: spec}
				}
				jobs[key] = j
			}
			na := api.NodeAllocation{Allocation: apiAlloc(a), Job: j}
			if j != nil && j.Spec.QueueWorkers() {
				na.QueueToken = s.queueToken(a.ID)
				key := s.allocKey(a.ID)
				na.SQS = &api.SQSCredentials{Region: s.sqsRegion(), AccessKeyID: key.ID, SecretAccessKey: key.Secret}
			}
			if a.Dispatch != nil && a.Live() {
				na.Message = s.dispatchMessage(a.Dispatch)
			}
			if j != nil && j.Spec.Function != nil {
				na.Function = &api.FunctionEnv{ARN: s.FunctionARN(a.Job), Region: s.sqsRegion(), Version: FunctionVersion}
			}
			out.Allocations = append(out.Allocations, na)
		}
	})
	if !known {
		return api.NodeAllocations{}, idx, errdefs.New(errdefs.ErrNotFound, "node_not_found", "node %q does not exist", id)
	}
	return out, idx, nil
}

// dispatchMessage is the message a dispatch allocation processes, as its
// task gets it; nil if the message is gone (deleted meanwhile).
func (s *Server) dispatchMessage(d *state.Dispatch) *api.DispatchMessage {
	m, err := s.queues.Peek(d.Queue, d.Receipt)
	if err != nil {
		return nil
	}
	out := &api.DispatchMessage{ID: m.ID, Queue: d.Queue, ReceiveCount: m.ReceiveCount, Body: string(m.Body)}
	if len(m.Attributes) > 0 {
		out.Attributes = make(map[string]string, len(m.Attributes))
		for _, a := range m.Attributes {
			out.Attributes[a.Name] = string(a.Value)
		}
	}
	return out
}

// sqsRegion is the region tasks' AWS SDKs are told to use.
func (s *Server) sqsRegion() string {
	if s.cfg.SQSRegion != "" {
		return s.cfg.SQSRegion
	}
	return "us-east-1"
}
