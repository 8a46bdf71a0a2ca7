package e2e

import (
	"bufio"
	"context"
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

	"github.com/freshmart/platform/broker"
)

// TestTopicsCommandCreatesTheFreshMartTopics runs `freshmart-run topics` against a broker that
// starts with no topics at all (standing in for a fresh Kafka cluster): every FreshMart topic is
// created with its partition count and retention, and a second run changes nothing.
func TestTopicsCommandCreatesTheFreshMartTopics(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, pkg := range []string{"./broker/cmd/freshmart-broker", "./scripts/cmd/freshmart-run"} {
		cmd := exec.Command("go", "build", "-o", bin+"/", pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	noTopics := filepath.Join(t.TempDir(), "none.json")
	if err := os.WriteFile(noTopics, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startBroker(t, filepath.Join(bin, "freshmart-broker"), noTopics)

	runTopics := func() string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "freshmart-run"), "topics")
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+addr, "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("freshmart-run topics: %v\n%s", err, out)
		}
		return string(out)
	}
	first := runTopics()
	defs, err := broker.DefaultTopics()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if !strings.Contains(first, "created topic "+d.Name+" ") {
			t.Errorf("first run did not create %s:\n%s", d.Name, first)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		td, ok := topics[d.Name]
		if !ok {
			t.Errorf("topic %s missing", d.Name)
			continue
		}
		if got := int32(len(td.Partitions)); got != d.Partitions {
			t.Errorf("topic %s has %d partitions, want %d", d.Name, got, d.Partitions)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "store-alerts")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("store-alerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			found = true
			if c.MaybeValue() != "7776000000" {
				t.Errorf("store-alerts retention.ms = %q, want 7776000000 (90 days)", c.MaybeValue())
			}
		}
	}
	if !found {
		t.Error("store-alerts has no retention.ms config")
	}

	if second := runTopics(); strings.Contains(second, "created topic") {
		t.Errorf("second run created topics again:\n%s", second)
	}
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startBroker runs our broker binary on free ports with a temporary data directory and returns
// its Kafka address once it logs that it is listening.
func startBroker(t *testing.T, path, topicsFile string) string {
	t.Helper()
	cmd := exec.Command(path, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--topics", topicsFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(60 * time.Second):
		t.Fatal("broker did not log msg=listening within 60 s")
		return ""
	}
}
