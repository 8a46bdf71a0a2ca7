package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions end to end: franz-go clients over TCP against the broker
// binary. Every test ends its input with a non-transactional sentinel
// record per partition, so a reader knows when it has seen everything: a
// read_committed reader sees the sentinel only once every transaction
// before it is decided (the last stable offset has passed it).

const sentinel = "END"

// txnClient is a transactional producer for topic.
func txnClient(b *broker, id string, extra ...kgo.Opt) *kgo.Client {
	return b.client(append([]kgo.Opt{
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(30 * time.Second),
		kgo.DefaultProduceTopic("unused"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordRetries(20),
		kgo.RetryTimeout(60 * time.Second),
	}, extra...)...)
}

// inTxn runs produce in a transaction and ends it with commit or abort.
func inTxn(t *testing.T, cl *kgo.Client, commit bool, produce func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	produce(ctx)
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	how := kgo.TryAbort
	if commit {
		how = kgo.TryCommit
	}
	if err := cl.EndTransaction(ctx, how); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

// produceValues produces values to topic, round-robin over partitions, and
// fails the test on any error.
func produceValues(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, partitions int32, values ...string) {
	t.Helper()
	for i, v := range values {
		r := &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
}

// manualClient produces to the partition each record names.
func manualClient(b *broker) *kgo.Client {
	return b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// writeSentinels appends the sentinel, non-transactionally, to every
// partition of topic.
func writeSentinels(t *testing.T, b *broker, topic string, partitions int32) {
	t.Helper()
	cl := manualClient(b)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := int32(0); p < partitions; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatalf("sentinel to %s[%d]: %v", topic, p, err)
		}
	}
}

// readToSentinels reads topic from the start at the given isolation level
// until every partition's first sentinel, and returns the values before
// them (sentinels excluded), within timeout.
func readToSentinels(t *testing.T, b *broker, topic string, partitions int32, committed bool, timeout time.Duration) []string {
	t.Helper()
	vals, ok := tryReadToSentinels(t, b, topic, partitions, committed, timeout)
	if !ok {
		t.Fatalf("read %s (read_committed %v): sentinels not all seen in %v; got %d values", topic, committed, timeout, len(vals))
	}
	return vals
}

func tryReadToSentinels(t *testing.T, b *broker, topic string, partitions int32, committed bool, timeout time.Duration) ([]string, bool) {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := map[int32]bool{}
	var out []string
	for int32(len(done)) < partitions {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, false
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s[%d]: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if done[r.Partition] {
				return
			}
			if string(r.Value) == sentinel {
				done[r.Partition] = true
				return
			}
			out = append(out, string(r.Value))
		})
	}
	return out, true
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got %d values, want %d\n got: %s\nwant: %s", what, len(g), len(w), short(g), short(w))
	}
}

func short(v []string) string {
	if len(v) > 20 {
		return strings.Join(v[:20], " ") + fmt.Sprintf(" ... (%d more)", len(v)-20)
	}
	return strings.Join(v, " ")
}

