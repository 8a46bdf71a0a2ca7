// Command groups benchmarks consumer-group coordination of freshmart-broker
// against franz-go's kfake in the same run, with the same franz-go clients:
//
//   - failover: time from a group member being cut off (no LeaveGroup, as if
//     its process died) to the first record consumed by a survivor from a
//     partition the dead member owned. Dominated by the session timeout,
//     which both brokers must wait out; reported beside it.
//   - join10: time for a fresh group of 10 members started together to be
//     Stable with every partition assigned (includes the broker's initial
//     rebalance delay, which kfake does not have).
//   - join+1: time for a Stable group of 9 to be Stable again with every
//     partition assigned after a 10th member joins.
//   - commits/s: OffsetCommit requests per second from concurrent
//     committers (simple commits through kadm, one partition each), each answered only
//     once durable on freshmart-broker with -group-sync (the default) and
//     in memory on kfake.
//
// By default both brokers run in-process on loopback ports (freshmart-broker
// over a temp dir with fsync durability). -broker-addr targets an already
// running freshmart-broker instead; -kfake=false skips kfake.
//
//	go run ./broker/bench/groups [-runs 3] [-session 2s] [-commit-for 5s] [-broker-addr host:port]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/broker/internal/group"
	"github.com/freshmart/platform/broker/internal/server"
	"github.com/freshmart/platform/broker/internal/storage"
)

type options struct {
	runs         int
	session      time.Duration
	commitFor    time.Duration
	committers   int
	brokerAddr   string
	useKfake     bool
	groupSync    bool
	initialDelay time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "repetitions of the failover and join measurements (median reported)")
	flag.DurationVar(&o.session, "session", 2*time.Second, "consumer session timeout")
	flag.DurationVar(&o.commitFor, "commit-for", 5*time.Second, "duration of the commit-rate measurement")
	flag.IntVar(&o.committers, "committers", 8, "concurrent committing clients")
	flag.StringVar(&o.brokerAddr, "broker-addr", "", "measure this running freshmart-broker instead of an in-process one")
	flag.BoolVar(&o.useKfake, "kfake", true, "also measure franz-go kfake")
	flag.BoolVar(&o.groupSync, "group-sync", true, "in-process broker: fsync offset commits before answering")
	flag.DurationVar(&o.initialDelay, "initial-delay", 300*time.Millisecond, "in-process broker: group initial rebalance delay (0 disables)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "groups bench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "groups bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(o); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "groups bench:", err)
		os.Exit(1)
	}
}

type target struct {
	name  string
	addr  string
	close func()
}

func run(o options) error {
	var targets []target
	if o.brokerAddr != "" {
		targets = append(targets, target{name: "freshmart-broker", addr: o.brokerAddr, close: func() {}})
	} else {
		t, err := startBroker(o)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if o.useKfake {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
		if err != nil {
			return fmt.Errorf("start kfake: %w", err)
		}
		targets = append(targets, target{name: "kfake", addr: c.ListenAddrs()[0], close: c.Close})
	}
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()

	fmt.Printf("consumer groups: franz-go clients, session timeout %v, heartbeat %v, %d runs (median)\n",
		o.session, heartbeat(o.session), o.runs)
	fmt.Printf("%-18s %14s %14s %14s %14s\n", "broker", "failover_ms", "join10_ms", "join+1_ms", "commits/s")
	for i, t := range targets {
		b := &bench{o: o, addr: t.addr, prefix: fmt.Sprintf("b%d-%d", i, time.Now().UnixNano())}
		fail, err := b.median(b.failover)
		if err != nil {
			return fmt.Errorf("%s failover: %w", t.name, err)
		}
		cold, err := b.median(b.joinCold)
		if err != nil {
			return fmt.Errorf("%s join10: %w", t.name, err)
		}
		plus, err := b.median(b.joinOne)
		if err != nil {
			return fmt.Errorf("%s join+1: %w", t.name, err)
		}
		rate, err := b.commitRate()
		if err != nil {
			return fmt.Errorf("%s commits: %w", t.name, err)
		}
		fmt.Printf("%-18s %14.0f %14.0f %14.0f %14.0f\n", t.name, ms(fail), ms(cold), ms(plus), rate)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func heartbeat(session time.Duration) time.Duration { return session / 10 }

// startBroker runs freshmart-broker in-process over a temp dir.
func startBroker(o options) (target, error) {
	dir, err := os.MkdirTemp("", "groups-bench-")
	if err != nil {
		return target{}, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GROUPS_BENCH_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := storage.Open(storage.Options{Dir: dir, Logger: log})
	if err != nil {
		return target{}, fmt.Errorf("open store: %w", err)
	}
	delay := o.initialDelay
	if delay == 0 {
		delay = -1
	}
	gc, err := server.OpenGroups(st, group.Config{
		Dir: filepath.Join(dir, "groups"), NoSync: !o.groupSync, Logger: log,
		InitialRebalanceDelay: delay, MinSessionTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		st.Close()
		return target{}, fmt.Errorf("open groups: %w", err)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Store: st, Groups: gc, Logger: log, AutoCreateTopics: false})
	if err != nil {
		gc.Close()
		st.Close()
		return target{}, err
	}
	go srv.Serve()
	return target{name: "freshmart-broker", addr: srv.Addr().String(), close: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
		os.RemoveAll(dir)
	}}, nil
}

type bench struct {
	o      options
	addr   string
	prefix string
	seq    int
}

func (b *bench) name(kind string) string {
	b.seq++
	return fmt.Sprintf("%s-%s-%d", b.prefix, kind, b.seq)
}

func (b *bench) median(f func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < b.o.runs; i++ {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

func (b *bench) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.RetryTimeout(60 * time.Second)}, opts...)...)
}

func (b *bench) createTopic(name string, partitions int32) error {
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, name)
	return err
}

