package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// etlMember is one consume-transform-produce worker on franz-go's
// GroupTransactSession.
type etlMember struct {
	sess      *kgo.GroupTransactSession
	cancel    context.CancelFunc
	done      chan struct{}
	committed atomic.Int64 // input records in committed transactions
	aborted   atomic.Int64 // transactions that ended aborted or failed
	once      sync.Once
}

func startETLMember(t *testing.T, addr, name, in, out, group string) *etlMember {
	t.Helper()
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(addr),
		kgo.TransactionalID("etl-"+name),
		kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.SessionTimeout(3*time.Second),
		kgo.HeartbeatInterval(300*time.Millisecond),
		kgo.RebalanceTimeout(20*time.Second),
		kgo.DefaultProduceTopic(out),
		kgo.RetryTimeout(60*time.Second),
	)
	if err != nil {
		t.Fatalf("session %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &etlMember{sess: sess, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			// Small transactions, paced, so that the rebalances and the
			// restart below land in the middle of the stream.
			time.Sleep(5 * time.Millisecond)
			fs := m.sess.PollRecords(ctx, 20)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			if err := m.sess.Begin(); err != nil {
				m.aborted.Add(1)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			n := 0
			fs.EachRecord(func(r *kgo.Record) {
				n++
				m.sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: []byte("out-" + string(r.Value))}, nil)
			})
			ok, err := m.sess.End(ctx, kgo.TryCommit)
			if ok && err == nil {
				m.committed.Add(int64(n))
			} else {
				m.aborted.Add(1)
			}
		}
	}()
	return m
}

// stop ends the worker and closes its session (leaving the group); it is
// idempotent.
func (m *etlMember) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.sess.Close()
	})
}

// TestGroupTransactSessionETL runs franz-go's GroupTransactSession ETL
// (consume an input topic, transform, produce to an output topic, offsets
// committed in the same transaction) with a second member joining and
// later leaving (two rebalances) and the broker killed and restarted
// mid-way: a read_committed reader of the output sees every input exactly
// once.
func TestGroupTransactSessionETL(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--group-min-session-timeout", "1s", "--group-initial-rebalance-delay", "0s"}
	b := startBroker(t, dir, flags...)
	const in, out, group, parts, n = "etl-in", "etl-out", "etl-group", 3, 3000
	b.createTopic(in, parts, nil)
	b.createTopic(out, parts, nil)
	addr := b.addr

	prod := b.client(kgo.DefaultProduceTopic(in))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want := make([]string, n)
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("in-%d", i)
		want[i] = "out-" + v
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 17)), Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce input: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	var members []*etlMember
	var mu sync.Mutex
	total := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		var s int64
		for _, m := range members {
			s += m.committed.Load()
		}
		return s
	}
	waitFor := func(what string, atLeast int64) {
		t.Helper()
		for total() < atLeast {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: only %d inputs committed", what, total())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	a := startETLMember(t, addr, "a", in, out, group)
	mu.Lock()
	members = append(members, a)
	mu.Unlock()
	defer func() { a.stop() }()
	waitFor("the first member", 300)

	second := startETLMember(t, addr, "b", in, out, group)
	mu.Lock()
	members = append(members, second)
	mu.Unlock()
	waitFor("the second member to join", 900)

	atKill := total()
	b.kill()
	b = startBroker(t, dir, append(flags, "--listen", addr)...)
	waitFor("progress after the restart", 1600)

	second.stop() // leaves the group: another rebalance
	// Wait until the group has committed offsets at the end of the input.
	adm := kadm.NewClient(b.client())
	ends, err := adm.ListEndOffsets(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			caught := true
			ends.Each(func(e kadm.ListedOffset) {
				if o, ok := offs.Lookup(in, e.Partition); !ok || o.At < e.Offset {
					caught = false
				}
			})
			if caught {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("the group's offsets did not reach the end of the input (%d committed): %v", total(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.stop()

	writeSentinels(t, b, out, parts)
	got := readToSentinels(t, b, out, parts, true, time.Minute)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	var dups, missing []string
	for _, w := range want {
		switch seen[w] {
		case 1:
		case 0:
			missing = append(missing, w)
		default:
			dups = append(dups, w)
		}
	}
	if len(got) != n || len(dups) > 0 || len(missing) > 0 {
		t.Fatalf("read_committed output: %d records for %d inputs; %d duplicated (%s), %d missing (%s)", len(got), n, len(dups), short(dups), len(missing), short(missing))
	}
	if second.committed.Load() == 0 || atKill >= n {
		t.Fatalf("the second member committed %d inputs and %d of %d were committed before the restart: the rebalance or the restart missed the stream", second.committed.Load(), atKill, n)
	}
	uncommitted := readToSentinels(t, b, out, parts, false, time.Minute)
	t.Logf("%d inputs once each in the committed output; %d records written in all (aborted included); member b committed %d; %d committed before the restart; aborted or failed transactions: %d",
		n, len(uncommitted), second.committed.Load(), atKill, a.aborted.Load()+second.aborted.Load())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
