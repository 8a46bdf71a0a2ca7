package run

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv selects what the test binary does when it is started as a supervised child.
const helperEnv = "FRESHMART_RUN_TEST_HELPER"

// TestMain turns the test binary into the tiny child programs the supervisor tests start:
//
//	crash     prints a line to stdout, a partial line, a line to stderr, exits with status 3
//	serve     prints "ready", exits 0 on SIGTERM after printing "got SIGTERM"
//	stubborn  prints "ready", ignores SIGTERM, runs until killed
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "crash":
		fmt.Printf("hello from %d\n", os.Getpid())
		fmt.Print("partial line")
		fmt.Fprintln(os.Stderr, "oops on stderr")
		os.Exit(3)
	case "serve":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		fmt.Println("got SIGTERM")
		os.Exit(0)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		select {}
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode")
		os.Exit(2)
	}
}

// syncBuffer is a bytes.Buffer safe for the supervisor's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// helperProc returns a Proc running this test binary in the given helper mode.
func helperProc(t *testing.T, name, mode string) Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("test executable: %v", err)
	}
	return Proc{Name: name, Path: exe, Env: append(os.Environ(), helperEnv+"="+mode)}
}

// waitFor polls cond until it holds or 60 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exits collects Exit reports.
type exits struct {
	mu   sync.Mutex
	list []Exit
}

func (e *exits) add(x Exit) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, x)
}

func (e *exits) get() []Exit {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Exit(nil), e.list...)
}

func TestSuperviseRestartsCrashingProcessWithBackoff(t *testing.T) {
	var buf syncBuffer
	out := NewOutput(&buf, false, 7)
	var ex exits
	bo := Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, ResetAfter: time.Hour}
	s := Supervise(helperProc(t, "crasher", "crash"), out, SuperviseOptions{Backoff: bo, OnExit: ex.add})
	t.Cleanup(func() { s.Stop(10 * time.Second) })

	waitFor(t, "five exits", func() bool { return len(ex.get()) >= 5 })
	s.Stop(10 * time.Second)

	got := ex.get()
	want := []time.Duration{5, 10, 20, 20, 20}
	for i, w := range want {
		x := got[i]
		if x.Attempt != i+1 {
			t.Errorf("exit %d: attempt %d, want %d", i, x.Attempt, i+1)
		}
		var ee *exec.ExitError
		if !errors.As(x.Err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("exit %d: err %v, want exit status 3", i, x.Err)
		}
		if x.Restart != w*time.Millisecond {
			t.Errorf("exit %d: restart wait %s, want %s", i, x.Restart, w*time.Millisecond)
		}
	}

	log := buf.String()
	for _, line := range []string{
		"[crasher] partial line\n",
		"[crasher] oops on stderr\n",
		"[crasher] exited with status 3 after ",
		"; restarting in 5ms\n",
		"; restarting in 10ms\n",
		"; restarting in 20ms\n",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("output lacks %q:\n%s", line, log)
		}
	}
	// Every run is a new process: the pids in the greetings differ.
	pids := map[string]bool{}
	for _, l := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(l, "[crasher] hello from "); ok {
			pids[rest] = true
		}
	}
	if len(pids) < 5 {
		t.Errorf("saw %d distinct pids, want >= 5:\n%s", len(pids), log)
	}
}

func TestSuperviseStopSendsSIGTERMAndDoesNotRestart(t *testing.T) {
	var buf syncBuffer
	out := NewOutput(&buf, false, 5)
	var ex exits
	var starts sync.Map
	s := Supervise(helperProc(t, "svc", "serve"), out, SuperviseOptions{
		OnExit:  ex.add,
		OnStart: func(pid, attempt int) { starts.Store(attempt, pid) },
	})
	waitFor(t, "ready", func() bool { return strings.Contains(buf.String(), "[svc]   ready\n") })
	s.Stop(30 * time.Second)

	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	log := buf.String()
	if !strings.Contains(log, "[svc]   got SIGTERM\n") {
		t.Errorf("child did not report SIGTERM:\n%s", log)
	}
	got := ex.get()
	if len(got) != 1 || got[0].Err != nil || got[0].Restart != 0 {
		t.Errorf("exits = %+v, want one clean exit without restart", got)
	}
	if _, ok := starts.Load(2); ok {
		t.Error("process was restarted after Stop")
	}
	if strings.Contains(log, "restarting") || strings.Contains(log, "SIGKILL") {
		t.Errorf("unexpected restart or kill:\n%s", log)
	}
}

func TestSuperviseStopKillsProcessIgnoringSIGTERM(t *testing.T) {
	var buf syncBuffer
	out := NewOutput(&buf, false, 8)
	var ex exits
	s := Supervise(helperProc(t, "stubborn", "stubborn"), out, SuperviseOptions{OnExit: ex.add})
	waitFor(t, "ready", func() bool { return strings.Contains(buf.String(), "ready\n") })
	s.Stop(100 * time.Millisecond)

	log := buf.String()
	if !strings.Contains(log, "sending SIGKILL") {
		t.Errorf("no SIGKILL notice:\n%s", log)
	}
	got := ex.get()
	if len(got) != 1 {
		t.Fatalf("exits = %+v, want one", got)
	}
	if d := describeExit(got[0].Err); d != "killed by signal 9 (killed)" {
		t.Errorf("exit = %q, want killed by SIGKILL", d)
	}
}

func TestSuperviseReportsMissingBinaryAndKeepsTrying(t *testing.T) {
	var buf syncBuffer
	out := NewOutput(&buf, false, 7)
	var ex exits
	p := Proc{Name: "missing", Path: t.TempDir() + "/no-such-binary"}
	s := Supervise(p, out, SuperviseOptions{Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}, OnExit: ex.add})
	waitFor(t, "two failed starts", func() bool { return len(ex.get()) >= 2 })
	s.Stop(time.Second)
	if x := ex.get()[0]; x.Err == nil || !strings.Contains(x.Err.Error(), "no-such-binary") {
		t.Errorf("err = %v, want a start error naming the binary", x.Err)
	}
}

func TestBackoffNext(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 30 * time.Second, ResetAfter: time.Minute}
	tests := []struct {
		name         string
		prev, uptime time.Duration
		want         time.Duration
	}{
		{"first exit", 0, 0, time.Second},
		{"doubles", time.Second, time.Second, 2 * time.Second},
		{"doubles again", 4 * time.Second, 0, 8 * time.Second},
		{"capped", 16 * time.Second, 0, 30 * time.Second},
		{"stays capped", 30 * time.Second, 59 * time.Second, 30 * time.Second},
		{"reset after a minute up", 30 * time.Second, time.Minute, time.Second},
		{"zero value uses defaults", 0, 0, DefaultBackoff.Initial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bo := b
			if tt.name == "zero value uses defaults" {
				bo = Backoff{}
			}
			if got := bo.Next(tt.prev, tt.uptime); got != tt.want {
				t.Errorf("Next(%s, %s) = %s, want %s", tt.prev, tt.uptime, got, tt.want)
			}
		})
	}
}
