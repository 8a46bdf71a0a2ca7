package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokerBin is the freshmart-broker binary under test, built by TestMain.
var brokerBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("FRESHMART_BROKER_BIN"); bin != "" {
		brokerBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "freshmart-broker-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	brokerBin = filepath.Join(dir, "freshmart-broker")
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go command is needed to build freshmart-broker:", err)
		return 1
	}
	build := exec.Command(goBin, "build", "-o", brokerBin, "github.com/freshmart/platform/broker/cmd/freshmart-broker")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build freshmart-broker: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// listeningRE finds the Kafka address in the broker's "listening" log line.
var listeningRE = regexp.MustCompile(`msg="?listening"? .*?\baddr=([0-9.\[\]:a-f]+)`)

// broker is one running freshmart-broker process.
type broker struct {
	t       *testing.T
	dataDir string
	addr    string // bound Kafka address
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // set before exited is closed
	logPath string
}

// startBroker execs the broker on ephemeral loopback ports over dataDir,
// waits for its "listening" log line and for it to answer Metadata, and
// registers a cleanup that kills it if the test has not stopped it.
func startBroker(t *testing.T, dataDir string, extra ...string) *broker {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "broker-*.log")
	if err != nil {
		t.Fatalf("broker log: %v", err)
	}
	args := append([]string{
		"--listen", "127.0.0.1:0",
		"--http", "127.0.0.1:0",
		"--data-dir", dataDir,
		"--log-level", "info",
	}, extra...)
	cmd := exec.Command(brokerBin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout = logf
	cmd.Stderr = io.MultiWriter(logf, pw)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", brokerBin, err)
	}
	b := &broker{t: t, dataDir: dataDir, cmd: cmd, exited: make(chan struct{}), logPath: logf.Name()}
	go func() {
		b.waitErr = cmd.Wait()
		pw.Close()
		logf.Close()
		close(b.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("broker log (%s):\n%s", b.logPath, b.logTail())
		}
	})

	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addrCh <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case b.addr = <-addrCh:
	case <-b.exited:
		t.Fatalf("broker exited before listening (%v); log:\n%s", b.waitErr, b.logTail())
	case <-time.After(60 * time.Second):
		t.Fatalf("broker logged no listening line in 60 s; log:\n%s", b.logTail())
	}
	b.waitReady()
	return b
}

// waitReady polls Metadata until the broker answers (60 s at most).
func (b *broker) waitReady() {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RequestRetries(0))
		if err != nil {
			b.t.Fatalf("client: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
		cancel()
		cl.Close()
		if err == nil {
			return
		}
		select {
		case <-b.exited:
			b.t.Fatalf("broker exited (%v); log:\n%s", b.waitErr, b.logTail())
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("broker at %s did not answer Metadata in 60 s: %v", b.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within 60 s.
func (b *broker) stop() {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-b.exited:
	case <-time.After(60 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		b.t.Fatalf("broker did not exit within 60 s of SIGTERM; log:\n%s", b.logTail())
	}
	if b.waitErr != nil {
		b.t.Fatalf("broker exited uncleanly after SIGTERM: %v; log:\n%s", b.waitErr, b.logTail())
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (b *broker) kill() {
	b.t.Helper()
	if err := b.cmd.Process.Kill(); err != nil {
		b.t.Fatalf("SIGKILL: %v", err)
	}
	<-b.exited
}

// logTail returns the last 8 KiB of the broker's log.
func (b *broker) logTail() string {
	f, err := os.Open(b.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 8 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// client returns a franz-go client for the broker, closed at cleanup.
func (b *broker) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		b.t.Fatalf("client: %v", err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client for the broker.
func (b *broker) admin() *kadm.Client {
	return kadm.NewClient(b.client())
}

// createTopic creates a topic, failing the test on any error.
func (b *broker) createTopic(name string, partitions int32, configs map[string]*string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := b.admin().CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.t.Fatalf("create topic %s: %v", name, err)
	}
}

// consumed is one record read back, with where it was.
type consumed struct {
	partition int32
	offset    int64
	key       string
	value     string
}

// consumeAll reads every partition of topic from its log start to the high
// watermark the broker reports when the call starts (60 s at most).
func consumeAll(t *testing.T, b *broker, topic string) []consumed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("list start offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{} // partition -> high watermark still to reach
	assign := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			assign[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))
	var out []consumed
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: timed out with partitions %v not read to their end", topic, want)
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s[%d]: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, consumed{r.Partition, r.Offset, string(r.Key), string(r.Value)})
			if r.Offset == end-1 {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// requireTool returns the path of an external program or fails the test
// with a message saying what to install.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test and is not on PATH (install %s)", name, install)
	}
	return p
}

// runCmd runs a command with a deadline and returns its stdout; it fails the
// test with stderr on a non-zero exit.
func runCmd(t *testing.T, timeout time.Duration, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, tail(stdout.String()), tail(stderr.String()))
	}
	return stdout.String()
}

func tail(s string) string {
	const max = 4 << 10
	if len(s) > max {
		return "..." + s[len(s)-max:]
	}
	return s
}
