package state

import (
	"fmt"
	"reflect"
	"time"

	"github.com/docketd/docket/specs"
)

// fullSpec is a job spec with every optional part set: scaling, update,
// constraints, spreads, and tasks with commands, arguments and an
// environment.
func fullSpec(name string) *specs.Job {
	return &specs.Job{Name: name, Type: specs.JobService, Queue: name + "-in", Priority: 70,
		Scaling:     &specs.Scaling{Min: 1, Max: 4, MessagesPerTask: 10, Cooldown: specs.Duration(time.Minute)},
		Update:      specs.Update{MaxParallel: 2},
		Constraints: []specs.Constraint{{Attribute: "node.class", Operator: "=", Value: "gpu"}},
		Spreads:     []specs.Spread{{Attribute: "node.meta.zone", Weight: 50}},
		Tasks: []*specs.Task{{Name: "t", Image: "img", Command: []string{"/bin/run"}, Args: []string{"-v"},
			Env: map[string]string{"A": "1"}, Workdir: "/w", User: "u", Timeout: specs.Duration(time.Hour),
			KillSignal: "SIGTERM", KillTimeout: specs.Duration(5 * time.Second),
			Resources: specs.Resources{CPU: 100, Memory: 64}, Restart: specs.Restart{Attempts: 2, Delay: specs.Duration(time.Second)},
			Retry: specs.Retry{Delay: specs.Duration(time.Second), MaxDelay: specs.Duration(time.Minute)}}},
	}
}

func sampleEval(id, job string) *Evaluation {
	return &Evaluation{ID: id, Job: job, TriggeredBy: "job-register", NodeID: "n1", Status: EvalPending,
		Description: "d", BlockedReason: "b", WaitUntil: time.Unix(1700000500, 0).UTC(), Placed: 1, Failed: 2}
}

