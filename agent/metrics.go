package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func jsonEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }

// metrics are the agent's instruments; task usage is read at scrape time.
type metrics struct {
	starts        *prometheus.CounterVec
	startDuration prometheus.Histogram
	finishedTotal *prometheus.CounterVec
	tasks         *taskCollector
	// fnPaused counts idle function environments paused; fnResume times
	// their resumes.
	fnPaused prometheus.Counter
	fnResume prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, a *Agent) *metrics {
	m := &metrics{
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_agent_task_starts_total",
			Help: "Task starts, by result: ok or error.",
		}, []string{"result"}),
		startDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_agent_task_start_duration_seconds",
			Help:    "Time to start a task: image ready, container created, process running.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		finishedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_agent_allocations_finished_total",
			Help: "Allocations that ended on this node, by final status.",
		}, []string{"status"}),
		tasks: &taskCollector{a: a,
			running: prometheus.NewDesc("docket_agent_running_tasks", "Tasks running on this node.", nil, nil),
			cpu:     prometheus.NewDesc("docket_agent_task_cpu_seconds_total", "CPU time a running task used.", []string{"alloc", "job", "task"}, nil),
			memory:  prometheus.NewDesc("docket_agent_task_memory_bytes", "Memory a running task uses.", []string{"alloc", "job", "task"}, nil),
		},
	}
	m.fnPaused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "docket_agent_function_pauses_total",
		Help: "Idle function execution environments paused (the cgroup freezer).",
	})
	m.fnResume = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "docket_agent_function_resume_duration_seconds",
		Help:    "Time to resume a paused function execution environment.",
		Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .025, .05, .1},
	})
	reg.MustRegister(m.starts, m.startDuration, m.finishedTotal, m.fnPaused, m.fnResume)
	return m
}

func (m *metrics) started(d time.Duration, err error) {
	if err != nil {
		m.starts.WithLabelValues("error").Inc()
		return
	}
	m.starts.WithLabelValues("ok").Inc()
	m.startDuration.Observe(d.Seconds())
}

func (m *metrics) finished(status string) { m.finishedTotal.WithLabelValues(status).Inc() }

// serveMetrics answers a scrape with the registry's metrics and the
// running tasks' use. The use is asked of the runtime on the scrape's
// context, which a [prometheus.Collector] is not given: the task metrics
// are gathered by a registry made for the scrape.
func (a *Agent) serveMetrics(w http.ResponseWriter, r *http.Request) {
	tasks := prometheus.NewRegistry()
	tasks.MustRegister(a.metrics.tasks.during(r.Context()))
	g := prometheus.Gatherers{a.cfg.Registry, tasks}
	promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: a.cfg.Registry}).ServeHTTP(w, r)
}

// taskCollector reports the running tasks and their resource use.
type taskCollector struct {
	a                    *Agent
	running, cpu, memory *prometheus.Desc
}

// during returns the collector for one scrape, whose questions to the
// runtime end with ctx.
func (c *taskCollector) during(ctx context.Context) prometheus.Collector {
	return collectorFunc{
		describe: func(ch chan<- *prometheus.Desc) {
			ch <- c.running
			ch <- c.cpu
			ch <- c.memory
		},
		collect: func(ch chan<- prometheus.Metric) { c.collect(ctx, ch) },
	}
}

func (c *taskCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cs, err := c.a.cfg.Inspector.List(ctx)
	if err != nil {
		return
	}
	running := 0
	for _, ct := range cs {
		if !ct.Running || ct.Labels[labelAlloc] == "" {
			continue
		}
		running++
		u, err := c.a.cfg.Inspector.Stats(ctx, ct.ID)
		if err != nil {
			continue
		}
		labels := []string{ct.Labels[labelAlloc], ct.Labels[labelJob], ct.Labels[labelTask]}
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, u.CPUSeconds, labels...)
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(u.MemoryBytes), labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(running))
}

// collectorFunc is a [prometheus.Collector] made of two functions.
type collectorFunc struct {
	describe func(chan<- *prometheus.Desc)
	collect  func(chan<- prometheus.Metric)
}

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) { f.describe(ch) }
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f.collect(ch) }
