package scheduler

import (
	"cmp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/state"
)

// metrics are the server's own instruments; the queue figures are read at
// scrape time by queueCollector.
type metrics struct {
	commitDuration prometheus.Histogram
	commitRecords  prometheus.Histogram
	commitBytes    prometheus.Histogram

	stateCommitDuration prometheus.Histogram
	evaluations         *prometheus.CounterVec
	evalDuration        prometheus.Histogram
	planConflicts       prometheus.Counter

	desired         *prometheus.GaugeVec
	decisions       *prometheus.CounterVec
	reaction        prometheus.Histogram
	messageStart    prometheus.Histogram
	dispatched      *prometheus.CounterVec
	dispatchBlocked *prometheus.CounterVec
	settled         *prometheus.CounterVec

	jobFilesRefused *prometheus.CounterVec

	topicPublishes  prometheus.Counter
	topicDeliveries *prometheus.CounterVec
	topicFiltered   prometheus.Counter
	publishLatency  prometheus.Histogram
	// endpointLatency and endpointRetries are of HTTP(S) deliveries.
	endpointLatency *prometheus.HistogramVec
	endpointRetries *prometheus.CounterVec

	// Functions' figures, Lambda's CloudWatch metrics by function.
	fnInvocations   *prometheus.CounterVec
	fnThrottles     *prometheus.CounterVec
	fnDuration      *prometheus.HistogramVec
	fnInitDuration  *prometheus.HistogramVec
	fnStarts        *prometheus.CounterVec
	fnConcurrent    *prometheus.GaugeVec
	fnAsyncDropped  *prometheus.CounterVec
	fnBatchMessages *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_queue_commit_duration_seconds",
			Help:    "Time to write and fsync one group commit of the queue log.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		commitRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_queue_commit_records",
			Help:    "Records per group commit of the queue log (operations sharing one fsync).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		commitBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_queue_commit_bytes",
			Help:    "Bytes written per group commit of the queue log.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10),
		}),
		stateCommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_state_commit_duration_seconds",
			Help:    "Time to write and fsync one group commit of the control-plane state.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_scheduler_evaluations_total",
			Help: "Evaluations run, by result: complete, blocked or failed.",
		}, []string{"result"}),
		evalDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_scheduler_placement_duration_seconds",
			Help:    "Time from the start of an evaluation to its plan being committed.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		planConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "docket_scheduler_plan_conflicts_total",
			Help: "Plans whose placements lost a race for capacity at commit and were planned again.",
		}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "docket_autoscale_desired",
			Help: "The count the autoscaler wants for a queue-scaled job.",
		}, []string{"job"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_autoscale_decisions_total",
			Help: "Autoscaler decisions that changed a job's count, by direction (in or out).",
		}, []string{"job", "direction"}),
		reaction: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_autoscale_reaction_seconds",
			Help:    "Time from the queue event that changed the backlog to the autoscaler's decision.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		messageStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_dispatch_message_to_start_seconds",
			Help:    "Time from a message being sent to the dispatch task that processes it running.",
			Buckets: []float64{.025, .05, .1, .15, .2, .3, .4, .6, .8, 1, 1.5, 2, 5, 10, 30},
		}),
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_dispatch_allocations_total",
			Help: "Allocations created for messages of a dispatch job.",
		}, []string{"job"}),
		dispatchBlocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_dispatch_blocked_total",
			Help: "Times a dispatch job had messages waiting and room to run them but no node with capacity.",
		}, []string{"job"}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_dispatch_messages_settled_total",
			Help: "Messages of ended dispatch allocations, by outcome: deleted, retried, dead-lettered or released.",
		}, []string{"job", "outcome"}),
		jobFilesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_job_files_refused_total",
			Help: "Job files refused for what parsing them would cost, by reason: busy (no parse slot free), too_large, too_complex (nested too deeply or too costly to evaluate) or canceled (the client left).",
		}, []string{"reason"}),
		topicPublishes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "docket_topic_publishes_total",
			Help: "Messages published to topics.",
		}),
		topicDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_topic_deliveries_total",
			Help: "Deliveries of published messages to subscriptions, by protocol and outcome: ok, queue_missing (sqs); for http, https and lambda ok (the endpoint answered 2xx, the function succeeded), dead_lettered (its retries spent, moved to the subscription's dead-letter queue) or dropped (spent, with no dead-letter queue).",
		}, []string{"protocol", "outcome"}),
		topicFiltered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "docket_topic_filtered_total",
			Help: "Deliveries a subscription's filter policy kept out.",
		}),
		publishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_topic_publish_duration_seconds",
			Help:    "Time from a publish's arrival to every matching queue holding it on disk.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25},
		}),
	}
	m.endpointLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "docket_topic_delivery_duration_seconds",
		Help:    "Time from a publish to its HTTP(S) endpoint answering 2xx, retries included, by protocol.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 120, 600, 3600},
	}, []string{"protocol"})
	m.endpointRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "docket_topic_endpoint_retries_total",
		Help: "Failed HTTP(S) delivery attempts that will be retried, by protocol and reason (status_5xx, status_4xx, status_3xx, timeout, refused_address, connect).",
	}, []string{"protocol", "reason"})
	fn := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"function"}, labels...))
	}
	m.fnInvocations = fn("docket_function_invocations_total", "Invocations that ran, by function and outcome: success, error (the function failed, timed out or its runtime exited) or lost (its environment ended without answering).", "outcome")
	m.fnThrottles = fn("docket_function_throttles_total", "Synchronous invocations refused because the function ran concurrency.max invocations.")
	m.fnStarts = fn("docket_function_starts_total", "Invocations by the state of the environment that ran them: cold (its first) or warm.", "start")
	m.fnAsyncDropped = fn("docket_function_async_events_dropped_total", "Asynchronous invocations given up after their last attempt failed.")
	m.fnBatchMessages = fn("docket_function_event_source_messages_total", "Messages of SQS event source batches by outcome: deleted, retried or dead-lettered.", "outcome")
	fnBuckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}
	m.fnDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "docket_function_duration_seconds", Help: "Time the runtime took from taking an invocation to answering it.", Buckets: fnBuckets,
	}, []string{"function"})
	m.fnInitDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "docket_function_init_duration_seconds", Help: "Time a new environment's runtime took from its container's start to asking for its first invocation (a cold start).", Buckets: fnBuckets,
	}, []string{"function"})
	m.fnConcurrent = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "docket_function_concurrent_executions", Help: "Invocations running at once, by function.",
	}, []string{"function"})
	reg.MustRegister(m.fnInvocations, m.fnThrottles, m.fnStarts, m.fnAsyncDropped, m.fnBatchMessages, m.fnDuration, m.fnInitDuration, m.fnConcurrent)
	reg.MustRegister(m.topicPublishes, m.topicDeliveries, m.topicFiltered, m.publishLatency, m.endpointLatency, m.endpointRetries)
	reg.MustRegister(m.commitDuration, m.commitRecords, m.commitBytes,
		m.stateCommitDuration, m.evaluations, m.evalDuration, m.planConflicts,
		m.desired, m.decisions, m.reaction, m.messageStart, m.dispatched, m.dispatchBlocked, m.settled, m.jobFilesRefused)
	return m
}