// cutDialer can sever a client from the network, as if its process died.
type cutDialer struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (d *cutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errors.New("cut")
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// member is a group consumer that reports what it owns and consumes.
type member struct {
	cl     *kgo.Client
	dialer *cutDialer
	mu     sync.Mutex
	owned  map[int32]bool
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *bench) startMember(groupName, topic string, onRecord func(m *member, r *kgo.Record)) (*member, error) {
	m := &member{dialer: &cutDialer{}, owned: map[int32]bool{}, done: make(chan struct{})}
	cl, err := b.client(
		kgo.Dialer(m.dialer.dial),
		kgo.ConsumerGroup(groupName),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.SessionTimeout(b.o.session),
		kgo.HeartbeatInterval(heartbeat(b.o.session)),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
	)
	if err != nil {
		return nil, err
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			if onRecord != nil {
				fs.EachRecord(func(r *kgo.Record) { onRecord(m, r) })
			}
		}
	}()
	return m, nil
}

func (m *member) ownedSet() map[int32]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int32]bool, len(m.owned))
	for p := range m.owned {
		out[p] = true
	}
	return out
}

// close leaves the group (unless the member was cut off) and stops it.
func (m *member) close() {
	m.cancel()
	<-m.done
	if m.dialer.dead {
		go m.cl.Close() // its LeaveGroup cannot get through; do not wait
		return
	}
	m.cl.Close()
}

func closeAll(ms []*member) {
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func(m *member) { defer wg.Done(); m.close() }(m)
	}
	wg.Wait()
}

// settled reports whether members own all partitions between them, each
// exactly once, every member at least one.
func settled(ms []*member, partitions int32) bool {
	seen := map[int32]int{}
	for _, m := range ms {
		o := m.ownedSet()
		if len(o) == 0 {
			return false
		}
		for p := range o {
			seen[p]++
		}
	}
	if int32(len(seen)) != partitions {
		return false
	}
	for _, n := range seen {
		if n != 1 {
			return false
		}
	}
	return true
}

