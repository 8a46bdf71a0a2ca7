package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnOpenAtCrashIsAborted kills the broker (SIGKILL) with a transaction
// open, and simulates a torn write at the end of the transaction state log
// as a power cut leaves it. After the restart the committed transaction is
// still visible, the open one is aborted by its timeout (its records never
// reach a read_committed reader, which waits at the last stable offset
// until then) and later transactions work.
func TestTxnOpenAtCrashIsAborted(t *testing.T) {
	dir := t.TempDir()
	const topic, parts = "txn-crash", 2
	flags := []string{"--transaction-check-interval", "100ms"}
	b := startBroker(t, dir, flags...)
	b.createTopic(topic, parts, nil)
	addr := b.addr

	committed := txnClient(b, "crash-committed")
	inTxn(t, committed, true, func(ctx context.Context) { produceValues(t, ctx, committed, topic, parts, seq("before", 20)...) })
	committed.Close()

	open := txnClient(b, "crash-open", kgo.TransactionTimeout(3*time.Second), kgo.RecordRetries(1), kgo.RetryTimeout(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, ctx, open, topic, parts, seq("open", 20)...)
	b.kill()
	open.Close()

	// A torn frame at the end of the state log: a write cut short.
	f, err := os.OpenFile(filepath.Join(dir, "transactions", "state.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 1, 0, 0xde, 0xad, '{', '"'}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b = startBroker(t, dir, append(flags, "--listen", addr)...)
	writeSentinels(t, b, topic, parts)
	got := readToSentinels(t, b, topic, parts, true, 30*time.Second)
	sameSet(t, "read_committed after the crash", got, seq("before", 20))
	sameSet(t, "read_uncommitted after the crash", readToSentinels(t, b, topic, parts, false, 30*time.Second), append(seq("before", 20), seq("open", 20)...))

	after := txnClient(b, "crash-open")
	inTxn(t, after, true, func(ctx context.Context) { produceValues(t, ctx, after, topic, parts, seq("after", 10)...) })
	writeSentinels(t, b, topic, parts) // second sentinels follow "after"
	all := readAll(t, b, topic, true, 20+10+2*parts)
	sameSet(t, "read_committed in the end", all, append(append(seq("before", 20), sentinels(2*parts)...), seq("after", 10)...))
	b.stop()
}

func sentinels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = sentinel
	}
	return out
}

// readAll reads n records of topic from the start (sentinels included).
func readAll(t *testing.T, b *broker, topic string, committed bool, n int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d of %d records in 30 s: %v", topic, len(out), n, out)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

// TestTxnOffsetCommitVisibleOnlyOnCommit drives TxnOffsetCommit with raw
// requests: staged offsets are invisible to OffsetFetch until the
// transaction commits, dropped when it aborts, and a transaction open
// across a SIGKILL can still commit them after the restart.
func TestTxnOffsetCommitVisibleOnlyOnCommit(t *testing.T) {
	dir := t.TempDir()
	const topic, group = "txn-offsets", "txn-offsets-group"
	b := startBroker(t, dir)
	b.createTopic(topic, 1, nil)
	addr := b.addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cl := b.client()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID = kmsg.StringPtr("offsets-txn")
	init.TransactionTimeoutMillis = 60000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, ir)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch
	stage := func(cl *kgo.Client, offset int64) {
		t.Helper()
		add := kmsg.NewPtrAddOffsetsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "offsets-txn", pid, epoch, group
		if r, err := add.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
			t.Fatalf("add offsets to txn: %v %+v", err, r)
		}
		c := kmsg.NewPtrTxnOffsetCommitRequest()
		c.TransactionalID, c.ProducerID, c.ProducerEpoch, c.Group = "offsets-txn", pid, epoch, group
		c.Generation = -1
		ct := kmsg.NewTxnOffsetCommitRequestTopic()
		ct.Topic = topic
		cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset = 0, offset
		ct.Partitions = append(ct.Partitions, cp)
		c.Topics = append(c.Topics, ct)
		r, err := c.RequestWith(ctx, cl)
		if err != nil || r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("txn offset commit: %v %+v", err, r)
		}
	}
	end := func(cl *kgo.Client, commit bool) {
		t.Helper()
		e := kmsg.NewPtrEndTxnRequest()
		e.TransactionalID, e.ProducerID, e.ProducerEpoch, e.Commit = "offsets-txn", pid, epoch, commit
		if r, err := e.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
			t.Fatalf("end txn (commit %v): %v %+v", commit, err, r)
		}
	}
	committedOffset := func(b *broker) int64 {
		t.Helper()
		os, err := kadm.NewClient(b.client()).FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("fetch offsets: %v", err)
		}
		o, ok := os.Lookup(topic, 0)
		if !ok {
			return -1
		}
		return o.At
	}

	stage(cl, 42)
	if got := committedOffset(b); got != -1 {
		t.Fatalf("offset %d visible before the transaction committed", got)
	}
	// A consumer asking for stable offsets is told to retry meanwhile.
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version, of.Group, of.RequireStable = 7, group, true
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic, oft.Partitions = topic, []int32{0}
	of.Topics = append(of.Topics, oft)
	ofr, err := of.RequestWith(ctx, cl)
	if err != nil || len(ofr.Topics) != 1 || ofr.Topics[0].Partitions[0].ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require_stable offset fetch with offsets staged: %v %+v, want UNSTABLE_OFFSET_COMMIT", err, ofr)
	}
	end(cl, true)
	if got := committedOffset(b); got != 42 {
		t.Fatalf("committed offset %d after commit, want 42", got)
	}
	stage(cl, 99)
	end(cl, false)
	if got := committedOffset(b); got != 42 {
		t.Fatalf("committed offset %d after an aborted transaction, want 42", got)
	}

	stage(cl, 77)
	b.kill()
	b = startBroker(t, dir, "--listen", addr)
	if got := committedOffset(b); got != 42 {
		t.Fatalf("committed offset %d after a crash with the transaction open, want 42", got)
	}
	end(b.client(), true)
	if got := committedOffset(b); got != 77 {
		t.Fatalf("committed offset %d after committing the transaction across the crash, want 77", got)
	}
	b.stop()
}