func (m *metrics) observeStateCommit(_ int, d time.Duration) {
	m.stateCommitDuration.Observe(d.Seconds())
}

func (m *metrics) observeCommit(records, bytes int, d time.Duration) {
	m.commitDuration.Observe(d.Seconds())
	m.commitRecords.Observe(float64(records))
	m.commitBytes.Observe(float64(bytes))
}

// queueCollector reports every queue's figures at scrape time.
type queueCollector struct {
	engine *queue.Engine

	messages, oldest                                       *prometheus.Desc
	sent, received, deleted, deadLettered, expired, purged *prometheus.Desc
	compactions, failed                                    *prometheus.Desc
	groups, groupMessages                                  *prometheus.Desc
}

// maxGroupSeries bounds the message groups (tenants) a queue reports one
// by one: those with the most messages.
const maxGroupSeries = 20

func newQueueCollector(e *queue.Engine) *queueCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"queue"}, labels...), nil)
	}
	return &queueCollector{
		engine:       e,
		messages:     d("docket_queue_messages", "Messages in a queue by state: visible, in_flight or delayed.", "state"),
		oldest:       d("docket_queue_oldest_message_age_seconds", "Age of the oldest message in a queue."),
		sent:         d("docket_queue_sent_total", "Messages sent to a queue (including moves into it)."),
		received:     d("docket_queue_received_total", "Message receives from a queue."),
		deleted:      d("docket_queue_deleted_total", "Messages deleted from a queue."),
		deadLettered: d("docket_queue_dead_lettered_total", "Messages moved from a queue to its dead-letter queue."),
		expired:      d("docket_queue_expired_total", "Messages that outlived a queue's retention."),
		purged:       d("docket_queue_purged_total", "Messages removed by purging a queue."),
		compactions:  prometheus.NewDesc("docket_queue_compactions_total", "Segments of the queue log reclaimed by compaction since the server started.", nil, nil),
		failed:       prometheus.NewDesc("docket_queue_log_failed", "1 while the queue log refuses writes (a full or failing disk), else 0.", nil, nil),
		groups:       d("docket_queue_groups", "Message groups (tenants of a fair queue, groups of a FIFO queue) holding messages in a queue."),
		groupMessages: d("docket_queue_group_messages", "Messages of a queue's message group by state (queued: visible or delayed; in_flight), for the 20 groups with the most.",
			"group", "state"),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.messages, c.oldest, c.sent, c.received, c.deleted, c.deadLettered, c.expired, c.purged, c.compactions, c.failed, c.groups, c.groupMessages} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.compactions, prometheus.CounterValue, float64(c.engine.Compactions()))
	failed := 0.0
	if c.engine.Err() != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, failed)
	for _, q := range c.engine.Queues() {
		s := q.Stats
		g := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{q.Name}, labels...)...)
		}
		n := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), q.Name)
		}
		g(c.messages, float64(s.Visible), "visible")
		g(c.messages, float64(s.InFlight), "in_flight")
		g(c.messages, float64(s.Delayed), "delayed")
		g(c.oldest, s.OldestAge.Seconds())
		n(c.sent, s.Totals.Sent)
		n(c.received, s.Totals.Received)
		n(c.deleted, s.Totals.Deleted)
		n(c.deadLettered, s.Totals.DeadLettered)
		n(c.expired, s.Totals.Expired)
		n(c.purged, s.Totals.Purged)
		if groups, _ := c.engine.Groups(q.Name); len(groups) > 0 {
			g(c.groups, float64(len(groups)))
			slices.SortStableFunc(groups, func(a, b queue.GroupCount) int { return cmp.Compare(b.Messages, a.Messages) })
			for _, gc := range groups[:min(len(groups), maxGroupSeries)] {
				g(c.groupMessages, float64(gc.Messages-gc.InFlight), gc.Group, "queued")
				g(c.groupMessages, float64(gc.InFlight), gc.Group, "in_flight")
			}
		}
	}
}