func waitSettled(ms []*member, partitions int32, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !settled(ms, partitions) {
		if time.Now().After(deadline) {
			return fmt.Errorf("group not settled within %v", limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// failover: two members split 6 partitions; one is cut off; a producer keeps
// writing to every partition; measure until the survivor consumes from a
// partition the dead member owned.
func (b *bench) failover() (time.Duration, error) {
	const partitions = 6
	topic, grp := b.name("failover"), b.name("failover-group")
	if err := b.createTopic(topic, partitions); err != nil {
		return 0, err
	}
	var deadOwned atomic.Pointer[map[int32]bool]
	var cutAt atomic.Int64
	got := make(chan time.Time, 1)
	var perPart [partitions]atomic.Int64
	onRecord := func(m *member, r *kgo.Record) {
		perPart[r.Partition].Add(1)
		owned := deadOwned.Load()
		if owned == nil || !(*owned)[r.Partition] || cutAt.Load() == 0 {
			return
		}
		select {
		case got <- time.Now():
		default:
		}
	}
	a, err := b.startMember(grp, topic, onRecord)
	if err != nil {
		return 0, err
	}
	defer a.close()
	d, err := b.startMember(grp, topic, nil)
	if err != nil {
		return 0, err
	}
	defer d.close()
	if err := waitSettled([]*member{a, d}, partitions, 60*time.Second); err != nil {
		return 0, err
	}
	prod, err := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	stop := make(chan struct{})
	defer close(stop)
	var produceErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			produceErr.CompareAndSwap(nil, err)
		}
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			for p := int32(0); p < partitions; p++ {
				prod.Produce(context.Background(), &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")}, promise)
			}
		}
	}()
	owned := d.ownedSet()
	deadOwned.Store(&owned)
	start := time.Now()
	cutAt.Store(start.UnixNano())
	d.dialer.cut()
	select {
	case t := <-got:
		return t.Sub(start), nil
	case <-time.After(60*time.Second + b.o.session):
		var counts []int64
		for i := range perPart {
			counts = append(counts, perPart[i].Load())
		}
		return 0, fmt.Errorf("no takeover within 60 s after the session timeout (dead owned %v, survivor owns %v, survivor consumed per partition %v, produce error %v)", owned, a.ownedSet(), counts, produceErr.Load())
	}
}

// joinCold: 10 members start together in a fresh group.
func (b *bench) joinCold() (time.Duration, error) {
	const partitions, n = 12, 10
	topic, grp := b.name("join"), b.name("join-group")
	if err := b.createTopic(topic, partitions); err != nil {
		return 0, err
	}
	start := time.Now()
	ms := make([]*member, n)
	for i := range ms {
		m, err := b.startMember(grp, topic, nil)
		if err != nil {
			return 0, err
		}
		ms[i] = m
	}
	defer closeAll(ms)
	if err := waitSettled(ms, partitions, 120*time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// joinOne: a 10th member joins a settled group of 9.
func (b *bench) joinOne() (time.Duration, error) {
	const partitions, n = 12, 9
	topic, grp := b.name("join1"), b.name("join1-group")
	if err := b.createTopic(topic, partitions); err != nil {
		return 0, err
	}
	ms := make([]*member, 0, n+1)
	defer func() { closeAll(ms) }()
	for i := 0; i < n; i++ {
		m, err := b.startMember(grp, topic, nil)
		if err != nil {
			return 0, err
		}
		ms = append(ms, m)
	}
	if err := waitSettled(ms, partitions, 120*time.Second); err != nil {
		return 0, err
	}
	start := time.Now()
	m, err := b.startMember(grp, topic, nil)
	if err != nil {
		return 0, err
	}
	ms = append(ms, m)
	if err := waitSettled(ms, partitions, 120*time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// commitRate: concurrent clients send simple OffsetCommits for o.commitFor.
func (b *bench) commitRate() (float64, error) {
	topic := b.name("commits")
	if err := b.createTopic(topic, int32(b.o.committers)); err != nil {
		return 0, err
	}
	var total atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), b.o.commitFor)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < b.o.committers; i++ {
		cl, err := b.client()
		if err != nil {
			return 0, err
		}
		defer cl.Close()
		grp := b.name("commit-group")
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			adm := kadm.NewClient(cl)
			retries := 0
			for off := int64(1); ctx.Err() == nil; off++ {
				var os kadm.Offsets
				os.Add(kadm.Offset{Topic: topic, Partition: int32(i), At: off, LeaderEpoch: -1})
				resp, err := adm.CommitOffsets(ctx, grp, os)
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				if err := resp.Error(); err != nil {
					// A just-created topic may not be known everywhere yet.
					if errors.Is(err, kerr.UnknownTopicOrPartition) && retries < 100 {
						retries++
						time.Sleep(10 * time.Millisecond)
						continue
					}
					firstErr.CompareAndSwap(nil, err)
					return
				}
				retries = 0
				total.Add(1)
			}
		}(i)
	}
	start := time.Now()
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}
