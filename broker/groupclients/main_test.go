package groupclients

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokerBin is the freshmart-broker binary under test, built by TestMain
// (or FRESHMART_BROKER_BIN when set).
var brokerBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if bin := os.Getenv("FRESHMART_BROKER_BIN"); bin != "" {
		brokerBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "freshmart-groupclients-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "groupclients: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	brokerBin = filepath.Join(dir, "freshmart-broker")
	build := exec.Command("go", "build", "-o", brokerBin, "github.com/freshmart/platform/broker/cmd/freshmart-broker")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "groupclients: build freshmart-broker: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

var (
	listeningRE = regexp.MustCompile(`msg="?listening"? .*?\baddr=([0-9.:]+)`)
	httpRE      = regexp.MustCompile(`msg="http endpoints up" http=([0-9.:]+)`)
)

// broker is a running freshmart-broker process.
type broker struct {
	t       *testing.T
	dataDir string
	addr    string // Kafka listener
	http    string // /metrics
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *lockedBuffer
}

// lockedBuffer collects the broker's log for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > 8000 {
		s = s[len(s)-8000:]
	}
	return s
}

// startBroker execs the broker over dataDir on listen (127.0.0.1:0 for a
// fresh port) and waits until it answers Metadata. Group settings make
// evictions quick: consumers may ask for 1 s sessions.
func startBroker(t *testing.T, dataDir, listen string) *broker {
	t.Helper()
	cmd := exec.Command(brokerBin,
		"--listen", listen,
		"--http", "127.0.0.1:0",
		"--data-dir", dataDir,
		"--group-min-session-timeout", "1s",
		"--group-initial-rebalance-delay", "300ms",
	)
	b := &broker{t: t, dataDir: dataDir, cmd: cmd, exited: make(chan struct{}), log: &lockedBuffer{}}
	pr, pw := io.Pipe()
	cmd.Stdout = b.log
	cmd.Stderr = io.MultiWriter(b.log, pw)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", brokerBin, err)
	}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(b.exited)
	}()
	t.Cleanup(func() {
		b.kill()
		if t.Failed() {
			t.Logf("broker log tail:\n%s", b.log.String())
		}
	})
	addr := make(chan string, 1)
	httpAddr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := httpRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case httpAddr <- m[1]:
				default:
				}
			}
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case b.addr = <-addr:
	case <-b.exited:
		t.Fatalf("broker exited before listening; log:\n%s", b.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("broker did not log a listening line within 60 s; log:\n%s", b.log.String())
	}
	select {
	case b.http = <-httpAddr: // logged before the listening line
	default:
		t.Fatalf("broker logged no http address before listening; log:\n%s", b.log.String())
	}
	waitFor(t, "the broker to answer Metadata", func() bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RequestRetries(0))
		if err != nil {
			return false
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
		return err == nil
	})
	return b
}

// stop sends SIGTERM and waits for a clean exit.
func (b *broker) stop() {
	b.t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(60 * time.Second):
		b.t.Fatalf("broker did not exit within 60 s of SIGTERM")
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		b.t.Fatalf("broker exited with %d after SIGTERM; log:\n%s", code, b.log.String())
	}
}

// kill sends SIGKILL (no chance to flush anything) and waits.
func (b *broker) kill() {
	select {
	case <-b.exited:
		return
	default:
	}
	_ = b.cmd.Process.Kill()
	<-b.exited
}

func (b *broker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes n records prefix-0..prefix-(n-1) round-robin over the
// partitions and returns the values.
func (b *broker) produce(t *testing.T, topic, prefix string, n int) []string {
	t.Helper()
	// Uncompressed: Debian's kafka-python has no snappy library.
	cl := b.client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	vals := make([]string, n)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		vals[i] = fmt.Sprintf("%s-%d", prefix, i)
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(vals[i])}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return vals
}

// needProgram returns the path of a program the test cannot run without;
// it fails (not skips) with what to install when it is missing.
func needProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test (install %s): %v", name, pkg, err)
	}
	return p
}

// python returns a python3 that can import module (Debian's python3 has the
// python3-kafka and python3-confluent-kafka packages; a pyenv shim may not).
func python(t *testing.T, module, pkg string) string {
	t.Helper()
	var tried []string
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		tried = append(tried, path)
		if exec.Command(path, "-c", "import "+module).Run() == nil {
			return path
		}
	}
	t.Fatalf("python module %s is required (install %s); no python3 could import it (tried %v)", module, pkg, tried)
	return ""
}

// waitFor polls cond until it holds or 90 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