// stateCollector reports node and allocation counts and blocked
// evaluations at scrape time.
type stateCollector struct {
	state   *state.State
	broker  *broker
	nodes   *prometheus.Desc
	allocs  *prometheus.Desc
	blocked *prometheus.Desc
}

func newStateCollector(st *state.State, b *broker) *stateCollector {
	return &stateCollector{
		state:   st,
		broker:  b,
		nodes:   prometheus.NewDesc("docket_nodes", "Nodes by status: ready, down, draining or ineligible.", []string{"status"}, nil),
		allocs:  prometheus.NewDesc("docket_allocations", "Allocations by client status.", []string{"status"}, nil),
		blocked: prometheus.NewDesc("docket_scheduler_blocked_evaluations", "Evaluations waiting for capacity.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.nodes
	ch <- c.allocs
	ch <- c.blocked
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	nodes := map[string]int{"ready": 0, "down": 0, "draining": 0, "ineligible": 0}
	allocs := map[string]int{state.AllocPending: 0, state.AllocRunning: 0, state.AllocComplete: 0, state.AllocFailed: 0, state.AllocLost: 0}
	c.state.View(func(rd *state.Reader) {
		for _, n := range rd.Nodes() {
			switch {
			case n.Status == state.NodeDown:
				nodes["down"]++
			case n.Drain != nil:
				nodes["draining"]++
			case !n.Eligible:
				nodes["ineligible"]++
			default:
				nodes["ready"]++
			}
		}
		for status := range allocs {
			allocs[status] = rd.AllocCount(status)
		}
	})
	for k, v := range nodes {
		ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(v), k)
	}
	for k, v := range allocs {
		ch <- prometheus.MustNewConstMetric(c.allocs, prometheus.GaugeValue, float64(v), k)
	}
	ch <- prometheus.MustNewConstMetric(c.blocked, prometheus.GaugeValue, float64(c.broker.blockedCount()))
}
