package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/docketd/docket/scheduler/api"
)

// healthState is GET /v1/health as the disk-full contract describes it:
// 200 {"status":"ok"}, or 503 {"status":"degraded","reason":...}.
type healthState struct {
	Code   int    `json:"-"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (h healthState) String() string {
	s := fmt.Sprintf("%d %s", h.Code, h.Status)
	if h.Reason != "" {
		s += " (" + h.Reason + ")"
	}
	return s
}

// getHealth reads the server's health without the API client, which knows
// no reason field and turns a 503 into an error.
func getHealth(ctx context.Context, cl *api.Client) (healthState, error) {
	var h healthState
	body, code, err := get(ctx, cl, "/v1/health")
	if err != nil {
		return h, err
	}
	h.Code = code
	if err := json.Unmarshal(body, &h); err != nil {
		return h, fmt.Errorf("health: %d %q: %w", code, body, err)
	}
	return h, nil
}

func get(ctx context.Context, cl *api.Client, path string) ([]byte, int, error) {
	resp, err := cl.Request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return b, resp.StatusCode, err
}

// compactionsMetric is the counter the server keeps of its compactions.
const compactionsMetric = "docket_queue_compactions_total"

// scrapeCompactions returns the server's compaction counter summed over
// its labels, and false when the server does not export it.
func scrapeCompactions(ctx context.Context, cl *api.Client) (int, bool, error) {
	body, code, err := get(ctx, cl, "/metrics")
	if err != nil {
		return 0, false, err
	}
	if code != http.StatusOK {
		return 0, false, fmt.Errorf("/metrics: status %d", code)
	}
	return parseCounter(string(body), compactionsMetric)
}

// parseCounter sums the samples of a metric in Prometheus's text format.
func parseCounter(text, name string) (int, bool, error) {
	sum, found := 0.0, false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
		found = true
	}
	return int(sum), found, sc.Err()
}
