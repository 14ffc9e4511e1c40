package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docketd/docket/internal/containerdtest"
	"github.com/docketd/docket/internal/imagetest"
	"github.com/docketd/docket/scheduler/api"
)

// needBinary returns the path of a program, skipping the test without it
// unless CI is set.
func needBinary(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (CI must install it): %v", name, err)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestPrometheusScrapesDocketDev runs `docket dev` and a real Prometheus
// scraping it on loopback, and reads a queue's depth back through
// Prometheus's query API; promtool finds nothing to say about Docket's
// metrics.
func TestPrometheusScrapesDocketDev(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	prometheus := needBinary(t, "prometheus")
	promtool := needBinary(t, "promtool")
	ctd := containerdtest.Start(t)
	bin := imagetest.GoBinary(t, "github.com/docketd/docket/cmd/docket")

	dev := exec.Command(bin, "dev", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--containerd", ctd.Address)
	out, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var devErr bytes.Buffer
	dev.Stderr = &devErr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dev.Process.Signal(syscall.SIGINT)
		dev.Wait()
	})
	addrRE := regexp.MustCompile(`server on http://(\S+),`)
	tokenRE := regexp.MustCompile(`DOCKET_TOKEN=(\S+)`)
	var addr, token string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
		if m := tokenRE.FindStringSubmatch(sc.Text()); m != nil {
			token = m[1]
			break
		}
	}
	go io.Copy(io.Discard, out)
	if addr == "" || token == "" {
		t.Fatalf("docket dev did not start (or print its token): %s", devErr.String())
	}
	cl := api.NewClient(addr).WithToken(token)
	if _, err := cl.CreateQueue(context.Background(), api.QueueSettings{Name: "scraped"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := cl.Send(context.Background(), "scraped", api.SendMessage{Body: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}

	// promtool lints Docket's exposition.
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = strings.NewReader(scrapeWith(t, "http://"+addr, token))
	if report, err := lint.CombinedOutput(); err != nil || len(bytes.TrimSpace(report)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, report)
	}

	// Prometheus scrapes docket dev every second, with the token.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: docket\n    authorization:\n      credentials_file: %q\n    static_configs:\n      - targets: [%q]\n",
		filepath.Join(dir, "token"), addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	var promLog bytes.Buffer
	prom := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Signal(syscall.SIGTERM)
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", tail(promLog.String(), 20))
		}
	})
	query := `docket_queue_messages{queue="scraped",state="visible"}`
	deadline := time.Now().Add(90 * time.Second)
	for {
		v, err := promQuery(promAddr, query)
		if err == nil && v == "3" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus answered %q (%v) for %s, want 3", v, err, query)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// promQuery returns the value of an instant query's single sample.
func promQuery(addr, query string) (string, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if out.Status != "success" || len(out.Data.Result) != 1 || len(out.Data.Result[0].Value) != 2 {
		return "", fmt.Errorf("answer %+v", out)
	}
	v, _ := out.Data.Result[0].Value[1].(string)
	return strings.TrimSpace(v), nil
}
