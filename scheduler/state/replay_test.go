package state

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docketd/docket/internal/store"
	"github.com/docketd/docket/specs"
)

var replaySeed = flag.Uint64("replay-seed", 0, "seed of TestReplayGivesTheSameState (0: a new one)")

// TestReplayGivesTheSameState applies a long randomized sequence of
// commands (jobs registered, changed, scaled, stopped and purged; nodes
// registered, marked down, drained, made ineligible and unhealthy; plans
// that place and stop, some no longer fitting; status reports; evaluation
// updates; settled dispatches; garbage collection) through Apply, records
// every entry Apply stamped, encodes and decodes each, and applies them
// with ApplyEntry to a fresh state on a fresh store whose clock fails the
// test if read. Every entry must give the same result, and the two states
// the same records, indexes, derived sums and events; the first state's
// store, reopened, must hold the same records as its memory.
func TestReplayGivesTheSameState(t *testing.T) {
	seed := *replaySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (go test -run TestReplayGivesTheSameState -replay-seed=%d)", seed, seed)
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	dir := t.TempDir()
	db, err := store.Open(store.Options{Path: filepath.Join(dir, "first.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	g := newCommandGen(seed)
	first, err := Open(db, g.now)
	if err != nil {
		t.Fatal(err)
	}
	var entries []Entry
	first.applied = func(e Entry) { entries = append(entries, e) }
	var outcomes []string
	kinds := map[string]int{}
	for range steps {
		cmd := g.next()
		res, err := first.Apply(cmd)
		outcomes = append(outcomes, outcome(t, res, err))
		switch {
		case err != nil:
			kinds["refused"]++
		case res.Noop:
			kinds["no-op"]++
		case len(res.Rejected) > 0:
			kinds["plans with rejections"]++
		}
		kinds[commandName(cmd)]++
	}
	t.Logf("applied %d commands: %v", steps, kinds)
	for _, k := range []string{"refused", "no-op", "plans with rejections", "StopJobPurge", "DeleteAllocs", "SettleDispatch", "BootstrapACL", "UpsertACLTokens", "DeleteACLPolicies"} {
		if kinds[k] == 0 {
			t.Errorf("the sequence had no %s: it tests less than it should", k)
		}
	}
	if len(entries) != steps {
		t.Fatalf("recorded %d entries of %d commands", len(entries), steps)
	}

	replay := openNoClock(t)
	for i, e := range entries {
		b, err := EncodeEntry(e)
		if err != nil {
			t.Fatalf("entry %d: encode: %v", i, err)
		}
		d, err := DecodeEntry(b)
		if err != nil {
			t.Fatalf("entry %d: decode %s: %v", i, b, err)
		}
		res, err := replay.ApplyEntry(d)
		if got := outcome(t, res, err); got != outcomes[i] {
			t.Fatalf("entry %d (%s): replayed\n%s\nfirst applied as\n%s", i, b, got, outcomes[i])
		}
	}
	diff(t, "replayed records", image(t, replay), image(t, first))
	diff(t, "replayed indexes", indexImage(replay), indexImage(first))
	diff(t, "replayed events", eventImage(t, replay), eventImage(t, first))

	// Memory is what is on disk.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := store.Open(store.Options{Path: filepath.Join(dir, "first.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	reopened, err := Open(db2, g.now)
	if err != nil {
		t.Fatal(err)
	}
	reopened.check(t)
	diff(t, "records reopened from disk", image(t, reopened), image(t, first))
}

// outcome is what a command's result tells its caller, as text.
func outcome(t *testing.T, res Result, err error) string {
	t.Helper()
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("index %d noop %v changed %v rejected %v job %s node %s evals %s",
		res.Index, res.Noop, res.JobChanged, res.Rejected, jsonOf(t, res.Job), jsonOf(t, res.Node), jsonOf(t, res.Evals))
}

func diff(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("%s differ, first at line %d:\n got %s\nwant %s", what, i+1, gl, wl)
			return
		}
	}
}

// image is every record of the state, its index and what it derives from
// its records (usage, counts, the per-node, per-job and per-status
// indexes' contents), in a canonical order.
func image(t *testing.T, s *State) string {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	fmt.Fprintf(&b, "index %d\n", s.index)
	for _, name := range slices.Sorted(maps.Keys(s.jobs)) {
		fmt.Fprintf(&b, "job %s\n", jsonOf(t, s.jobs[name]))
	}
	for _, name := range slices.Sorted(maps.Keys(s.versions)) {
		for _, v := range slices.Sorted(maps.Keys(s.versions[name])) {
			fmt.Fprintf(&b, "version %s/%d %s\n", name, v, jsonOf(t, s.versions[name][v]))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.nodes)) {
		fmt.Fprintf(&b, "node %s\n", jsonOf(t, s.nodes[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.allocs)) {
		fmt.Fprintf(&b, "alloc %s\n", jsonOf(t, s.allocs[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.evals)) {
		fmt.Fprintf(&b, "eval %s\n", jsonOf(t, s.evals[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.usage)) {
		if u := s.usage[id]; u != (resources{}) {
			fmt.Fprintf(&b, "usage %s %d/%d\n", id, u.cpu, u.memory)
		}
	}
	for _, st := range slices.Sorted(maps.Keys(s.allocCount)) {
		if n := s.allocCount[st]; n != 0 {
			fmt.Fprintf(&b, "count %s %d\n", st, n)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.allocsByNode)) {
		fmt.Fprintf(&b, "on node %s: %v\n", id, slices.Sorted(maps.Keys(s.allocsByNode[id])))
	}
	for _, name := range slices.Sorted(maps.Keys(s.allocsByJob)) {
		fmt.Fprintf(&b, "of job %s: %v\n", name, slices.Sorted(maps.Keys(s.allocsByJob[name])))
	}
	for _, name := range slices.Sorted(maps.Keys(s.evalsByJob)) {
		fmt.Fprintf(&b, "evals of job %s: %v\n", name, slices.Sorted(maps.Keys(s.evalsByJob[name])))
	}
	fmt.Fprintf(&b, "acl bootstrapped at %d\n", s.acl.bootstrap)
	for _, name := range slices.Sorted(maps.Keys(s.acl.policies)) {
		fmt.Fprintf(&b, "policy %s\n", jsonOf(t, s.acl.policies[name]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.acl.tokens)) {
		fmt.Fprintf(&b, "token %s\n", jsonOf(t, s.acl.tokens[id]))
	}
	for _, h := range slices.Sorted(maps.Keys(s.acl.bySecret)) {
		fmt.Fprintf(&b, "secret %s: %s\n", h, s.acl.bySecret[h].AccessorID)
	}
	for _, k := range slices.Sorted(maps.Keys(s.acl.byAWSKey)) {
		fmt.Fprintf(&b, "aws key %s: %s\n", k, s.acl.byAWSKey[k].AccessorID)
	}
	return b.String()
}

// indexImage is where the state's table, node, node-view and job indexes
// stand. A reopened state reads every one as changed at its loaded index,
// so this compares two live states only.
func indexImage(s *State) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	for _, m := range []struct {
		name string
		m    map[string]uint64
	}{{"table", s.tableIndex}, {"node", s.nodeIndex}, {"view", s.viewIndex}, {"job", s.jobIndex}} {
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			fmt.Fprintf(&b, "%s %s %d\n", m.name, k, m.m[k])
		}
	}
	r := &Reader{s: s}
	for _, id := range slices.Sorted(maps.Keys(s.nodes)) {
		fmt.Fprintf(&b, "reader node %s allocs %d view %d\n", id, r.NodeAllocsIndex(id), r.NodeViewIndex(id))
	}
	return b.String()
}

// eventImage is the events the state keeps, in order.
func eventImage(t *testing.T, s *State) string {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	events, _ := s.events.since(0)
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%d %s %s %s %s\n", e.Index, e.Topic, e.Type, e.Key, jsonOf(t, e.Payload))
	}
	return b.String()
}

// commandGen makes a random but seeded sequence of commands over a few
// jobs and nodes. It remembers the IDs it handed out, not what the state
// made of them, so that the sequence depends on the seed alone: some of
// its commands name allocations and evaluations that were never placed,
// were rejected, or were deleted since, and some are refused.
type commandGen struct {
	rng    *rand.Rand
	clock  time.Time
	ids    int
	allocs []string // every allocation ID proposed, oldest first
	disp   []string // those with a dispatch
	evals  []string // every evaluation ID proposed
}

func newCommandGen(seed uint64) *commandGen {
	return &commandGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clock: time.Unix(1700000000, 0).UTC()}
}

// now is the first state's clock: it moves on by up to a second per read,
// from the generator's own random source.
func (g *commandGen) now() time.Time {
	g.clock = g.clock.Add(time.Duration(g.rng.IntN(1000)) * time.Millisecond)
	return g.clock
}

func (g *commandGen) id(prefix string) string {
	g.ids++
	return fmt.Sprintf("%s%d", prefix, g.ids)
}

func (g *commandGen) pick(xs []string) string {
	if len(xs) == 0 || g.rng.IntN(20) == 0 {
		return "unknown"
	}
	// Mostly recent ones: they are the ones still there.
	return xs[len(xs)-1-min(len(xs)-1, g.rng.IntN(60))]
}

func (g *commandGen) job() string  { return fmt.Sprintf("job%d", g.rng.IntN(8)) }
func (g *commandGen) node() string { return fmt.Sprintf("n%d", g.rng.IntN(12)) }
func (g *commandGen) chance(n int) bool {
	return g.rng.IntN(n) == 0
}

func (g *commandGen) eval(job string) *Evaluation {
	e := &Evaluation{ID: g.id("e"), Job: job, TriggeredBy: "test", Status: EvalPending}
	if g.chance(4) {
		e.WaitUntil = g.clock.Add(time.Minute)
	}
	g.evals = append(g.evals, e.ID)
	return e
}

func (g *commandGen) evalsMaybe(job string) []*Evaluation {
	if g.chance(2) {
		return nil
	}
	return []*Evaluation{g.eval(job)}
}

func (g *commandGen) spec(name string) *specs.Job {
	j := job(name, 1+g.rng.IntN(4))
	j.Tasks[0].Resources.CPU = 100 * (1 + g.rng.IntN(3))
	switch g.rng.IntN(4) {
	case 0:
		j.Count = 0
		j.Scaling = &specs.Scaling{Min: g.rng.IntN(2), Max: 2 + g.rng.IntN(4), MessagesPerTask: 5, Cooldown: specs.Duration(time.Minute)}
	case 1:
		// Empty where the spec before had none: the same version once
		// encoded, and so here.
		j.Constraints, j.Spreads = []specs.Constraint{}, []specs.Spread{}
		j.Tasks[0].Env = map[string]string{}
	case 2:
		j.Constraints = []specs.Constraint{{Attribute: "node.class", Operator: "=", Value: "c"}}
		j.Tasks[0].Env = map[string]string{"K": fmt.Sprint(g.rng.IntN(2))}
	}
	return j
}

func (g *commandGen) tasks() map[string]*TaskState {
	switch g.rng.IntN(3) {
	case 0:
		return nil
	case 1:
		return map[string]*TaskState{}
	}
	return map[string]*TaskState{"t": {State: "running", Restarts: g.rng.IntN(3), StartedAt: g.clock}}
}

func (g *commandGen) next() Command {
	switch r := g.rng.IntN(100); {
	case r < 10:
		name := g.job()
		if g.chance(40) {
			name = "" // refused: a job needs a name
		}
		var eval *Evaluation
		if g.chance(2) {
			eval = g.eval(name)
		}
		return RegisterJob{Spec: g.spec(name), Eval: eval}
	case r < 13:
		name := g.job()
		return StopJob{Name: name, Purge: g.chance(2), Eval: g.eval(name)}
	case r < 16:
		name := g.job()
		return ScaleJob{Name: name, Count: g.rng.IntN(6), Eval: g.eval(name)}
	case r < 21:
		// A node's capacity is its own (n3 offers 4000/4096): what it
		// holds never exceeds it.
		k := g.rng.IntN(12)
		id := fmt.Sprintf("n%d", k)
		n := node(id, int64(1000*(1+k%4)), int64(1024*(1+k%4)))
		if g.chance(2) {
			n.Class, n.Meta = "c", map[string]string{"zone": fmt.Sprint(g.rng.IntN(3))}
		}
		if g.chance(2) {
			n.SecretHash = fmt.Sprintf("h%d", k) // or none: refused once the node has one
		}
		return RegisterNode{Node: n, Evals: g.evalsMaybe(g.job())}
	case r < 25:
		status := NodeReady
		if g.chance(2) {
			status = NodeDown
		}
		return SetNodeStatus{ID: g.node(), Status: status, Evals: g.evalsMaybe(g.job())}
	case r < 29:
		c := SetNodeDrain{ID: g.node(), Eligible: g.chance(2), Evals: g.evalsMaybe(g.job())}
		if g.chance(3) {
			c.Drain = &Drain{StartedAt: g.clock}
			if g.chance(2) {
				c.Drain.Deadline = g.clock.Add(time.Hour)
			}
		}
		return c
	case r < 32:
		return SetNodeEligibility{ID: g.node(), Eligible: !g.chance(4), Evals: g.evalsMaybe(g.job())}
	case r < 35:
		return SetNodeHealth{ID: g.node(), Healthy: g.chance(2), Reason: "r"}
	case r < 60:
		name := g.job()
		p := ApplyPlan{EvalID: g.pick(g.evals)}
		for range g.rng.IntN(6) {
			a := &Allocation{ID: g.id("a"), Job: name, JobVersion: 1, Index: g.rng.IntN(5), NodeID: g.node(),
				CPU: int64(100 * (1 + g.rng.IntN(12))), Memory: int64(64 * (1 + g.rng.IntN(24))), Tasks: g.tasks()}
			if g.chance(4) {
				a.Dispatch = &Dispatch{Queue: "q", MessageID: g.id("m"), Receipt: "r", SentAt: g.clock}
				g.disp = append(g.disp, a.ID)
			}
			p.Place = append(p.Place, a)
			g.allocs = append(g.allocs, a.ID)
		}
		for range g.rng.IntN(3) {
			st := AllocStop{ID: g.pick(g.allocs), Reason: "test"}
			if g.chance(3) {
				st.ClientStatus = AllocLost
			}
			p.Stop = append(p.Stop, st)
		}
		if g.chance(2) {
			p.Evals = []*Evaluation{{ID: g.pick(g.evals), Job: name, Status: EvalComplete}, g.eval(name)}
		}
		return p
	case r < 80:
		c := UpdateAllocs{Reported: g.chance(2), Evals: g.evalsMaybe(g.job())}
		statuses := []string{AllocRunning, AllocRunning, AllocPending, AllocComplete, AllocFailed, AllocLost, ""}
		for range 1 + g.rng.IntN(3) {
			u := AllocUpdate{ID: g.pick(g.allocs), ClientStatus: statuses[g.rng.IntN(len(statuses))], Tasks: g.tasks()}
			if g.chance(2) {
				u.At = g.clock
			}
			if g.chance(3) {
				u.ClientReason = "why"
			}
			c.Updates = append(c.Updates, u)
		}
		return c
	case r < 85:
		var c UpsertEvals
		for range 1 + g.rng.IntN(3) {
			if g.chance(2) {
				c.Evals = append(c.Evals, &Evaluation{ID: g.pick(g.evals), Job: g.job(), Status: EvalComplete, Placed: g.rng.IntN(4)})
			} else {
				c.Evals = append(c.Evals, g.eval(g.job()))
			}
		}
		return c
	case r < 89:
		return SettleDispatch{IDs: []string{g.pick(g.disp), g.pick(g.disp)}}
	case r < 93:
		return DeleteEvals{IDs: []string{g.pick(g.evals), g.pick(g.evals), g.pick(g.evals)}}
	case r < 97:
		return DeleteAllocs{IDs: []string{g.pick(g.allocs), g.pick(g.allocs), g.pick(g.allocs)}}
	default:
		return g.aclCommand()
	}
}

// aclCommand is one of the ACL's commands: a bootstrap (refused once
// made), policies and tokens created, changed and deleted, some with a
// secret or key another token holds.
func (g *commandGen) aclCommand() Command {
	policy := func() string { return fmt.Sprintf("p%d", g.rng.IntN(4)) }
	token := func() *ACLToken {
		t := &ACLToken{AccessorID: fmt.Sprintf("t%d", g.rng.IntN(6)), SecretHash: fmt.Sprintf("s%d", g.rng.IntN(8)),
			Type: TokenClient, Policies: []string{policy()}}
		if g.chance(3) {
			t.AWSKeyID, t.AWSSecret = fmt.Sprintf("AKID%d", g.rng.IntN(4)), "secret"
		}
		if g.chance(3) {
			t.ExpiresAt = g.clock.Add(time.Hour)
		}
		return t
	}
	switch g.rng.IntN(5) {
	case 0:
		t := token()
		t.Type = TokenManagement
		return BootstrapACL{Token: t}
	case 1:
		return UpsertACLPolicies{Policies: []*ACLPolicy{{Name: policy(), Rules: fmt.Sprintf(`queue "q%d" { capabilities = ["read"] }`, g.rng.IntN(3))}}}
	case 2:
		return DeleteACLPolicies{Names: []string{policy()}}
	case 3:
		return UpsertACLTokens{Tokens: []*ACLToken{token()}}
	default:
		return DeleteACLTokens{AccessorIDs: []string{fmt.Sprintf("t%d", g.rng.IntN(6))}}
	}
}
