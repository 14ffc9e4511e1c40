package agent

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func jsonEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }

// metrics are the agent's instruments; task usage is read at scrape time.
type metrics struct {
	starts        *prometheus.CounterVec
	startDuration prometheus.Histogram
	finishedTotal *prometheus.CounterVec
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
	}
	reg.MustRegister(m.starts, m.startDuration, m.finishedTotal, &taskCollector{a: a,
		running: prometheus.NewDesc("docket_agent_running_tasks", "Tasks running on this node.", nil, nil),
		cpu:     prometheus.NewDesc("docket_agent_task_cpu_seconds_total", "CPU time a running task used.", []string{"alloc", "job", "task"}, nil),
		memory:  prometheus.NewDesc("docket_agent_task_memory_bytes", "Memory a running task uses.", []string{"alloc", "job", "task"}, nil),
	})
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

// taskCollector reports the running tasks and their resource use.
type taskCollector struct {
	a                    *Agent
	running, cpu, memory *prometheus.Desc
}

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.running
	ch <- c.cpu
	ch <- c.memory
}

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
