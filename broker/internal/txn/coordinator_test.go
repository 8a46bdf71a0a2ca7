package txn

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeLog records markers in memory (a unit-test fake of the partitions;
// the e2e tests use the real ones).
type fakeLog struct {
	mu      sync.Mutex
	nextPID int64
	markers []marker
	fail    bool
}

type marker struct {
	topic     string
	partition int32
	pid       int64
	epoch     int16
	commit    bool
}

func (l *fakeLog) WriteMarker(topic string, partition int32, pid int64, epoch int16, commit bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("disk on fire")
	}
	l.markers = append(l.markers, marker{topic, partition, pid, epoch, commit})
	return nil
}
func (l *fakeLog) PartitionExists(topic string, partition int32) bool {
	return topic != "missing" && partition < 4
}
func (l *fakeLog) NextProducerID() (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextPID++
	return l.nextPID, nil
}
func (l *fakeLog) taken() []marker {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.markers
	l.markers = nil
	return m
}

type fakeGroups struct {
	mu      sync.Mutex
	offsets map[string][]Offset
}

func (g *fakeGroups) CommitTxnOffsets(group string, offs []Offset) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.offsets == nil {
		g.offsets = map[string][]Offset{}
	}
	g.offsets[group] = append(g.offsets[group], offs...)
	return nil
}

// clock is a controllable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	dir    string
	log    *fakeLog
	groups *fakeGroups
	clk    *clock
}

