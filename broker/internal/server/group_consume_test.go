package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ledger counts how often each record value was consumed across a group.
type ledger struct {
	mu   sync.Mutex
	seen map[string]int
}

func (l *ledger) add(v string) {
	l.mu.Lock()
	l.seen[v]++
	l.mu.Unlock()
}

// has reports whether every value was seen at least once.
func (l *ledger) has(vals []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range vals {
		if l.seen[v] == 0 {
			return false
		}
	}
	return true
}

// exactlyOnce fails the test for a value seen twice or an unexpected one.
func (l *ledger) exactlyOnce(t *testing.T, want int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) != want {
		t.Errorf("consumed %d distinct records, want %d", len(l.seen), want)
	}
	for v, n := range l.seen {
		if n != 1 {
			t.Errorf("record %s consumed %d times", v, n)
		}
	}
}

// consumer is one group member polling in a loop: process the polled
// records, commit them synchronously, then allow a rebalance (the pattern
// FreshMart services use, minus Postgres).
type consumer struct {
	t      *testing.T
	cl     *kgo.Client
	dialer *killableDialer
	cancel context.CancelFunc
	done   chan struct{}
}

func startConsumer(t *testing.T, b *groupBroker, l *ledger, group, topic string, opts ...kgo.Opt) *consumer {
	t.Helper()
	d := &killableDialer{}
	base := []kgo.Opt{
		kgo.SeedBrokers(b.addr),
		kgo.Dialer(d.dial),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(1500 * time.Millisecond),
		kgo.HeartbeatInterval(150 * time.Millisecond),
		kgo.RebalanceTimeout(20 * time.Second),
		kgo.RetryTimeout(30 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{t: t, cl: cl, dialer: d, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			fetches := cl.PollFetches(ctx)
			if ctx.Err() != nil || fetches.IsClientClosed() {
				cl.AllowRebalance()
				return
			}
			fetches.EachRecord(func(r *kgo.Record) { l.add(string(r.Value)) })
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := cl.CommitUncommittedOffsets(cctx); err != nil {
				t.Errorf("commit: %v", err)
			}
			ccancel()
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(func() { c.stop(); cl.Close() })
	return c
}

// stop ends the poll loop after its current commit.
func (c *consumer) stop() {
	c.cancel()
	<-c.done
}

// kill stops the loop and cuts the client off without a LeaveGroup, as a
// crashed process would: the broker only notices by the session timeout.
func (c *consumer) kill() {
	c.stop()
	c.dialer.kill()
}

// leave stops the loop and closes the client, which leaves the group.
func (c *consumer) leave() {
	c.stop()
	c.cl.Close()
}

func describe(t *testing.T, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ds, err := adm.DescribeGroups(testCtx(t), group)
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	return ds[group]
}

// committedEqualsEnd reports whether the group's committed offsets equal the
// topic's end offsets on every partition.
func committedEqualsEnd(t *testing.T, adm *kadm.Client, group, topic string) bool {
	t.Helper()
	ctx := testCtx(t)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		c, found := committed.Lookup(topic, o.Partition)
		if o.Offset > 0 && (!found || c.At != o.Offset) {
			ok = false
		}
	})
	return ok
}

func TestGroupConsumeKillLeaveRestart(t *testing.T) {
	tests := []struct {
		name string
		opts func(member string) []kgo.Opt
	}{
		{"cooperative-sticky", func(string) []kgo.Opt { return nil }},
		{"range", func(string) []kgo.Opt { return []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())} }},
		{"static", func(m string) []kgo.Opt { return []kgo.Opt{kgo.InstanceID("instance-" + m)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startGroupBroker(t, "")
			topic, grp := "orders-"+tt.name, "group-"+tt.name
			b.createTopic(topic, 6)
			adm := b.admin()
			l := &ledger{seen: map[string]int{}}

			first := b.produce(topic, "a", 120)
			m1 := startConsumer(t, b, l, grp, topic, tt.opts("1")...)
			m2 := startConsumer(t, b, l, grp, topic, tt.opts("2")...)
			m3 := startConsumer(t, b, l, grp, topic, tt.opts("3")...)
			waitUntil(t, "the first batch consumed", func() bool { return l.has(first) })
			waitUntil(t, "a stable group of three", func() bool {
				d := describe(t, adm, grp)
				return d.State == "Stable" && len(d.Members) == 3
			})

			// A member dies: its partitions must move to the survivors.
			m2.kill()
			second := b.produce(topic, "b", 120)
			waitUntil(t, "the survivors to take over", func() bool { return l.has(second) })
			waitUntil(t, "the dead member evicted", func() bool {
				d := describe(t, adm, grp)
				return d.State == "Stable" && len(d.Members) == 2
			})

			// A member leaves: the last one takes everything.
			m3.leave()
			third := b.produce(topic, "c", 120)
			waitUntil(t, "the last member to take over", func() bool { return l.has(third) })
			m1.stop()
			l.exactlyOnce(t, 360)
			waitUntil(t, "commits to reach the end offsets", func() bool { return committedEqualsEnd(t, adm, grp, topic) })
			m1.leave()

			// Committed offsets survive a restart: a new member resumes.
			b.restart()
			adm = b.admin()
			if !committedEqualsEnd(t, adm, grp, topic) {
				t.Fatal("committed offsets changed across the restart")
			}
			fourth := b.produce(topic, "d", 30)
			m4 := startConsumer(t, b, l, grp, topic, tt.opts("4")...)
			waitUntil(t, "the new member to consume new records", func() bool { return l.has(fourth) })
			m4.stop()
			l.exactlyOnce(t, 390)
		})
	}
}

