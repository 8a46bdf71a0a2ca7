package groupclients

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// member is one python consumer process.
type member struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    string
	stderr *bytes.Buffer
	exited chan struct{}
}

// family is one client library: how to start a member and run its admin tool.
type family struct {
	name   string
	member func(bootstrap, group, topic, out string) *exec.Cmd
	admin  func(bootstrap, group, topic string) *exec.Cmd
}

func pythonFamily(t *testing.T, lib, module, pkg string) family {
	t.Helper()
	py := python(t, module, pkg)
	return family{
		name: lib,
		member: func(bootstrap, group, topic, out string) *exec.Cmd {
			return exec.Command(py, filepath.Join("testdata", "consumer.py"),
				"--lib", lib, "--bootstrap", bootstrap, "--group", group, "--topic", topic,
				"--out", out, "--session-ms", "3000")
		},
		admin: func(bootstrap, group, _ string) *exec.Cmd {
			return exec.Command(py, filepath.Join("testdata", "admin.py"), "--lib", lib, "--bootstrap", bootstrap, "--group", group)
		},
	}
}

// kafkajsFamily installs kafkajs from the committed lock file into a scratch
// directory (the source tree stays clean) and runs testdata/kafkajs there.
func kafkajsFamily(t *testing.T) family {
	t.Helper()
	node := needProgram(t, "node", "node 20")
	npm := needProgram(t, "npm", "npm")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "consumer.js", "admin.js"} {
		data, err := os.ReadFile(filepath.Join("testdata", "kafkajs", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci (kafkajs) in %s: %v\n%s", dir, err, out)
	}
	return family{
		name: "kafkajs",
		member: func(bootstrap, group, topic, out string) *exec.Cmd {
			return exec.Command(node, filepath.Join(dir, "consumer.js"), bootstrap, group, topic, out, "3000")
		},
		admin: func(bootstrap, group, topic string) *exec.Cmd {
			return exec.Command(node, filepath.Join(dir, "admin.js"), bootstrap, group, topic)
		},
	}
}

func startMember(t *testing.T, fam family, bootstrap, group, topic, dir, name string) *member {
	t.Helper()
	out := filepath.Join(dir, name+".out")
	cmd := fam.member(bootstrap, group, topic, out)
	m := &member{t: t, cmd: cmd, out: out, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = m.stderr // read only after the process exited
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s consumer: %v", fam.name, err)
	}
	go func() { _ = cmd.Wait(); close(m.exited) }()
	t.Cleanup(func() {
		m.killNow()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, m.stderrText())
		}
	})
	return m
}

// stderrText returns the process's stderr once it has exited.
func (m *member) stderrText() string {
	<-m.exited
	return m.stderr.String()
}

func (m *member) exists(suffix string) bool {
	_, err := os.Stat(m.out + suffix)
	return err == nil
}

func (m *member) running() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// crash lets the member finish its current batch, then SIGKILLs it: it never
// leaves the group, so only the session timeout removes it.
func (m *member) crash() {
	m.t.Helper()
	if err := os.WriteFile(m.out+".pause", []byte("1"), 0o644); err != nil {
		m.t.Fatal(err)
	}
	waitFor(m.t, "the member to pause", func() bool { return m.exists(".paused") || !m.running() })
	m.killNow()
}

func (m *member) killNow() {
	if m.running() {
		_ = m.cmd.Process.Kill()
	}
	<-m.exited
}

// leave stops the member with SIGTERM: it closes its consumer and leaves.
func (m *member) leave() {
	m.t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(60 * time.Second):
		m.t.Fatalf("consumer did not exit within 60 s of SIGTERM")
	}
	if code := m.cmd.ProcessState.ExitCode(); code != 0 {
		m.t.Fatalf("consumer exited with %d; stderr:\n%s", code, m.stderrText())
	}
}

// committedLedger reads every member's ledger of committed records and
// counts each value.
func committedLedger(t *testing.T, members ...*member) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, m := range members {
		b, err := os.ReadFile(m.out)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line != "" {
				seen[line]++
			}
		}
	}
	return seen
}

func hasAll(seen map[string]int, vals []string) bool {
	for _, v := range vals {
		if seen[v] == 0 {
			return false
		}
	}
	return true
}

func checkExactlyOnce(t *testing.T, seen map[string]int, want int) {
	t.Helper()
	if len(seen) != want {
		t.Errorf("%d distinct records consumed, want %d", len(seen), want)
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("record %s consumed %d times", v, n)
		}
	}
}

func describe(t *testing.T, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	return ds[group]
}

// committedOffsets returns the group's committed offset per partition.
func committedOffsets(t *testing.T, adm *kadm.Client, group string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fo, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	out := map[int32]int64{}
	fo.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

func endOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

type adminView struct {
	Groups    []string         `json:"groups"`
	State     string           `json:"state"`
	Members   int              `json:"members"`
	Lag       int64            `json:"lag"`
	Committed map[string]int64 `json:"committed"`
}

func runAdmin(t *testing.T, fam family, bootstrap, group, topic string) adminView {
	t.Helper()
	cmd := fam.admin(bootstrap, group, topic)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	timer := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s admin: %v\n%s", fam.name, err, stderr.String())
	}
	var v adminView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s admin output %q: %v", fam.name, out, err)
	}
	return v
}

