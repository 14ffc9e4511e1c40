package soak

import (
	"fmt"
	"io"
	"maps"
	"time"
)

// Report is what a [Run] did and found.
type Report struct {
	Seed    uint64        `json:"seed"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Ledger  LedgerStats   `json:"ledger"`
	Fanout  FanStats      `json:"fanout"`
	FIFO    FIFOStats     `json:"fifo"`
	// Restarts counts the lives ended, by signal ("SIGKILL", "SIGTERM").
	Restarts map[string]int `json:"restarts"`
	// Compactions is the larger of the two counts below.
	Compactions int `json:"compactions"`
	// CompactionsMetric sums docket_queue_compactions_total over the
	// server's lives, as last scraped in each (a SIGKILL may hide the
	// last few); -1 when the server does not export it.
	CompactionsMetric int `json:"compactions_metric"`
	// CompactionsLogged counts the servers' "compacted log" lines.
	CompactionsLogged int `json:"compactions_logged"`
	// DiskFull is the disk-full phase's outcome: skipped, ok or failed.
	DiskFull string `json:"disk_full"`
	// ClientErrors summarises failed calls, by operation and answer; most
	// are expected (the server was down, or the disk full).
	ClientErrors string `json:"client_errors,omitempty"`
	// Findings counts the findings by kind; Samples keeps the first few
	// of each.
	Findings map[Kind]int      `json:"findings"`
	Samples  map[Kind][]string `json:"samples,omitempty"`
}

// Failed reports whether the run found anything.
func (r *Report) Failed() bool {
	for _, n := range r.Findings {
		if n > 0 {
			return true
		}
	}
	return false
}

func (d *driver) report(elapsed time.Duration) *Report {
	d.mu.Lock()
	r := &Report{
		Seed:              d.cfg.Seed,
		Elapsed:           elapsed,
		Ledger:            d.ledger.Stats(),
		Fanout:            d.fanStats(),
		FIFO:              d.fifoStats(),
		Restarts:          maps.Clone(d.signals),
		CompactionsMetric: -1,
		CompactionsLogged: d.ctl.CompactionsLogged(),
		DiskFull:          d.diskFull,
		ClientErrors:      errorSummary(d.errs),
	}
	if d.metricFound {
		r.CompactionsMetric = 0
		for _, n := range d.metricLife {
			r.CompactionsMetric += n
		}
	}
	d.mu.Unlock()
	r.Compactions = max(r.CompactionsMetric, r.CompactionsLogged)
	if r.Compactions < d.cfg.MinCompactions {
		d.f.add(Harness, "the servers compacted their logs %d times, want at least %d: the run did not exercise compaction",
			r.Compactions, d.cfg.MinCompactions)
	}
	d.f.mu.Lock()
	r.Findings = maps.Clone(d.f.counts)
	r.Samples = map[Kind][]string{}
	for k, s := range d.f.samples {
		r.Samples[k] = append([]string(nil), s...)
	}
	d.f.mu.Unlock()
	return r
}

// Write prints the report: the figures, then the findings with their
// examples.
func (r *Report) Write(w io.Writer) {
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	metric := "not exported"
	if r.CompactionsMetric >= 0 {
		metric = fmt.Sprint(r.CompactionsMetric)
	}
	s := r.Ledger
	fmt.Fprintf(w, "crash soak %s (seed %d, %s)\n", verdict, r.Seed, r.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "  restarts              %d SIGKILL, %d SIGTERM\n", r.Restarts["SIGKILL"], r.Restarts["SIGTERM"])
	fmt.Fprintf(w, "  sends acknowledged    %d (of %d sent)\n", s.SendsAcked, s.Sent)
	fmt.Fprintf(w, "  lost                  %d\n", r.Findings[Lost])
	fmt.Fprintf(w, "  missing at restarts   %d\n", r.Findings[MissingAtRestart])
	fmt.Fprintf(w, "  receives              %d\n", s.Received)
	fmt.Fprintf(w, "  deletes acknowledged  %d (%d unanswered, %d refused as outdated)\n", s.DeletesAcked, s.DeletesUnknown, s.DeletesRefused)
	fmt.Fprintf(w, "  resurrected           %d\n", r.Findings[Resurrected])
	fmt.Fprintf(w, "  duplicates            %d\n", r.Findings[Duplicate])
	fmt.Fprintf(w, "  wrong bodies          %d\n", r.Findings[WrongBody])
	fmt.Fprintf(w, "  final drain           %d messages\n", s.FinalDrained)
	fmt.Fprintf(w, "  publishes             %d acknowledged (of %d made), each to %d queues and an endpoint; %d in only some\n",
		r.Fanout.Acked, r.Fanout.Published, len(fanQueues), r.Fanout.Partial)
	fmt.Fprintf(w, "  endpoint              %d publishes received, %d redelivered, %d refused on purpose\n",
		r.Fanout.Hooked, r.Fanout.HookRedelivered, r.Fanout.HookRefused)
	fmt.Fprintf(w, "  fifo                  %d sends acknowledged in %d groups, %d received, %d out of order\n",
		r.FIFO.Acked, fifoGroups, r.FIFO.Received, r.FIFO.OutOfOrder)
	fmt.Fprintf(w, "  compactions           %d (metric %s, log lines %d)\n", r.Compactions, metric, r.CompactionsLogged)
	fmt.Fprintf(w, "  disk full             %s\n", r.DiskFull)
	fmt.Fprintf(w, "  child failures        %d\n", r.Findings[ChildFailure])
	fmt.Fprintf(w, "  hung calls            %d\n", r.Findings[Hung])
	if r.ClientErrors != "" {
		fmt.Fprintf(w, "  failed calls          %s\n", r.ClientErrors)
	}
	for _, k := range kinds {
		if r.Findings[k] == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: %d\n", k, r.Findings[k])
		for _, s := range r.Samples[k] {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
}
