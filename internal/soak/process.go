package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Controller starts and stops the server under test, one life at a time,
// always on the same data directory.
type Controller interface {
	// Start starts the server and returns its API address once it listens.
	Start(ctx context.Context) (addr string, err error)
	// Kill ends the server with SIGKILL and waits for it to exit. Its
	// error reports a failure the server showed during its life: it exited
	// by itself, panicked or reported a data race.
	Kill() error
	// Stop sends the server SIGTERM and waits up to timeout for it to exit
	// cleanly. Its error reports a hang (the server is then killed), an
	// exit other than 0, or a failure seen during its life.
	Stop(timeout time.Duration) error
	// CompactionsLogged returns how many times the servers of all lives so
	// far logged a compaction of the queue log.
	CompactionsLogged() int
}

var _ Controller = (*Exec)(nil)

// Exec is a [Controller] that runs each life of the server as a child
// process and watches what it writes: the address it listens on, its
// compactions, and any panic or data race report.
type Exec struct {
	// Command returns the command for one life of the server. The child's
	// standard output and error are both read; its log must contain the
	// line `msg="server listening" addr=HOST:PORT` (as `docket server`
	// logs it) and, for each compaction, `msg="compacted log"`.
	Command func() *exec.Cmd
	// Output, if set, receives a copy of everything the children write.
	Output io.Writer
	// StartTimeout bounds the wait for the listening line; default 60s.
	StartTimeout time.Duration

	mu          sync.Mutex
	cur         *child
	compactions int
}

// child is one life of the server.
type child struct {
	cmd     *exec.Cmd
	addr    chan string   // receives the address once
	done    chan struct{} // closed once the process exited and its output is read
	waitErr error         // the process's exit, valid after done

	mu       sync.Mutex
	failures []string // panics and data races seen in the output
	tail     []string // the last lines of output
}

const (
	tailLines        = 40
	failureLines     = 80 // lines kept of a panic or race report
	failuresPerChild = 5
)

var listeningRE = regexp.MustCompile(`msg="server listening" addr=(\S+)`)

// Start starts a new life of the server.
func (e *Exec) Start(ctx context.Context) (string, error) {
	e.mu.Lock()
	if e.cur != nil {
		e.mu.Unlock()
		return "", errors.New("soak: the server is already running")
	}
	e.mu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	cmd := e.Command()
	cmd.Stdout, cmd.Stderr = w, w
	if cmd.SysProcAttr == nil {
		// Its own process group: SIGKILL takes any process it started
		// with it, which would otherwise keep its output open. And it
		// dies with this process, which a test's timeout ends without
		// cleanups.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return "", fmt.Errorf("soak: start server: %w", err)
	}
	w.Close()
	c := &child{cmd: cmd, addr: make(chan string, 1), done: make(chan struct{})}
	e.mu.Lock()
	e.cur = c
	e.mu.Unlock()
	read := make(chan struct{})
	go func() {
		defer close(read)
		e.read(c, r)
	}()
	go func() {
		err := cmd.Wait()
		<-read
		r.Close()
		c.waitErr = err
		close(c.done)
	}()

	timeout := e.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case addr := <-c.addr:
		return addr, nil
	case <-c.done:
		e.forget(c)
		return "", fmt.Errorf("soak: the server exited before listening (%v):\n%s", c.waitErr, c.output())
	case <-t.C:
		err = fmt.Errorf("soak: the server did not listen within %s:\n%s", timeout, c.output())
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.kill()
	<-c.done
	e.forget(c)
	return "", err
}

// read scans the child's output until it ends.
func (e *Exec) read(c *child, r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	var report []string // lines of the panic or race report being read
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if e.Output != nil {
				e.Output.Write([]byte(line))
			}
			line = strings.TrimRight(line, "\n")
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case c.addr <- m[1]:
				default:
				}
			}
			if strings.Contains(line, `msg="compacted log"`) {
				e.mu.Lock()
				e.compactions++
				e.mu.Unlock()
			}
			c.mu.Lock()
			c.tail = append(c.tail, line)
			if len(c.tail) > tailLines {
				c.tail = c.tail[len(c.tail)-tailLines:]
			}
			c.mu.Unlock()
			switch {
			case strings.HasPrefix(line, "WARNING: DATA RACE"), strings.HasPrefix(line, "panic: "),
				strings.HasPrefix(line, "fatal error: "), strings.HasPrefix(line, "SIGQUIT: quit"):
				if report != nil {
					c.fail(report)
				}
				report = []string{line}
			case report != nil:
				if len(report) < failureLines {
					report = append(report, line)
				}
				// A race report ends with a line of '='.
				if strings.HasPrefix(line, "==================") && strings.HasPrefix(report[0], "WARNING: DATA RACE") {
					c.fail(report)
					report = nil
				}
			}
		}
		if err != nil {
			if report != nil {
				c.fail(report)
			}
			return
		}
	}
}

func (c *child) fail(report []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failures) < failuresPerChild {
		c.failures = append(c.failures, strings.Join(report, "\n"))
	}
}

// output returns the last lines the child wrote.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// failure joins problems with the panics and races seen in the child's
// output; without those, it shows the output's last lines.
func (c *child) failure(problems ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(problems) == 0 && len(c.failures) == 0 {
		return nil
	}
	all := append(problems, c.failures...)
	if len(c.failures) == 0 {
		all = append(all, "last output:\n"+strings.Join(c.tail[max(0, len(c.tail)-15):], "\n"))
	}
	return fmt.Errorf("server pid %d: %s", c.cmd.Process.Pid, strings.Join(all, "\n"))
}

func (e *Exec) forget(c *child) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == c {
		e.cur = nil
	}
}

func (e *Exec) current() (*child, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return nil, errors.New("soak: no server is running")
	}
	return e.cur, nil
}

// Kill ends the running server with SIGKILL.
func (e *Exec) Kill() error {
	c, err := e.current()
	if err != nil {
		return err
	}
	defer e.forget(c)
	var problems []string
	select {
	case <-c.done:
		problems = append(problems, fmt.Sprintf("exited by itself (%v) before SIGKILL", c.waitErr))
	default:
		c.kill()
		<-c.done
	}
	return c.failure(problems...)
}

// kill sends SIGKILL to the child's process group, or to the child alone
// when it has none of its own.
func (c *child) kill() {
	if a := c.cmd.SysProcAttr; a != nil && a.Setpgid {
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		return
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
}

// Stop ends the running server with SIGTERM, waiting up to timeout.
func (e *Exec) Stop(timeout time.Duration) error {
	c, err := e.current()
	if err != nil {
		return err
	}
	defer e.forget(c)
	var problems []string
	select {
	case <-c.done:
		problems = append(problems, fmt.Sprintf("exited by itself (%v) before SIGTERM", c.waitErr))
		return c.failure(problems...)
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		if c.waitErr != nil {
			problems = append(problems, fmt.Sprintf("exited with %v after SIGTERM", c.waitErr))
		}
	case <-t.C:
		problems = append(problems, fmt.Sprintf("still running %s after SIGTERM; killed", timeout))
		c.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump, to see where it hangs
		t.Reset(2 * time.Second)
		select {
		case <-c.done:
		case <-t.C:
			c.kill()
			<-c.done
		}
	}
	return c.failure(problems...)
}

// CompactionsLogged counts the compactions the children have logged.
func (e *Exec) CompactionsLogged() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.compactions
}

// Close kills the server if one is running; for cleanups.
func (e *Exec) Close() {
	e.mu.Lock()
	c := e.cur
	e.cur = nil
	e.mu.Unlock()
	if c != nil {
		c.kill()
		<-c.done
	}
}
