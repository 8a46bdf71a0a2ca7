// Package brokerproc runs a Kafka-compatible broker of the workspace as a child process:
// FreshMart's own broker (broker/cmd/freshmart-broker) or, as a development fallback for
// comparing behaviour, franz-go's kfake (broker/bench/kfakeserver). The broker is built from
// the workspace with `go build` (once per process, into a per-user cache directory), listens on
// a free port of 127.0.0.1, stores into a data directory the caller chooses and has the
// FreshMart topics from the start: the FreshMart broker reads the definitions it ships with,
// broker/topics.json at the workspace root, and kfake is given the same set.
//
//	b, err := brokerproc.Start(brokerproc.FreshMart, dir)
//	...
//	defer b.Stop()
//	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
//
// Tests use it through package brokertest; programs such as the platform benchmark use it
// directly, since it does not depend on package testing. It needs the go command and the
// FreshMart Go workspace (go env GOWORK).
package brokerproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/schemas"
)

// The broker implementations Start runs.
const (
	FreshMart = "freshmart" // broker/cmd/freshmart-broker, the default
	KFake     = "kfake"     // broker/bench/kfakeserver
)

// packages maps a broker implementation to its main package in the workspace.
var packages = map[string]string{
	FreshMart: "./broker/cmd/freshmart-broker",
	KFake:     "./broker/bench/kfakeserver",
}

// Broker is a running broker process.
type Broker struct {
	// Addr is the Kafka listener, host:port. It stays the same across Restart.
	Addr string

	kind    string
	bin     string
	dataDir string
	logPath string
	extra   []string // StartArgs flags
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
}

var (
	buildMu sync.Mutex
	built   = map[string]string{} // package -> binary
)

// Start builds (once per process) and starts a broker of the given kind (FreshMart or KFake;
// "" is FreshMart) with its data in dir/data and its log in dir/broker.log. It returns once the
// broker lists the FreshMart topics, or an error holding the broker's log if that does not
// happen within a minute. The caller stops the broker with Stop (or Kill); the broker is also
// killed when the calling process dies.
func Start(kind, dir string) (*Broker, error) { return StartArgs(kind, dir) }

// StartArgs is Start with further command-line flags for the broker (FreshMart only), e.g. the
// secured listeners (--listen-sasl-ssl 127.0.0.1:0 --tls-cert ...); Restart keeps them.
func StartArgs(kind, dir string, extra ...string) (*Broker, error) {
	if kind == "" {
		kind = FreshMart
	}
	pkg, ok := packages[kind]
	if !ok {
		return nil, fmt.Errorf("unknown broker %q: want %s or %s", kind, FreshMart, KFake)
	}
	bin, err := build(pkg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker dir: %w", err)
	}
	if len(extra) > 0 && kind != FreshMart {
		return nil, fmt.Errorf("extra flags are for the %s broker only", FreshMart)
	}
	b := &Broker{kind: kind, bin: bin, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "broker.log"), extra: extra}
	if err := b.start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return b, nil
}

// build compiles pkg of the workspace (once per process) into a per-user cache directory, so
// callers do not leave copies behind. It builds to a temporary name and renames, so processes
// building at the same time never run a half-written file.
func build(pkg string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin, nil
	}
	root, err := workspaceRoot()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "freshmart-brokerproc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	tmp, err := os.CreateTemp(dir, filepath.Base(pkg)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("install %s: %w", bin, err)
	}
	built[pkg] = bin
	return bin, nil
}

func workspaceRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	gowork := strings.TrimSpace(string(out))
	if gowork == "" || gowork == "off" {
		return "", errors.New("not inside the FreshMart Go workspace (go env GOWORK is empty)")
	}
	return filepath.Dir(gowork), nil
}

