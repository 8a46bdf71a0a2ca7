// Package brokertest runs FreshMart's own broker (broker/cmd/freshmart-broker) as a child
// process for service tests: built from the workspace with `go build`, listening on a free
// port on 127.0.0.1, storing into a temporary data directory, with the FreshMart topics created
// at start.
//
//	b := brokertest.Start(t)
//	cl := b.Client(t, kgo.ConsumerGroup("g"))
//
// Setting FRESHMART_TEST_BROKER=kfake runs franz-go's kfake instead (broker/bench/kfakeserver,
// same topics), a development fallback for comparing behaviour; the default and what CI runs is
// the FreshMart broker.
package brokertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBroker selects the broker implementation: "freshmart" (default) or "kfake".
const EnvBroker = "FRESHMART_TEST_BROKER"

// Broker is a running broker process.
type Broker struct {
	// Addr is the Kafka listener, host:port.
	Addr string

	t       testing.TB
	kind    string
	bin     string
	dataDir string
	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
}

var (
	buildMu sync.Mutex
	built   = map[string]string{} // package -> binary
)

// Start builds (once per test binary) and starts a broker, stopped when the test ends. It fails
// the test if the broker does not come up within a minute.
func Start(t testing.TB) *Broker {
	t.Helper()
	kind := os.Getenv(EnvBroker)
	if kind == "" {
		kind = "freshmart"
	}
	pkg := map[string]string{
		"freshmart": "./broker/cmd/freshmart-broker",
		"kfake":     "./broker/bench/kfakeserver",
	}[kind]
	if pkg == "" {
		t.Fatalf("brokertest: %s=%q: want freshmart or kfake", EnvBroker, kind)
	}
	bin, err := build(pkg)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	dir := t.TempDir()
	b := &Broker{t: t, kind: kind, bin: bin, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "broker.log")}
	if err := b.start("127.0.0.1:0"); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Logf("brokertest: stop: %v", err)
		}
	})
	return b
}

// build compiles pkg of the workspace (once per test binary) into a per-user cache directory,
// so test binaries do not leave copies behind. It builds to a temporary name and renames, so
// test binaries building at the same time never run a half-written file.
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
	dir := filepath.Join(cache, "freshmart-brokertest")
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
	case "kfake":
		args = []string{"-listen", listen, "-data-dir", b.dataDir, "-topics", "freshmart"}
	default:
		root, err := workspaceRoot()
		if err != nil {
			return err
		}
		// The topic definitions the broker ships with, not a copy.
		topics := filepath.Join(root, "broker", "topics.json")
		args = []string{"--listen", listen, "--http", "", "--data-dir", b.dataDir, "--topics", topics, "--log-level", "info"}
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
		td, err := adm.ListTopics(ctx, "pos-sales")
		cancel()
		if err == nil && td.Has("pos-sales") && td["pos-sales"].Err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker at %s not ready within 60s (last: %v):\n%s", b.Addr, err, b.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
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

func (b *Broker) signal(sig syscall.Signal) error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
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

// Restart starts the stopped (or killed) broker again on the same address and data directory.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	if err := b.Stop(); err != nil {
		t.Fatalf("brokertest: restart: %v", err)
	}
	// The port was ours a moment ago; retry briefly in case the kernel holds it.
	var err error
	for i := 0; i < 50; i++ {
		if err = b.start(b.Addr); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("brokertest: restart: %v", err)
}

// Client returns a franz-go client seeded with the broker, closed when the test ends.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		t.Fatalf("brokertest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic with the given number of partitions.
func (b *Broker) CreateTopic(t testing.TB, name string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(b.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("brokertest: create topic %s: %v", name, err)
	}
}

// hasLine reports whether the broker's log contains s (for tests of the harness itself).
func (b *Broker) hasLine(s string) bool { return strings.Contains(b.Log(), s) }
