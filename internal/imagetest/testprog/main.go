// Command testprog is the program inside the container images that Docket's
// tests build. One static binary covers every behaviour a container test needs
// to provoke: output on either stream, an exit code, a slow or stubborn
// process, memory or CPU pressure, files in and out.
//
// Usage:
//
//	testprog STEP [; STEP ...]
//
// A literal ";" argument separates steps, which run in order; the first step
// that fails ends the program. Steps:
//
//	echo ARGS...        print ARGS joined by spaces, and a newline, to stdout
//	stderr ARGS...      the same on stderr
//	env                 print the environment, sorted, one variable a line
//	id                  print "uid=N gid=N"
//	pwd                 print the working directory
//	cat FILE...         copy each FILE to stdout
//	write FILE TEXT...  write TEXT (joined by spaces, plus a newline) to FILE
//	exit N              exit with status N at once
//	sleep DURATION      sleep, e.g. 250ms or 1h
//	trap-term           print "ready", wait for SIGTERM, print "got SIGTERM"
//	                    and go on with the next step (exit 0 if none)
//	ignore-term         print "ready", then print "got SIGTERM" for every
//	                    SIGTERM and never exit by itself (only SIGKILL ends it)
//	alloc-mem MIB       allocate and touch MIB mebibytes, print
//	                    "allocated MIB MiB" and keep them while later steps run
//	spin [DURATION]     burn one CPU for DURATION, or forever
//	status FIELD...     print the FIELD: lines of /proc/self/status (e.g.
//	                    NoNewPrivs, Seccomp, CapEff)
//	try CALL            make a system call the sandbox may refuse and print
//	                    "CALL: ok" or "CALL: ERRNO" (EPERM, ...): keyctl
//	                    (the session keyring's id), raw-socket (an ICMP raw
//	                    socket)
//
// Outside trap-term and ignore-term, SIGTERM and SIGINT end testprog with
// status 128+signal (143 and 130), as a shell's child would, also as a
// container's PID 1: there the kernel drops signals nobody handles, and a Go
// program left to its runtime's handling exits with status 2.
//
// It imports only the standard library, so it builds fast and statically with
// CGO_ENABLED=0 and runs in an image holding nothing else.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	st := &state{stdout: os.Stdout, stderr: os.Stderr}
	st.exitOnSignals()
	code, err := st.run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testprog:", err)
	}
	os.Exit(code)
}

// exitError asks run to end the program with a status, without an error
// message.
type exitError int

func (e exitError) Error() string { return "exit " + strconv.Itoa(int(e)) }

// state is what steps leave behind for later ones; it keeps allocated memory
// reachable so the garbage collector does not hand it back.
type state struct {
	stdout, stderr io.Writer
	held           [][]byte

	mu   sync.Mutex
	trap chan os.Signal // where SIGTERM goes while a step traps it
}

// exitOnSignals makes SIGTERM and SIGINT end the program with status
// 128+signal, except that SIGTERM goes to the trapping step if there is
// one. One goroutine decides for every signal, so none is both trapped and
// fatal.
func (st *state) exitOnSignals() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for sig := range sigs {
			st.mu.Lock()
			trap := st.trap
			st.mu.Unlock()
			if sig == syscall.SIGTERM && trap != nil {
				select {
				case trap <- sig:
				default: // the step has not read the last ones yet
				}
				continue
			}
			os.Exit(128 + int(sig.(syscall.Signal)))
		}
	}()
}

func (st *state) run(args []string) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("usage: testprog STEP [ARGS] [; STEP [ARGS]]")
	}
	for _, step := range splitSteps(args) {
		if len(step) == 0 {
			continue
		}
		if err := st.step(step[0], step[1:]); err != nil {
			var code exitError
			if errors.As(err, &code) {
				return int(code), nil
			}
			return 1, fmt.Errorf("%s: %w", step[0], err)
		}
	}
	return 0, nil
}

func splitSteps(args []string) [][]string {
	var steps [][]string
	start := 0
	for i, a := range args {
		if a == ";" {
			steps = append(steps, args[start:i])
			start = i + 1
		}
	}
	return append(steps, args[start:])
}

