// Command worker is the example queue worker of a backlog-scaled service:
// it receives batches from its queue through Docket's HTTP API (the
// address, queue and token come in DOCKET_ADDR, DOCKET_QUEUE and
// DOCKET_TOKEN), "processes" each message, and deletes the batch. On
// SIGTERM it finishes the batch in hand and exits.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type message struct {
	ID      string `json:"id"`
	Receipt string `json:"receipt"`
	Body    string `json:"body"`
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "work" {
		fmt.Fprintln(os.Stderr, "usage: worker work [--batch N] [--work DURATION]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("work", flag.ExitOnError)
	batch := fs.Int("batch", 10, "messages per receive")
	work := fs.Duration("work", 100*time.Millisecond, "time spent on each message")
	quiet := fs.Bool("quiet", false, "do not print each message")
	fs.Parse(os.Args[2:])
	addr, queue, token := os.Getenv("DOCKET_ADDR"), os.Getenv("DOCKET_QUEUE"), os.Getenv("DOCKET_TOKEN")
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := 0
	for ctx.Err() == nil {
		var out struct {
			Messages []message `json:"messages"`
		}
		if err := call(ctx, addr+"/v1/queues/"+queue+"/receive", token, map[string]any{"max": *batch, "wait": "20s"}, &out); err != nil {
			if ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "receive:", err)
				time.Sleep(time.Second)
			}
			continue
		}
		receipts := make([]string, 0, len(out.Messages))
		for _, m := range out.Messages {
			if *work > 0 {
				time.Sleep(*work)
			}
			if !*quiet {
				fmt.Printf("processed %s: %s\n", m.ID, m.Body)
			}
			receipts = append(receipts, m.Receipt)
		}
		if len(receipts) > 0 {
			// Deleting is not cut short by SIGTERM: the batch is done.
			if err := call(context.Background(), addr+"/v1/queues/"+queue+"/delete", token, map[string]any{"receipts": receipts}, nil); err != nil {
				fmt.Fprintln(os.Stderr, "delete:", err)
			}
			done += len(receipts)
		}
	}
	fmt.Printf("stopping after %d messages\n", done)
}

func call(ctx context.Context, url, token string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Docket-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	// A body read to its end lets the client reuse the connection;
	// otherwise every call would dial a new one.
	defer func() {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	if resp.StatusCode >= 300 {
		var e bytes.Buffer
		e.ReadFrom(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(e.String()))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