func (b *Broker) start(listen string) error {
	var args []string
	switch b.kind {
	case KFake:
		args = []string{"-listen", listen, "-data-dir", b.dataDir, "-topics", "freshmart"}
	default:
		root, err := workspaceRoot()
		if err != nil {
			return err
		}
		// The topic definitions the broker ships with, not a copy.
		topics := filepath.Join(root, "broker", "topics.json")
		args = append([]string{"--listen", listen, "--http", "", "--data-dir", b.dataDir, "--topics", topics, "--log-level", "info"}, b.extra...)
	}
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return err
	}
	cmd := exec.Command(b.bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		pr.Close()
		pw.Close()
		return fmt.Errorf("start %s: %w", b.bin, err)
	}
	pw.Close()
	done := make(chan struct{})
	addrCh := make(chan string, 1)
	go func() {
		defer close(done)
		defer logf.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !sent && strings.Contains(line, "msg=listening") {
				if a := field(line, "addr"); a != "" {
					addrCh <- a
					sent = true
				}
			}
		}
		cmd.Wait() //nolint:errcheck // exit status is visible in the log
	}()
	select {
	case a := <-addrCh:
		b.mu.Lock()
		b.Addr, b.cmd, b.done = a, cmd, done
		b.mu.Unlock()
	case <-done:
		return fmt.Errorf("%s exited before listening:\n%s", b.kind, b.Log())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill() //nolint:errcheck
		<-done
		return fmt.Errorf("%s did not listen within 60s:\n%s", b.kind, b.Log())
	}
	return b.waitReady()
}

// waitReady waits until metadata lists the FreshMart topics.
func (b *Broker) waitReady() error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		td, err := adm.ListTopics(ctx, schemas.TopicPOSSales)
		cancel()
		if err == nil && td.Has(schemas.TopicPOSSales) && td[schemas.TopicPOSSales].Err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker at %s not ready within 60s (last: %v):\n%s", b.Addr, err, b.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Listener returns the address of the broker's listener with the given security protocol
// ("SASL_SSL", "SASL_PLAINTEXT", "SSL") from its log, or "" if it has none.
func (b *Broker) Listener(protocol string) string {
	addr := ""
	for _, line := range strings.Split(b.Log(), "\n") {
		if strings.Contains(line, "msg=listener ") && field(line, "protocol") == protocol {
			addr = field(line, "addr")
		}
	}
	return addr
}

// field extracts key=value from a slog text line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// Log returns what the broker has logged so far.
func (b *Broker) Log() string {
	raw, _ := os.ReadFile(b.logPath)
	return string(raw)
}

// Stop stops the broker with SIGTERM (a clean shutdown) and waits for it. Stopping a stopped
// broker is a no-op.
func (b *Broker) Stop() error { return b.signal(syscall.SIGTERM) }

// Kill stops the broker with SIGKILL, as a crash would, and waits for it.
func (b *Broker) Kill() error { return b.signal(syscall.SIGKILL) }

// Freeze suspends the broker process (SIGSTOP): its connections stay open and nothing
// answers, as with a stalled disk or a network partition. Thaw resumes it; Stop and Kill resume
// a frozen broker first.
func (b *Broker) Freeze() error { return b.pause(syscall.SIGSTOP) }

// Thaw resumes a broker suspended by Freeze (SIGCONT).
func (b *Broker) Thaw() error { return b.pause(syscall.SIGCONT) }

func (b *Broker) pause(sig syscall.Signal) error {
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd == nil {
		return errors.New("broker is not running")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	if sig == syscall.SIGSTOP {
		return waitStopped(cmd.Process.Pid, 10*time.Second)
	}
	return nil
}

// waitStopped waits until the kernel reports every thread of pid as stopped: kill(2) returns
// before a busy process on a loaded machine has actually stopped, and a test that freezes the
// broker must not see it answer one more request.
func waitStopped(pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		stopped, err := allThreadsStopped(pid)
		if err != nil || stopped {
			return nil // no procfs: nothing to wait on
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker (pid %d) not stopped %v after SIGSTOP", pid, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

func allThreadsStopped(pid int) (bool, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, err
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue // the thread exited
		}
		// The state follows the parenthesised command name: "tid (comm) T ...".
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false, nil
		}
	}
	return true, nil
}

func (b *Broker) signal(sig syscall.Signal) error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a frozen broker must run to handle sig
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill() //nolint:errcheck
		<-done
		return fmt.Errorf("broker did not exit within 60s of %v", sig)
	}
	return nil
}

// Restart stops the broker if it is running (SIGTERM) and starts it again on the same address
// and data directory. The port was the broker's a moment ago, so it retries for up to ten
// seconds in case the kernel still holds it.
func (b *Broker) Restart() error {
	if err := b.Stop(); err != nil {
		return err
	}
	var err error
	for i := 0; i < 50; i++ {
		if err = b.start(b.Addr); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}