func TestGroupAdminWithKadm(t *testing.T) {
	b := startGroupBroker(t, "")
	b.createTopic("stock", 3)
	adm := b.admin()
	ctx := testCtx(t)
	l := &ledger{seen: map[string]int{}}
	vals := b.produce("stock", "s", 30)
	m := startConsumer(t, b, l, "busy", "stock")
	waitUntil(t, "records consumed", func() bool { return l.has(vals) })
	waitUntil(t, "offsets committed", func() bool { return committedEqualsEnd(t, adm, "busy", "stock") })

	// An idle group committed by the admin client (simple commit).
	var commit kadm.Offsets
	commit.Add(kadm.Offset{Topic: "stock", Partition: 0, At: 2, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: "stock", Partition: 1, At: 4, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "idle", commit); err != nil || resp.Error() != nil {
		t.Fatalf("commit offsets: %v %v", err, resp.Error())
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(listed.Sorted()); len(listed) != 2 || listed["busy"].State != "Stable" || listed["idle"].State != "Empty" {
		t.Fatalf("list groups = %s", got)
	}
	if stable, err := adm.ListGroups(ctx, "Stable"); err != nil || len(stable) != 1 {
		t.Fatalf("list Stable groups = %v, %v", stable, err)
	}

	d := describe(t, adm, "busy")
	if d.State != "Stable" || d.Protocol != "cooperative-sticky" || len(d.Members) != 1 {
		t.Fatalf("describe busy = %+v", d)
	}
	if ca, ok := d.Members[0].Assigned.AsConsumer(); !ok || len(ca.Topics) != 1 || len(ca.Topics[0].Partitions) != 3 {
		t.Fatalf("busy member assignment = %+v", d.Members[0].Assigned)
	}

	// Lag: produce more while the idle group sits still.
	b.produce("stock", "more", 30)
	lags, err := adm.Lag(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	idle := lags["idle"]
	if err := idle.Error(); err != nil {
		t.Fatalf("lag of idle: %v", err)
	}
	total := idle.Lag.Total()
	// idle committed 2 and 4 on partitions 0 and 1 (20 each after 60
	// round-robin records); partition 2 has no commit: lag counted from the start.
	if want := int64(60 - 2 - 4); total != want {
		t.Fatalf("idle lag = %d, want %d", total, want)
	}

	// OffsetDelete: refused while a subscribed member runs, fine for idle.
	var del kadm.TopicsSet
	del.Add("stock", 0)
	if resp, err := adm.DeleteOffsets(ctx, "busy", del); err != nil || resp.Error() == nil {
		t.Fatalf("delete offsets of a subscribed topic: %v, %v, want GROUP_SUBSCRIBED_TO_TOPIC", resp, err)
	}
	if resp, err := adm.DeleteOffsets(ctx, "idle", del); err != nil || resp.Error() != nil {
		t.Fatalf("delete offsets of idle: %v, %v", resp, err)
	}
	fo, err := adm.FetchOffsets(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fo.Lookup("stock", 0); ok {
		t.Fatal("deleted offset still there")
	}

	// DeleteGroups: refused while busy has a member, done for idle.
	resp, err := adm.DeleteGroups(ctx, "busy", "idle")
	if err != nil {
		t.Fatal(err)
	}
	if resp["busy"].Err == nil || resp["idle"].Err != nil {
		t.Fatalf("delete groups: busy %v (want NON_EMPTY_GROUP), idle %v", resp["busy"].Err, resp["idle"].Err)
	}
	m.leave()
	waitUntil(t, "busy to be empty", func() bool { return describe(t, adm, "busy").State == "Empty" })
	if resp, err := adm.DeleteGroups(ctx, "busy"); err != nil || resp["busy"].Err != nil {
		t.Fatalf("delete empty busy: %v %v", err, resp["busy"].Err)
	}
	if listed, err := adm.ListGroups(ctx); err != nil || len(listed) != 0 {
		t.Fatalf("groups after deletion = %v, %v", listed, err)
	}
}

func TestGroupOffsetsOfDeletedTopicsAreDropped(t *testing.T) {
	b := startGroupBroker(t, "")
	b.createTopic("temp", 2)
	adm := b.admin()
	ctx := testCtx(t)
	var commit kadm.Offsets
	commit.Add(kadm.Offset{Topic: "temp", Partition: 1, At: 7, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "g", commit); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	if _, err := adm.DeleteTopic(ctx, "temp"); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "temp"); err != nil {
		t.Fatalf("recreate topic: %v", err)
	}
	fo, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fo.Lookup("temp", 1); ok && o.At >= 0 {
		t.Fatalf("the recreated topic inherited offset %d", o.At)
	}
}

// TestGroupSurvivesRestartWhileConsuming restarts the broker under a running
// two-member group: the members carry on (the group comes back Stable from
// disk) and every record is still consumed exactly once.
func TestGroupSurvivesRestartWhileConsuming(t *testing.T) {
	b := startGroupBroker(t, "")
	b.createTopic("live", 4)
	adm := b.admin()
	l := &ledger{seen: map[string]int{}}
	first := b.produce("live", "a", 80)
	m1 := startConsumer(t, b, l, "live-group", "live")
	m2 := startConsumer(t, b, l, "live-group", "live")
	waitUntil(t, "the first records", func() bool { return l.has(first) })
	waitUntil(t, "a stable group of two", func() bool {
		d := describe(t, adm, "live-group")
		return d.State == "Stable" && len(d.Members) == 2
	})
	waitUntil(t, "commits to reach the end offsets", func() bool { return committedEqualsEnd(t, adm, "live-group", "live") })

	b.restart()
	adm = b.admin()
	d := describe(t, adm, "live-group")
	if len(d.Members) != 2 {
		t.Fatalf("after restart the group has %d members, want the 2 restored from disk", len(d.Members))
	}
	second := b.produce("live", "b", 80)
	waitUntil(t, "consumption after the restart", func() bool { return l.has(second) })
	m1.stop()
	m2.stop()
	l.exactlyOnce(t, 160)
}