// TestClientFamilyGroups runs two consumer processes of each client family
// not written in Go (confluent-kafka/librdkafka, kafka-python, kafkajs) in
// one group against the real broker binary: they split the partitions, one is
// killed (SIGKILL, no leave) and the other takes over, every record is
// committed exactly once, the family's admin client shows the group and its
// lag (as does /metrics), and the committed offsets survive a broker restart
// (a clean one, or a SIGKILL) so a new member resumes where the group stopped.
func TestClientFamilyGroups(t *testing.T) {
	tests := []struct {
		name       string
		family     func(t *testing.T) family
		killBroker bool
	}{
		{"confluent", func(t *testing.T) family {
			return pythonFamily(t, "confluent", "confluent_kafka", "python3-confluent-kafka")
		}, false},
		{"kafka-python", func(t *testing.T) family { return pythonFamily(t, "kafka-python", "kafka", "python3-kafka") }, true},
		{"kafkajs", kafkajsFamily, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fam := tt.family(t)
			kcat := needProgram(t, "kcat", "kcat")
			dir := t.TempDir()
			b := startBroker(t, filepath.Join(dir, "data"), "127.0.0.1:0")
			topic, group := "sales-"+tt.name, "group-"+tt.name
			adm := kadm.NewClient(b.client(t))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
				t.Fatalf("create topic: %v", err)
			}

			// kcat -L lists the topic with its partitions.
			out, err := exec.Command(kcat, "-L", "-b", b.addr, "-t", topic).CombinedOutput()
			if err != nil || !strings.Contains(string(out), `topic "`+topic+`" with 4 partitions`) {
				t.Fatalf("kcat -L: %v\n%s", err, out)
			}

			first := b.produce(t, topic, "a", 200)
			m1 := startMember(t, fam, b.addr, group, topic, dir, "m1")
			m2 := startMember(t, fam, b.addr, group, topic, dir, "m2")
			waitFor(t, "both members assigned", func() bool { return m1.exists(".ready") && m2.exists(".ready") })
			waitFor(t, "the first records committed", func() bool { return hasAll(committedLedger(t, m1, m2), first) })
			waitFor(t, "a stable group of two", func() bool {
				d := describe(t, adm, group)
				return d.State == "Stable" && len(d.Members) == 2
			})

			// Kill one member: the other takes over its partitions.
			m2.crash()
			second := b.produce(t, topic, "b", 200)
			waitFor(t, "the survivor to take over", func() bool { return hasAll(committedLedger(t, m1, m2), second) })
			d := describe(t, adm, group)
			if d.State != "Stable" || len(d.Members) != 1 {
				t.Fatalf("after the kill: %s with %d members, want Stable with 1", d.State, len(d.Members))
			}

			// The admin tools see the group, its member and, after more
			// records arrive while nobody consumes, its lag.
			m1.leave()
			third := b.produce(t, topic, "c", 40)
			view := runAdmin(t, fam, b.addr, group, topic)
			if !contains(view.Groups, group) || view.State != "Empty" || view.Lag != 40 || len(view.Committed) != 4 {
				t.Fatalf("admin view = %+v, want group %s Empty with lag 40 over 4 partitions", view, group)
			}
			if lag := metricsLag(t, b.http, group); lag != 40 {
				t.Fatalf("broker_group_lag for %s in /metrics sums to %v, want 40", group, lag)
			}
			checkExactlyOnce(t, committedLedger(t, m1, m2), 400)
			before := committedOffsets(t, adm, group)

			// Restart the broker on the same port and data dir.
			port := b.addr
			if tt.killBroker {
				b.kill()
			} else {
				b.stop()
			}
			b = startBroker(t, filepath.Join(dir, "data"), port)
			adm = kadm.NewClient(b.client(t))
			if after := committedOffsets(t, adm, group); !equalOffsets(before, after) {
				t.Fatalf("committed offsets %v before the restart, %v after", before, after)
			}
			m3 := startMember(t, fam, b.addr, group, topic, dir, "m3")
			waitFor(t, "the new member to resume", func() bool { return hasAll(committedLedger(t, m3), third) })
			m3.leave()
			checkExactlyOnce(t, committedLedger(t, m1, m2, m3), 440)
			ends := endOffsets(t, adm, topic)
			if got := committedOffsets(t, adm, group); !equalOffsets(got, ends) {
				t.Fatalf("committed %v, end offsets %v", got, ends)
			}
		})
	}
}

// metricsLag sums the broker_group_lag series of group in /metrics.
func metricsLag(t *testing.T, httpAddr, group string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	prefix := `broker_group_lag{group="` + group + `",`
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
