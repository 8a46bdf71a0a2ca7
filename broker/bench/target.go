package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// target is one broker process under test.
type target struct {
	name    string // column title
	addr    string // Kafka listener, host:port
	http    string // HTTP address (freshmart-broker's /metrics), host:port
	dataDir string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

// freePorts asks the kernel for n free loopback ports. The ports are free
// when this returns; the broker binds them right after, which is good enough
// for a benchmark. All n listeners stay open until the last is chosen, so the
// ports differ: the kernel often offers a port again as soon as it is closed.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startTarget execs bin with args (in which "{port}" and "{http}" are
// replaced by free ports and "{dir}" by a fresh data directory under work),
// logs its output to work/<name>.log and waits until it answers a Metadata
// request.
func startTarget(ctx context.Context, name, work, bin string, args []string) (*target, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	port, httpPort := ports[0], ports[1]
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(name))
	dir := filepath.Join(work, slug+"-data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: data dir: %w", name, err)
	}
	repl := strings.NewReplacer("{port}", strconv.Itoa(port), "{http}", strconv.Itoa(httpPort), "{dir}", dir)
	full := make([]string, len(args))
	for i, a := range args {
		full[i] = repl.Replace(a)
	}
	logPath := filepath.Join(work, slug+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(bin, full...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	t := &target{
		name:    name,
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		http:    net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		dataDir: dir,
		cmd:     cmd,
		logPath: logPath,
		exited:  make(chan struct{}),
	}
	go func() {
		t.waitErr = cmd.Wait()
		logf.Close()
		close(t.exited)
	}()
	if err := t.waitReady(ctx, 30*time.Second); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// waitReady polls the broker with Metadata requests until it answers.
func (t *target) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-t.exited:
			return fmt.Errorf("%s exited before it was ready (%v); log:\n%s", t.name, t.waitErr, t.logTail())
		default:
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(t.addr), kgo.RequestRetries(0))
		if err != nil {
			return fmt.Errorf("%s: client: %w", t.name, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = kadm.NewClient(cl).BrokerMetadata(rctx)
		cancel()
		cl.Close()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w; log:\n%s", t.name, timeout, err, t.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createTopic creates a topic with the given partition count unless it
// exists.
func (t *target) createTopic(ctx context.Context, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addr))
	if err != nil {
		return fmt.Errorf("%s: client: %w", t.name, err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("%s: create topic %s: %w", t.name, topic, err)
	}
	return nil
}

// stop sends SIGTERM and waits up to 30 s for the process to exit, then
// kills it.
func (t *target) stop() {
	select {
	case <-t.exited:
		return
	default:
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(30 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.exited
	}
}

// logTail returns the last few KiB of the process's log.
func (t *target) logTail() string {
	f, err := os.Open(t.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 4096
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// cpuTime returns the process's user+system CPU time so far (all threads).
func (t *target) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", t.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("%s: read stat: %w", t.name, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts utime+stime from the contents of /proc/<pid>/stat.
// The command name (field 2) may contain spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	// After ") " come fields 3 (state) onwards; utime is field 14, stime 15.
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime: %w", err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// peakRSS returns VmHWM, the process's peak resident set size, in bytes.
func (t *target) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", t.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("%s: read status: %w", t.name, err)
	}
	defer f.Close()
	return parseStatusKB(f, "VmHWM")
}

// parseStatusKB finds a "Name:   123 kB" line in /proc/<pid>/status and
// returns its value in bytes.
func parseStatusKB(r io.Reader, name string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("status: %s: unexpected value %q", name, v)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: %s: %w", name, err)
		}
		return n * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	return 0, fmt.Errorf("status: no %s line", name)
}
