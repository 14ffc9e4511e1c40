package scheduler

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/queue"
)

// metrics are the server's own instruments; the queue figures are read at
// scrape time by queueCollector.
type metrics struct {
	requestDuration *prometheus.HistogramVec
	commitDuration  prometheus.Histogram
	commitRecords   prometheus.Histogram
	commitBytes     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "docket_http_request_duration_seconds",
			Help:    "Time to answer an HTTP API request, by route and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25},
		}, []string{"method", "route", "code"}),
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
	}
	reg.MustRegister(m.requestDuration, m.commitDuration, m.commitRecords, m.commitBytes)
	return m
}

func (m *metrics) observeCommit(records, bytes int, d time.Duration) {
	m.commitDuration.Observe(d.Seconds())
	m.commitRecords.Observe(float64(records))
	m.commitBytes.Observe(float64(bytes))
}

// instrument times every request by its route pattern, so that the label
// set stays small whatever paths clients send.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requestDuration.WithLabelValues(r.Method, route, strconv.Itoa(sw.status)).
			Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// queueCollector reports every queue's figures at scrape time.
type queueCollector struct {
	engine *queue.Engine

	messages, oldest                                       *prometheus.Desc
	sent, received, deleted, deadLettered, expired, purged *prometheus.Desc
}

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
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.messages, c.oldest, c.sent, c.received, c.deleted, c.deadLettered, c.expired, c.purged} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
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
	}
}
