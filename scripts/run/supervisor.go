package run

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Backoff is the restart policy for a process that exits: wait Initial before the first
// restart, double the wait after each further exit up to Max, and start again from Initial once
// the process had stayed up for ResetAfter.
type Backoff struct {
	Initial    time.Duration // default 1s
	Max        time.Duration // default 30s
	ResetAfter time.Duration // default 1m
}

// DefaultBackoff is the policy `make run` uses: 1s, 2s, 4s ... 30s, reset after a minute up.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 30 * time.Second, ResetAfter: time.Minute}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = DefaultBackoff.ResetAfter
	}
	return b
}

// Next returns the wait before the next restart, given the previous wait (0 if none yet) and how
// long the process was up before it exited.
func (b Backoff) Next(prev, uptime time.Duration) time.Duration {
	b = b.withDefaults()
	if prev <= 0 || uptime >= b.ResetAfter {
		return b.Initial
	}
	next := prev * 2
	if next > b.Max || next <= 0 {
		next = b.Max
	}
	return next
}

// Proc describes a child process to supervise.
type Proc struct {
	Name string   // shown before each of its log lines
	Path string   // executable
	Args []string // arguments after the program name
	Env  []string // the complete environment; nil means the supervisor's own
	Dir  string   // working directory; empty means the supervisor's own
}

// Exit describes one exit of a supervised process.
type Exit struct {
	Name    string        // the process name
	Attempt int           // 1 for the first run, 2 for the first restart ...
	Err     error         // nil for exit status 0; an *exec.ExitError or a start error otherwise
	Uptime  time.Duration // how long it ran
	Restart time.Duration // wait before the next start; 0 when it is not restarted (stopping)
}

// SuperviseOptions tunes Supervise.
type SuperviseOptions struct {
	Backoff Backoff                    // default DefaultBackoff
	OnStart func(pid int, attempt int) // called after each successful start (tests, logs)
	OnExit  func(Exit)                 // called after each exit, before the restart wait
}

// Supervised is a process kept running by Supervise until Stop.
type Supervised struct {
	proc Proc
	out  *Output
	opts SuperviseOptions

	mu       sync.Mutex
	cmd      *exec.Cmd
	waitDone chan struct{} // closed when the current cmd has been waited for
	stopping bool
	wake     chan struct{} // closed by Stop to cut a restart wait short
	done     chan struct{} // closed when the restart loop has ended
}

// Supervise starts p and restarts it with backoff whenever it exits, until Stop is called. Its
// stdout and stderr go to out, line by line, under p.Name. Each run is its own process group, so
// a Ctrl-C at the terminal reaches only the supervisor, which then stops the children in order;
// the children get SIGTERM if the supervisor dies without stopping them (Linux parent-death
// signal).
func Supervise(p Proc, out *Output, opts SuperviseOptions) *Supervised {
	s := &Supervised{
		proc: p,
		out:  out,
		opts: opts,
		wake: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.loop()
	return s
}

// Name returns the process name.
func (s *Supervised) Name() string { return s.proc.Name }

// Done is closed once the process has been stopped for good.
func (s *Supervised) Done() <-chan struct{} { return s.done }

func (s *Supervised) loop() {
	defer close(s.done)
	var delay time.Duration
	for attempt := 1; ; attempt++ {
		stdout := s.out.Writer(s.proc.Name)
		stderr := s.out.Writer(s.proc.Name)
		cmd := exec.Command(s.proc.Path, s.proc.Args...)
		cmd.Env = s.proc.Env
		cmd.Dir = s.proc.Dir
		cmd.Stdout = stdout
		cmd.Stderr = stderr
		// Output copying must not hang on a grandchild that kept the pipes open.
		cmd.WaitDelay = 2 * time.Second
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}

		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		start := time.Now()
		err := cmd.Start()
		waitDone := make(chan struct{})
		if err == nil {
			s.cmd, s.waitDone = cmd, waitDone
		}
		s.mu.Unlock()

		if err != nil {
			err = fmt.Errorf("start %s: %w", s.proc.Path, err)
			close(waitDone)
		} else {
			if s.opts.OnStart != nil {
				s.opts.OnStart(cmd.Process.Pid, attempt)
			}
			err = cmd.Wait()
			close(waitDone)
		}
		stdout.Flush()
		stderr.Flush()
		uptime := time.Since(start)

		s.mu.Lock()
		s.cmd = nil
		stopping := s.stopping
		s.mu.Unlock()

		ex := Exit{Name: s.proc.Name, Attempt: attempt, Err: err, Uptime: uptime}
		if !stopping {
			delay = s.opts.Backoff.Next(delay, uptime)
			ex.Restart = delay
		}
		if s.opts.OnExit != nil {
			s.opts.OnExit(ex)
		}
		if stopping {
			return
		}
		s.out.Printf(s.proc.Name, "%s after %s; restarting in %s", describeExit(err), uptime.Round(time.Millisecond), delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.wake:
			t.Stop()
			return
		}
	}
}

func describeExit(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exited with status 0"
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	default:
		return err.Error()
	}
}

// Stop ends supervision: no more restarts; the running process (its whole process group) gets
// SIGTERM and, if it has not exited after timeout, SIGKILL. Stop returns once the process is gone.
// It is safe to call more than once.
func (s *Supervised) Stop(timeout time.Duration) {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.wake)
	}
	cmd, waitDone := s.cmd, s.waitDone
	s.mu.Unlock()

	if cmd != nil {
		pid := cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		t := time.NewTimer(timeout)
		select {
		case <-waitDone:
			t.Stop()
		case <-t.C:
			s.out.Printf(s.proc.Name, "still running %s after SIGTERM; sending SIGKILL", timeout)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	<-s.done
}