func (st *state) step(name string, args []string) error {
	switch name {
	case "echo":
		_, err := fmt.Fprintln(st.stdout, strings.Join(args, " "))
		return err
	case "stderr":
		_, err := fmt.Fprintln(st.stderr, strings.Join(args, " "))
		return err
	case "env":
		env := os.Environ()
		sort.Strings(env)
		for _, kv := range env {
			if _, err := fmt.Fprintln(st.stdout, kv); err != nil {
				return err
			}
		}
		return nil
	case "id":
		_, err := fmt.Fprintf(st.stdout, "uid=%d gid=%d\n", os.Getuid(), os.Getgid())
		return err
	case "pwd":
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(st.stdout, wd)
		return err
	case "cat":
		for _, name := range args {
			if err := catFile(st.stdout, name); err != nil {
				return err
			}
		}
		return nil
	case "write":
		if len(args) < 1 {
			return errors.New("write: want FILE TEXT")
		}
		return os.WriteFile(args[0], []byte(strings.Join(args[1:], " ")+"\n"), 0o644)
	case "exit":
		if len(args) != 1 {
			return errors.New("want N")
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		return exitError(n)
	case "sleep":
		d, err := oneDuration(args)
		if err != nil {
			return err
		}
		time.Sleep(d)
		return nil
	case "trap-term":
		return st.trapTerm(false)
	case "ignore-term":
		return st.trapTerm(true)
	case "alloc-mem":
		if len(args) != 1 {
			return errors.New("want MIB")
		}
		mib, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		st.allocMem(mib)
		_, err = fmt.Fprintf(st.stdout, "allocated %d MiB\n", mib)
		return err
	case "spin":
		var d time.Duration
		if len(args) > 0 {
			var err error
			if d, err = oneDuration(args); err != nil {
				return err
			}
		}
		spin(d)
		return nil
	case "status":
		return procStatus(st.stdout, args)
	case "try":
		if len(args) != 1 {
			return errors.New("want CALL")
		}
		var err error
		switch args[0] {
		case "keyctl":
			const getKeyringID, sessionKeyring = 0, -3
			sk := sessionKeyring
			_, _, errno := syscall.Syscall(syscall.SYS_KEYCTL, getKeyringID, uintptr(sk), 0)
			if errno != 0 {
				err = errno
			}
		case "raw-socket":
			var fd int
			if fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP); err == nil {
				syscall.Close(fd)
			}
		default:
			return errors.New("try: unknown call")
		}
		_, werr := fmt.Fprintf(st.stdout, "%s: %s\n", args[0], errnoName(err))
		return werr
	default:
		return errors.New("unknown step")
	}
}

// errnoName is "ok" for no error, else the errno's symbolic name.
func errnoName(err error) string {
	var errno syscall.Errno
	if err == nil {
		return "ok"
	}
	if !errors.As(err, &errno) {
		return err.Error()
	}
	switch errno {
	case syscall.EPERM:
		return "EPERM"
	case syscall.EACCES:
		return "EACCES"
	case syscall.ENOSYS:
		return "ENOSYS"
	}
	return "errno " + strconv.Itoa(int(errno))
}

// procStatus prints the lines of /proc/self/status for fields.
func procStatus(w io.Writer, fields []string) error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, _, _ := strings.Cut(line, ":")
		for _, f := range fields {
			if name == f {
				if _, err := fmt.Fprintln(w, line); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func catFile(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func oneDuration(args []string) (time.Duration, error) {
	if len(args) != 1 {
		return 0, errors.New("want DURATION")
	}
	return time.ParseDuration(args[0])
}

// trapTerm prints "ready" once SIGTERM is caught, so a test knows when
// sending it is meaningful, then reports every SIGTERM that arrives.
func (st *state) trapTerm(forever bool) error {
	sigs := make(chan os.Signal, 8)
	st.setTrap(sigs)
	defer st.setTrap(nil)
	if _, err := fmt.Fprintln(st.stdout, "ready"); err != nil {
		return err
	}
	for range sigs {
		if _, err := fmt.Fprintln(st.stdout, "got SIGTERM"); err != nil {
			return err
		}
		if !forever {
			return nil
		}
	}
	return nil
}

func (st *state) setTrap(c chan os.Signal) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.trap = c
}

// allocMem allocates mib mebibytes one at a time and writes to every page, so
// the memory is resident and counted against the container's cgroup.
func (st *state) allocMem(mib int) {
	const page = 4096
	for range mib {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += page {
			b[i] = 1
		}
		st.held = append(st.held, b)
	}
}

// spin keeps one CPU busy for d, or forever when d is zero.
func spin(d time.Duration) {
	deadline := time.Now().Add(d)
	x := uint64(1)
	for d == 0 || time.Now().Before(deadline) {
		for range 1_000_000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 0 { // keep the loop from being optimised away
		fmt.Fprintln(os.Stderr, x)
	}
}
