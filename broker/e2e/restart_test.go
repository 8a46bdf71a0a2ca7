package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ackedRecord is a record the broker acknowledged, and where it put it.
type ackedRecord struct {
	partition int32
	offset    int64
	seq       int64
}

// ackLedger collects acknowledged records from producer promises.
type ackLedger struct {
	mu      sync.Mutex
	records []ackedRecord
	count   atomic.Int64
	failed  atomic.Int64
}

func (l *ackLedger) promise(r *kgo.Record, err error) {
	if err != nil {
		l.failed.Add(1)
		return
	}
	seq, perr := parseValue(string(r.Value))
	if perr != nil {
		panic(perr) // the test produced this value itself
	}
	l.mu.Lock()
	l.records = append(l.records, ackedRecord{r.Partition, r.Offset, seq})
	l.mu.Unlock()
	l.count.Add(1)
}

func (l *ackLedger) snapshot() []ackedRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ackedRecord(nil), l.records...)
}

// Record values are "seq-<n>-<padding>": the sequence number tells the
// order they were produced in; the padding makes them 100 bytes.
func recordValue(seq int64) string {
	v := fmt.Sprintf("seq-%d-", seq)
	return v + strings.Repeat("x", 100-len(v))
}

func parseValue(v string) (int64, error) {
	rest, ok := strings.CutPrefix(v, "seq-")
	if !ok {
		return 0, fmt.Errorf("value %.40q: no seq- prefix", v)
	}
	n, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, fmt.Errorf("value %.40q: no sequence number", v)
	}
	return strconv.ParseInt(n, 10, 64)
}

func recordKey(seq int64) []byte { return []byte("store-" + strconv.FormatInt(seq%24, 10)) }

// producer returns an idempotent acks=all franz-go producer for topic.
func producer(b *broker, topic string) *kgo.Client {
	return b.client(
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(2*time.Minute),
	)
}

// checkLog verifies what was read back against what was acknowledged:
// every acknowledged record is at its acknowledged offset, no sequence
// number appears twice, and per partition the sequence numbers rise (the
// idempotent producer keeps per-partition order). Records that were sent but
// not acknowledged may be present or absent. It returns the sequence numbers
// read, by partition.
func checkLog(t *testing.T, got []consumed, acked []ackedRecord) {
	t.Helper()
	type pos struct {
		p int32
		o int64
	}
	at := make(map[pos]int64, len(got))
	seen := make(map[int64]pos, len(got))
	last := map[int32]int64{}
	lastOff := map[int32]int64{}
	for _, r := range got {
		seq, err := parseValue(r.value)
		if err != nil {
			t.Fatalf("partition %d offset %d: %v", r.partition, r.offset, err)
		}
		if prev, ok := seen[seq]; ok {
			t.Fatalf("seq %d stored twice: partition %d offset %d and partition %d offset %d", seq, prev.p, prev.o, r.partition, r.offset)
		}
		seen[seq] = pos{r.partition, r.offset}
		if o, ok := lastOff[r.partition]; ok && r.offset <= o {
			t.Fatalf("partition %d: offset %d read after offset %d", r.partition, r.offset, o)
		}
		lastOff[r.partition] = r.offset
		if s, ok := last[r.partition]; ok && seq <= s {
			t.Fatalf("partition %d offset %d: seq %d after seq %d: out of order", r.partition, r.offset, seq, s)
		}
		last[r.partition] = seq
		at[pos{r.partition, r.offset}] = seq
	}
	for _, a := range acked {
		seq, ok := at[pos{a.partition, a.offset}]
		if !ok {
			t.Fatalf("acknowledged seq %d at partition %d offset %d is missing (%d records read back, %d acknowledged)", a.seq, a.partition, a.offset, len(got), len(acked))
		}
		if seq != a.seq {
			t.Fatalf("partition %d offset %d holds seq %d, but seq %d was acknowledged there", a.partition, a.offset, seq, a.seq)
		}
	}
}