// sampleCommands is one command of every type (two of StopJob, with and
// without purge), each changing something when applied to
// failureFixture's state, with every pointer, map and slice it can carry
// set.
func sampleCommands() []Command {
	at := time.Unix(1700000300, 0).UTC()
	tasks := func() map[string]*TaskState {
		return map[string]*TaskState{"t": {State: "running", ExitCode: 1, Reason: "r", Failed: true, Restarts: 2,
			StartedAt: at, FinishedAt: at.Add(time.Second)}}
	}
	return []Command{
		RegisterJob{Spec: fullSpec("api"), Eval: sampleEval("e2", "api")},
		StopJob{Name: "web", Eval: sampleEval("e3", "web")},
		StopJob{Name: "web", Purge: true, Eval: sampleEval("e3", "web")},
		ScaleJob{Name: "web", Count: 4, Eval: sampleEval("e3", "web")},
		RegisterNode{Node: &Node{ID: "n3", Name: "n3", Class: "gpu", OS: "linux", Arch: "arm64", Kernel: "6.1",
			Meta: map[string]string{"zone": "a"}, Address: "http://n3", SecretHash: "h", CPU: 500, Memory: 512, Healthy: true,
			TTL: 10 * time.Second, Drain: &Drain{StartedAt: at}}, Evals: []*Evaluation{sampleEval("e4", "web")}},
		SetNodeStatus{ID: "n1", Status: NodeDown, Evals: []*Evaluation{sampleEval("e4", "web")}},
		SetNodeDrain{ID: "n1", Drain: &Drain{StartedAt: at, Deadline: at.Add(time.Hour)}, Evals: []*Evaluation{sampleEval("e4", "web")}},
		SetNodeEligibility{ID: "n2", Eligible: false, Evals: []*Evaluation{sampleEval("e4", "web")}},
		SetNodeHealth{ID: "n2", Healthy: false, Reason: "disk"},
		ApplyPlan{EvalID: "e1",
			Place: []*Allocation{{ID: "a3", Job: "web", JobVersion: 1, Index: 2, NodeID: "n1", CPU: 100, Memory: 64,
				Tasks: tasks(), PreviousAlloc: "a1", Failures: 1, FailedAt: at,
				Dispatch: &Dispatch{Queue: "q", MessageID: "m2", Receipt: "r", ReceiveCount: 1, SentAt: at}}},
			Stop:  []AllocStop{{ID: "a1", Reason: "replace", ClientStatus: AllocLost}},
			Evals: []*Evaluation{sampleEval("e1", "web"), sampleEval("e5", "web")}},
		UpdateAllocs{Updates: []AllocUpdate{{ID: "a1", ClientStatus: AllocFailed, ClientReason: "exit 1", Tasks: tasks(), At: at}},
			Evals: []*Evaluation{sampleEval("e6", "web")}, Reported: true},
		UpsertEvals{Evals: []*Evaluation{sampleEval("e1", "web"), sampleEval("e7", "old")}},
		SettleDispatch{IDs: []string{"d1"}},
		DeleteEvals{IDs: []string{"e1"}},
		DeleteAllocs{IDs: []string{"a2"}},
		BootstrapACL{Token: &ACLToken{AccessorID: "t0", SecretHash: "h0", Name: "boot", Type: TokenManagement, CreatedAt: at}},
		UpsertACLPolicies{Policies: []*ACLPolicy{{Name: "p", Description: "d", Rules: `queue "*" { capabilities = ["read"] }`}}},
		DeleteACLPolicies{Names: []string{"p"}},
		UpsertACLTokens{Tokens: []*ACLToken{{AccessorID: "t1", SecretHash: "h1", Name: "ci", Type: TokenClient,
			Policies: []string{"p"}, ExpiresAt: at.Add(time.Hour), AWSKeyID: "AKID", AWSSecret: "s"}}},
		DeleteACLTokens{AccessorIDs: []string{"t1"}},
		UpsertTopic{Topic: &Topic{Name: "orders", Attributes: map[string]string{"DisplayName": "Orders"}, Tags: map[string]string{"team": "a"}}},
		UpsertSubscriptions{Subscriptions: []*Subscription{{ID: "s1", Topic: "orders", Protocol: ProtocolSQS, Endpoint: "billing", Raw: true,
			FilterPolicy: `{"kind":["paid"]}`, FilterScope: "MessageAttributes", DeadLetterQueue: "dlq", Owner: "t0"},
			{ID: "s2", Topic: "orders", Protocol: ProtocolHTTPS, Endpoint: "https://example.test/hook", Pending: true, ConfirmTokenHash: "h"}}},
		DeleteSubscriptions{IDs: []string{"s1"}},
		DeleteTopic{Name: "orders"},
	}
}

func commandName(cmd Command) string {
	name := reflect.TypeOf(cmd).Name()
	if sj, ok := cmd.(StopJob); ok && sj.Purge {
		name += "Purge"
	}
	return name
}

// deepCopy copies v and everything it points to, so that the copy shares
// no pointer, map or slice with it (unexported fields, such as a
// time.Time's location, are shared).
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(deepCopy(v.Elem()))
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			c.SetMapIndex(k, deepCopy(v.MapIndex(k)))
		}
		return c
	}
	return v
}

// scribble changes every value reachable from v through pointers, maps and
// slices (and v's own fields, if v is addressable), and adds a key to every
// map with string keys, as a caller reusing what it gave the state would.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.CanSet() {
				v.Set(reflect.ValueOf(time.Unix(42, 0).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			scribble(e)
			v.SetMapIndex(k, e)
		}
		if v.Type().Key().Kind() == reflect.String {
			v.SetMapIndex(reflect.ValueOf("scribbled").Convert(v.Type().Key()), reflect.Zero(v.Type().Elem()))
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(v.String() + "-scribbled")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.CanSet() {
			v.SetInt(v.Int() + 7777)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.CanSet() {
			v.SetUint(v.Uint() + 7777)
		}
	case reflect.Bool:
		if v.CanSet() {
			v.SetBool(!v.Bool())
		}
	}
}

// fill sets every field reachable from v (addressable) to a value other
// than its zero: pointers point to filled values, slices and maps hold two
// filled elements. The values differ by seed.
func fill(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(1700000000+seed), 0).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed+i)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), seed+i)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			fill(k, seed+i)
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, seed+i)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", seed))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(seed + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(seed + 1))
	case reflect.Bool:
		v.SetBool(true)
	}
}
