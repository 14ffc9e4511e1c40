package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/specs"
)

// forRangeBomb is the 180-byte job file that once kept a server busy for
// minutes: a thousand million iterations.
const forRangeBomb = `job "x" {
  task "t" {
    image = "i"
    args  = [for a in range(1000): [for b in range(1000): [for c in range(1000): "${a}${b}${c}"]]]
  }
}
`

func TestHostileJobFilesAreRefused(t *testing.T) {
	s, _, base := newCluster(t, scheduler.Config{})
	tests := []struct {
		name       string
		src        string
		status     int
		code       string
		line, col  int // of the first diagnostic
		refusedFor string
	}{
		{name: "nesting bomb", src: "x = " + strings.Repeat("[", 100_000),
			status: 400, code: "job_too_complex", line: 1, col: 69, refusedFor: "too_complex"},
		{name: "for over range", src: forRangeBomb,
			status: 400, code: "job_too_complex", line: 4, col: 85, refusedFor: "too_complex"},
		{name: "heredoc of many lines", src: "x = <<EOT\n" + strings.Repeat("echo\n", 200_000) + "EOT\n",
			status: 400, code: "job_too_complex", line: 1, col: 5, refusedFor: "too_complex"},
		{name: "mistake", src: "job \"x\" {\n  count = \"many\"\n}\n",
			status: 400, code: "invalid_job", line: 1, col: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := refusedJobFiles(t, s.Registry(), tt.refusedFor)
			start := time.Now()
			status, body := postHCL(t, base, tt.src, "?plan=true")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("answer took %v, want well under 10s", d)
			}
			var er api.ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if status != tt.status || er.Error.Code != tt.code {
				t.Fatalf("got %d %s, want %d %s: %s", status, er.Error.Code, tt.status, tt.code, er.Error.Message)
			}
			if len(er.Error.Diagnostics) == 0 {
				t.Fatalf("got no diagnostics, want one at %d:%d", tt.line, tt.col)
			}
			if d := er.Error.Diagnostics[0]; d.File != "job.hcl" || d.Line != tt.line || d.Column != tt.col {
				t.Errorf("got the first diagnostic at %s:%d:%d, want job.hcl:%d:%d", d.File, d.Line, d.Column, tt.line, tt.col)
			}
			if tt.refusedFor != "" {
				if got := refusedJobFiles(t, s.Registry(), tt.refusedFor) - before; got != 1 {
					t.Errorf("docket_job_files_refused_total{reason=%q} went up by %v, want 1", tt.refusedFor, got)
				}
			}
		})
	}
}

// TestHealthAnswersDuringHostileJobFiles floods the server with the
// costly job file from more clients than it has parse slots: each is
// refused, quickly or as busy, and the server keeps answering.
func TestHealthAnswersDuringHostileJobFiles(t *testing.T) {
	_, _, base := newCluster(t, scheduler.Config{MaxJobParses: 2})
	ctx, stop := context.WithTimeout(context.Background(), 3*time.Second)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, body, err := postJobFile(base, forRangeBomb)
				if err != nil {
					errs <- err
					return
				}
				var er api.ErrorResponse
				json.Unmarshal(body, &er)
				if !(status == 400 && er.Error.Code == "job_too_complex") && !(status == 503 && er.Error.Code == "server_busy") {
					errs <- fmt.Errorf("bomb: got %d %s, want 400 job_too_complex or 503 server_busy", status, body)
					return
				}
			}
		})
	}
	for ctx.Err() == nil {
		start := time.Now()
		status, body := call(t, base, "GET", "/v1/health", "")
		if status != 200 {
			t.Errorf("health during the flood: got %d %s, want 200", status, body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("health took %v during the flood, want well under 5s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestJobFileRefusedWhenNoParseSlotIsFree(t *testing.T) {
	s, _, base := newCluster(t, scheduler.Config{MaxJobParses: 1})
	const job = "job \"x\" {\n  task \"t\" {\n    image = \"i\"\n  }\n}\n"

	s.ParseSlots() <- struct{}{} // the only slot, taken
	req, _ := http.NewRequest("POST", base+"/v1/jobs?plan=true", strings.NewReader(job))
	req.Header.Set("Content-Type", "application/hcl")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var er api.ErrorResponse
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != 503 || er.Error.Code != "server_busy" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s (Retry-After %q), want 503 server_busy with Retry-After",
			resp.StatusCode, er.Error.Code, resp.Header.Get("Retry-After"))
	}
	if got := refusedJobFiles(t, s.Registry(), "busy"); got != 1 {
		t.Errorf("docket_job_files_refused_total{reason=\"busy\"}: got %v, want 1", got)
	}

	<-s.ParseSlots()
	if status, body := postHCL(t, base, job, "?plan=true"); status != 200 {
		t.Fatalf("with the slot free: got %d %s, want 200", status, body)
	}
	if n := len(s.ParseSlots()); n != 0 {
		t.Errorf("after the plan: %d slots taken, want 0", n)
	}
}

// TestJobParseStopsWhenClientLeaves gives the server no evaluation budget
// to speak of, so that only the client's leaving can stop the parse.
func TestJobParseStopsWhenClientLeaves(t *testing.T) {
	unlimited := specs.Limits{MaxEvalSteps: 1 << 60, MaxEvalBytes: 1 << 60}
	s, _, base := newCluster(t, scheduler.Config{MaxJobParses: 1, JobFileLimits: unlimited})

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/jobs?plan=true", strings.NewReader(forRangeBomb))
	req.Header.Set("Content-Type", "application/hcl")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, 10*time.Second, func() error {
		if len(s.ParseSlots()) == 0 {
			return errors.New("the parse has not started")
		}
		return nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: got %v, want context.Canceled", err)
	}
	waitFor(t, 10*time.Second, func() error {
		if n := len(s.ParseSlots()); n != 0 {
			return fmt.Errorf("%d parses still running", n)
		}
		if got := refusedJobFiles(t, s.Registry(), "canceled"); got != 1 {
			return fmt.Errorf("docket_job_files_refused_total{reason=\"canceled\"}: got %v, want 1", got)
		}
		return nil
	})
}

// postJobFile posts an HCL job file for a plan, from any goroutine.
func postJobFile(base, src string) (int, []byte, error) {
	resp, err := http.Post(base+"/v1/jobs?plan=true", "application/hcl", strings.NewReader(src))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// refusedJobFiles returns docket_job_files_refused_total for reason, as
// the server's registry reports it.
func refusedJobFiles(t testing.TB, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "docket_job_files_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