// TestRestartAfterCleanStop produces with acks=all, stops the broker with
// SIGTERM, starts it again on the same data directory and reads back
// exactly what was acknowledged.
func TestRestartAfterCleanStop(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	const topic = "restart-clean"
	b.createTopic(topic, 6, nil)

	var ledger ackLedger
	prod := producer(b, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 3000
	for seq := int64(0); seq < n; seq++ {
		prod.Produce(ctx, &kgo.Record{Key: recordKey(seq), Value: []byte(recordValue(seq))}, ledger.promise)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if f := ledger.failed.Load(); f != 0 {
		t.Fatalf("%d of %d records failed before the stop", f, n)
	}
	prod.Close()
	b.stop()

	b = startBroker(t, dir)
	got := consumeAll(t, b, topic)
	if len(got) != n {
		t.Fatalf("read back %d records after the restart, want exactly the %d acknowledged", len(got), n)
	}
	checkLog(t, got, ledger.snapshot())

	// The log goes on where it ended: a new producer appends after it.
	var more ackLedger
	prod = producer(b, topic)
	for seq := int64(n); seq < n+60; seq++ {
		prod.Produce(ctx, &kgo.Record{Key: recordKey(seq), Value: []byte(recordValue(seq))}, more.promise)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("flush after restart: %v", err)
	}
	if f := more.failed.Load(); f != 0 {
		t.Fatalf("%d records failed after the restart", f)
	}
	got = consumeAll(t, b, topic)
	if len(got) != n+60 {
		t.Fatalf("read back %d records, want %d", len(got), n+60)
	}
	checkLog(t, got, append(ledger.snapshot(), more.snapshot()...))
	b.stop()
}

// TestRestartMidStream stops the broker while an idempotent acks=all
// producer streams records into it, restarts it on the same data directory,
// and checks every acknowledged record is there, in order, once. With
// SIGKILL the process gets no chance to flush anything; with SIGTERM it must
// finish what it acknowledged and exit 0. Each case stops and restarts twice
// over the same directory, so the second recovery starts from a recovered
// log.
func TestRestartMidStream(t *testing.T) {
	tests := []struct {
		name string
		stop func(*broker)
	}{
		{"SIGKILL", (*broker).kill},
		{"SIGTERM", (*broker).stop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			restartMidStream(t, tc.stop)
		})
	}
}

func restartMidStream(t *testing.T, stop func(*broker)) {
	dir := t.TempDir()
	const topic = "restart-mid-stream"
	var acked []ackedRecord
	var seq int64
	b := startBroker(t, dir)
	b.createTopic(topic, 6, nil)
	for round := 1; round <= 2; round++ {
		ledger := &ackLedger{}
		prod := producer(b, topic)
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			for ctx.Err() == nil {
				prod.Produce(ctx, &kgo.Record{Key: recordKey(seq), Value: []byte(recordValue(seq))}, ledger.promise)
				seq++
			}
		}()
		// Stop once a good number of records are acknowledged and more
		// are in flight.
		target := int64(4000 * round)
		deadline := time.Now().Add(60 * time.Second)
		for ledger.count.Load() < target {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("round %d: only %d records acknowledged in 60 s", round, ledger.count.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
		stop(b)
		cancel()
		<-stopped
		prod.Close() // fails whatever was still buffered or in flight
		acked = append(acked, ledger.snapshot()...)
		t.Logf("round %d: stopped with %d acknowledged, %d failed, %d sent in total", round, ledger.count.Load(), ledger.failed.Load(), seq)

		b = startBroker(t, dir)
		got := consumeAll(t, b, topic)
		if len(got) < len(acked) {
			t.Fatalf("round %d: read back %d records, fewer than the %d acknowledged", round, len(got), len(acked))
		}
		checkLog(t, got, acked)
	}
	b.stop()
}

// TestIdempotentProducerAcrossCrash keeps one idempotent producer running
// while the broker is killed with SIGKILL and restarted on the same address,
// three times.
// The producer retries what was in flight with the same sequence numbers;
// batches the broker had written before it died must be recognised as
// duplicates from the recovered producer state. In the end every record is
// acknowledged and stored exactly once, in order.
func TestIdempotentProducerAcrossCrash(t *testing.T) {
	dir := t.TempDir()
	const topic = "idempotent-crash"
	b := startBroker(t, dir)
	b.createTopic(topic, 3, nil)
	addr := b.addr

	ledger := &ackLedger{}
	prod := producer(b, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 150000
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for seq := int64(0); seq < n && ctx.Err() == nil; seq++ {
			prod.Produce(ctx, &kgo.Record{Key: recordKey(seq), Value: []byte(recordValue(seq))}, ledger.promise)
		}
	}()
	// Kill it three times, each once the producer has made progress since
	// the last restart.
	var killedAt []int64
	for i := 0; i < 3; i++ {
		at := ledger.count.Load() + 10000
		deadline := time.Now().Add(60 * time.Second)
		for ledger.count.Load() < at {
			if time.Now().After(deadline) {
				t.Fatalf("only %d records acknowledged in 60 s", ledger.count.Load())
			}
			time.Sleep(time.Millisecond)
		}
		b.kill()
		killedAt = append(killedAt, ledger.count.Load())
		b = startBroker(t, dir, "--listen", addr)
		if b.addr != addr {
			t.Fatalf("restarted broker listens on %s, want %s", b.addr, addr)
		}
	}
	<-produced
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("flush after the restart: %v", err)
	}
	if f := ledger.failed.Load(); f != 0 {
		t.Fatalf("%d records failed across the crashes (acknowledged before each: %v)", f, killedAt)
	}
	got := consumeAll(t, b, topic)
	checkLog(t, got, ledger.snapshot())
	if len(got) != n {
		t.Fatalf("read back %d records, want each of the %d exactly once", len(got), n)
	}
	t.Logf("acknowledged before each kill: %v, in the end: %d", killedAt, ledger.count.Load())
	b.stop()
}

// TestRestartAfterTornWrite stops the broker cleanly, then appends the first
// bytes of a record batch to the partition's active segment, as a crash in
// the middle of a write leaves it. The broker must start, drop the torn
// tail, keep every acknowledged record and append after them.
func TestRestartAfterTornWrite(t *testing.T) {
	dir := t.TempDir()
	const topic = "torn-write"
	b := startBroker(t, dir)
	b.createTopic(topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ledger := &ackLedger{}
	prod := producer(b, topic)
	produceSeqs := func(from, to int64) {
		t.Helper()
		for seq := from; seq < to; seq++ {
			prod.Produce(ctx, &kgo.Record{Key: recordKey(seq), Value: []byte(recordValue(seq))}, ledger.promise)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		if f := ledger.failed.Load(); f != 0 {
			t.Fatalf("%d records failed", f)
		}
	}
	produceSeqs(0, 1000)
	prod.Close()
	b.stop()

	// The active segment is the partition's .log file with the highest
	// base offset (the names are zero-padded, so the last in order).
	var segs []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".log") && filepath.Base(filepath.Dir(path)) == topic+"-0" {
			segs = append(segs, path)
		}
		return nil
	})
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment of %s-0 under %s (%v)", topic, dir, err)
	}
	slices.Sort(segs)
	active := segs[len(segs)-1]
	data, err := os.ReadFile(active)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 61 {
		t.Fatalf("active segment %s holds only %d bytes", active, len(data))
	}
	// The header of the first batch claims a length the file no longer
	// holds: a torn write.
	f, err := os.OpenFile(active, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[:61]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	b = startBroker(t, dir)
	got := consumeAll(t, b, topic)
	if len(got) != 1000 {
		t.Fatalf("read back %d records after recovering from a torn write, want the 1000 acknowledged", len(got))
	}
	checkLog(t, got, ledger.snapshot())

	prod = producer(b, topic)
	produceSeqs(1000, 1100)
	got = consumeAll(t, b, topic)
	if len(got) != 1100 {
		t.Fatalf("read back %d records after appending past the recovered tail, want 1100", len(got))
	}
	checkLog(t, got, ledger.snapshot())
	b.stop()
}