func newFixture(t *testing.T) *fixture {
	return &fixture{dir: t.TempDir(), log: &fakeLog{}, groups: &fakeGroups{}, clk: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
}

func (f *fixture) open(t *testing.T) *Coordinator {
	t.Helper()
	c, err := Open(Config{Dir: f.dir, Log: f.log, Groups: f.groups, Now: f.clk.Now,
		CheckInterval: time.Hour, // the tests call Check themselves
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func must(t *testing.T, what string, err *kerr.Error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestCommitWritesMarkersAndOffsets(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	defer c.Close()
	pid, epoch, err := c.InitProducerID("a", 60000, -1, -1)
	must(t, "init", err)
	all, _ := c.AddPartitions("a", pid, epoch, TopicPartitions{"t": {0, 1}})
	must(t, "add partitions", all)
	must(t, "add offsets", c.AddOffsets("a", pid, epoch, "g"))
	must(t, "offsets", c.CommitOffsets("a", pid, epoch, "g", []Offset{{Topic: "in", Partition: 0, Offset: 5}}))
	if !c.HasPendingOffsets("g", "in", 0) {
		t.Fatal("pending offsets not reported")
	}
	must(t, "commit", c.EndTxn("a", pid, epoch, true))
	if m := f.log.taken(); len(m) != 2 || !m[0].commit || m[0].pid != pid {
		t.Fatalf("markers %+v", m)
	}
	if got := f.groups.offsets["g"]; len(got) != 1 || got[0].Offset != 5 {
		t.Fatalf("group offsets %+v", got)
	}
	// A retry of the same EndTxn succeeds; the other outcome does not.
	must(t, "commit retry", c.EndTxn("a", pid, epoch, true))
	if err := c.EndTxn("a", pid, epoch, false); err != kerr.InvalidTxnState {
		t.Fatalf("abort after commit: %v", err)
	}
	// Abort drops the staged offsets.
	all, _ = c.AddPartitions("a", pid, epoch, TopicPartitions{"t": {2}})
	must(t, "add partitions", all)
	must(t, "add offsets", c.AddOffsets("a", pid, epoch, "g"))
	must(t, "offsets", c.CommitOffsets("a", pid, epoch, "g", []Offset{{Topic: "in", Partition: 0, Offset: 9}}))
	must(t, "abort", c.EndTxn("a", pid, epoch, false))
	if m := f.log.taken(); len(m) != 1 || m[0].commit || m[0].partition != 2 {
		t.Fatalf("markers %+v", m)
	}
	if got := f.groups.offsets["g"]; len(got) != 1 {
		t.Fatalf("an aborted transaction's offsets were committed: %+v", got)
	}
	if _, each := c.AddPartitions("a", pid, epoch, TopicPartitions{"missing": {0}, "t": {0}}); each["missing"][0] != kerr.UnknownTopicOrPartition {
		t.Fatalf("unknown partition: %v", each)
	}
}

func TestFencing(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	defer c.Close()
	pid, e0, _ := c.InitProducerID("z", 60000, -1, -1)
	all, _ := c.AddPartitions("z", pid, e0, TopicPartitions{"t": {0}})
	must(t, "add", all)
	// A new producer with the same id aborts the open transaction and bumps the epoch.
	pid2, e1, err := c.InitProducerID("z", 60000, -1, -1)
	must(t, "re-init", err)
	if pid2 != pid || e1 <= e0 {
		t.Fatalf("re-init gave %d/%d after %d/%d", pid2, e1, pid, e0)
	}
	if m := f.log.taken(); len(m) != 1 || m[0].commit || m[0].epoch <= e0 {
		t.Fatalf("abort markers %+v", m)
	}
	if all, _ := c.AddPartitions("z", pid, e0, TopicPartitions{"t": {0}}); all != kerr.ProducerFenced {
		t.Fatalf("zombie add partitions: %v", all)
	}
	if err := c.EndTxn("z", pid, e0, true); err != kerr.ProducerFenced {
		t.Fatalf("zombie commit: %v", err)
	}
	if _, err := c.InTxn("z", pid, e0, "t", 0); err != kerr.InvalidProducerEpoch {
		t.Fatalf("zombie produce: %v", err)
	}
	if _, _, err := c.InitProducerID("z", 60000, pid+1, e1); err != kerr.InvalidProducerIDMapping {
		t.Fatalf("KIP-360 init with another producer id: %v", err)
	}
	if _, _, err := c.InitProducerID("z", 60000, pid, e1+5); err != kerr.ProducerFenced {
		t.Fatalf("KIP-360 init with a future epoch: %v", err)
	}
	if _, _, err := c.InitProducerID("z", int32((16 * time.Minute).Milliseconds()), -1, -1); err != kerr.InvalidTransactionTimeout {
		t.Fatalf("timeout over the maximum: %v", err)
	}
}

// TestTimeoutAndExpiry moves a controllable clock: an open transaction is
// aborted once past its timeout (epoch bumped, producer fenced), and a
// transactional id unused for transactional.id.expiration.ms is forgotten.
func TestTimeoutAndExpiry(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	defer c.Close()
	pid, epoch, _ := c.InitProducerID("slow", 10000, -1, -1)
	all, _ := c.AddPartitions("slow", pid, epoch, TopicPartitions{"t": {3}})
	must(t, "add", all)
	f.clk.add(9 * time.Second)
	c.Check()
	if d, _ := c.Describe("slow"); d.State != Ongoing {
		t.Fatalf("aborted before its timeout: %+v", d)
	}
	f.clk.add(2 * time.Second)
	c.Check()
	d, _ := c.Describe("slow")
	if d.State != CompleteAbort || d.Epoch != epoch+1 {
		t.Fatalf("after the timeout: %+v", d)
	}
	if m := f.log.taken(); len(m) != 1 || m[0].commit || m[0].epoch != epoch+1 {
		t.Fatalf("abort markers %+v", m)
	}
	if err := c.EndTxn("slow", pid, epoch, true); err != kerr.ProducerFenced {
		t.Fatalf("commit after the timeout abort: %v", err)
	}

	f.clk.add(7*24*time.Hour - time.Minute)
	c.Check()
	if _, ok := c.Describe("slow"); !ok {
		t.Fatal("expired before transactional.id.expiration.ms")
	}
	f.clk.add(2 * time.Minute)
	c.Check()
	if _, ok := c.Describe("slow"); ok {
		t.Fatal("not expired after transactional.id.expiration.ms")
	}
	c.Close()
	c = f.open(t)
	if _, ok := c.Describe("slow"); ok {
		t.Fatal("the expired id came back after a restart")
	}
}

// TestRecoveryCompletesPrepared: a marker write fails after PrepareCommit
// was made durable; reopening the coordinator (a restart) completes the
// commit, and an Ongoing transaction survives the restart with its start
// time, to be committed or timed out.
func TestRecoveryCompletesPrepared(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	pid, epoch, _ := c.InitProducerID("p", 60000, -1, -1)
	all, _ := c.AddPartitions("p", pid, epoch, TopicPartitions{"t": {0}})
	must(t, "add", all)
	must(t, "add offsets", c.AddOffsets("p", pid, epoch, "g"))
	must(t, "offsets", c.CommitOffsets("p", pid, epoch, "g", []Offset{{Topic: "in", Partition: 1, Offset: 7}}))
	f.log.fail = true
	if err := c.EndTxn("p", pid, epoch, true); err != kerr.CoordinatorNotAvailable {
		t.Fatalf("commit with failing markers: %v", err)
	}
	if d, _ := c.Describe("p"); d.State != PrepareCommit {
		t.Fatalf("state after a failed marker: %+v", d)
	}
	pid2, epoch2, _ := c.InitProducerID("q", 5000, -1, -1)
	all, _ = c.AddPartitions("q", pid2, epoch2, TopicPartitions{"t": {1}})
	must(t, "add", all)
	c.Close()

	f.log.fail = false
	c = f.open(t)
	defer c.Close()
	if d, _ := c.Describe("p"); d.State != CompleteCommit {
		t.Fatalf("after restart: %+v", d)
	}
	if m := f.log.taken(); len(m) != 1 || !m[0].commit || m[0].topic != "t" {
		t.Fatalf("markers written on recovery: %+v", m)
	}
	if got := f.groups.offsets["g"]; len(got) != 1 || got[0].Offset != 7 {
		t.Fatalf("offsets committed on recovery: %+v", got)
	}
	if d, _ := c.Describe("q"); d.State != Ongoing {
		t.Fatalf("open transaction after restart: %+v", d)
	}
	f.clk.add(6 * time.Second)
	c.Check()
	if d, _ := c.Describe("q"); d.State != CompleteAbort {
		t.Fatalf("open transaction past its timeout after restart: %+v", d)
	}
}