// TestTxnCommitAbortVisibility: committed transactions are seen by both
// isolation levels, aborted ones only by read_uncommitted, and ListOffsets
// with read_committed answers the last stable offset while a transaction
// is open.
func TestTxnCommitAbortVisibility(t *testing.T) {
	b := startBroker(t, t.TempDir())
	const topic, parts = "txn-visibility", 3
	b.createTopic(topic, parts, nil)
	cl := txnClient(b, "visibility")
	c1, ab, c2 := seq("commit1", 30), seq("abort", 30), seq("commit2", 30)
	inTxn(t, cl, true, func(ctx context.Context) { produceValues(t, ctx, cl, topic, parts, c1...) })
	inTxn(t, cl, false, func(ctx context.Context) { produceValues(t, ctx, cl, topic, parts, ab...) })

	// An open transaction holds the last stable offset back.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := b.admin()
	before, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, ctx, cl, topic, parts, c2...)
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < parts; p++ {
		s, _ := stable.Lookup(topic, p)
		e, _ := end.Lookup(topic, p)
		bf, _ := before.Lookup(topic, p)
		if s.Offset != bf.Offset || e.Offset != bf.Offset+10 {
			t.Fatalf("partition %d with a transaction open: read_committed latest %d (want %d, before it), read_uncommitted %d (want %d)", p, s.Offset, bf.Offset, e.Offset, bf.Offset+10)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	stable, err = adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < parts; p++ {
		s, _ := stable.Lookup(topic, p)
		e, _ := end.Lookup(topic, p)
		if s.Offset != e.Offset+1 { // the commit marker
			t.Fatalf("partition %d after commit: read_committed latest %d, want %d", p, s.Offset, e.Offset+1)
		}
	}
	writeSentinels(t, b, topic, parts)

	sameSet(t, "read_committed", readToSentinels(t, b, topic, parts, true, 30*time.Second), append(slices.Clone(c1), c2...))
	sameSet(t, "read_uncommitted", readToSentinels(t, b, topic, parts, false, 30*time.Second), append(append(slices.Clone(c1), ab...), c2...))

	// DescribeTransactions and ListTransactions see the id.
	described, err := adm.DescribeTransactions(ctx, "visibility")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := described["visibility"]
	if !ok || d.State != "CompleteCommit" || d.ProducerID < 0 {
		t.Fatalf("describe transactions: %+v", described)
	}
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed["visibility"]; !ok {
		t.Fatalf("list transactions: %+v", listed)
	}
}

// TestTxnZombieFencing: a second producer with the same transactional id
// aborts the first one's open transaction and fences it: its further
// produce and commit fail, and read_committed sees only the new producer's
// records.
func TestTxnZombieFencing(t *testing.T) {
	b := startBroker(t, t.TempDir())
	const topic, parts = "txn-zombie", 2
	b.createTopic(topic, parts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	zombie := txnClient(b, "fenced-id", kgo.RecordRetries(1))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, ctx, zombie, topic, parts, seq("zombie", 10)...)

	fresh := txnClient(b, "fenced-id")
	inTxn(t, fresh, true, func(ctx context.Context) { produceValues(t, ctx, fresh, topic, parts, seq("fresh", 10)...) })

	// The zombie's next write and its commit are refused.
	err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie-late")}).FirstErr()
	if err == nil {
		t.Fatal("the fenced producer could still produce")
	}
	if !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidTxnState) {
		t.Logf("fenced produce failed with %v", err)
	}
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the fenced producer could commit")
	} else if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Logf("fenced commit failed with %v", err)
	}
	writeSentinels(t, b, topic, parts)
	sameSet(t, "read_committed after fencing", readToSentinels(t, b, topic, parts, true, 30*time.Second), seq("fresh", 10))
}

// TestTxnTimeoutAborts: a transaction left open past its timeout is
// aborted by the broker (its records never visible to read_committed) and
// its producer fenced.
func TestTxnTimeoutAborts(t *testing.T) {
	b := startBroker(t, t.TempDir(), "--transaction-check-interval", "100ms")
	const topic, parts = "txn-timeout", 2
	b.createTopic(topic, parts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := txnClient(b, "slow", kgo.TransactionTimeout(1500*time.Millisecond), kgo.RecordRetries(1))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, ctx, cl, topic, parts, seq("left-open", 10)...)
	writeSentinels(t, b, topic, parts)
	if vals, ok := tryReadToSentinels(t, b, topic, parts, true, 300*time.Millisecond); ok {
		t.Fatalf("read_committed passed an open transaction: %v", vals)
	}
	got := readToSentinels(t, b, topic, parts, true, 30*time.Second)
	if len(got) != 0 {
		t.Fatalf("read_committed saw %v of a transaction aborted by its timeout", got)
	}
	sameSet(t, "read_uncommitted", readToSentinels(t, b, topic, parts, false, 30*time.Second), seq("left-open", 10))
	// The markers are written before the state is recorded complete.
	adm := b.admin()
	for {
		d, err := adm.DescribeTransactions(ctx, "slow")
		if err != nil {
			t.Fatal(err)
		}
		s := d["slow"]
		if s.State == "CompleteAbort" && s.ProducerEpoch >= 1 {
			break
		}
		if ctx.Err() != nil || (s.State != "PrepareAbort" && s.State != "CompleteAbort") {
			t.Fatalf("after the timeout: %+v, want CompleteAbort with the epoch bumped", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("a transaction aborted by its timeout could be committed")
	}
}
