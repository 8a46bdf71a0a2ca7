package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/broker/internal/group"
	"github.com/freshmart/platform/broker/internal/storage"
)

// groupBroker is an in-process broker with a group coordinator, over a data
// directory that survives restart().
type groupBroker struct {
	t      *testing.T
	dir    string
	store  *storage.Store
	groups *group.Coordinator
	srv    *Server
	addr   string
	done   chan error
}

// startGroupBroker starts a broker with consumer groups on 127.0.0.1:0.
// Session timeouts down to 500ms are accepted and the initial rebalance
// delay is short, so tests see evictions and rebalances quickly.
func startGroupBroker(t *testing.T, dir string) *groupBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	b := &groupBroker{t: t, dir: dir}
	b.start("127.0.0.1:0")
	t.Cleanup(b.stop)
	return b
}

func (b *groupBroker) start(addr string) {
	b.t.Helper()
	if err := b.open(addr); err != nil {
		b.t.Fatal(err)
	}
}

func (b *groupBroker) open(addr string) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("BROKER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(testWriter{b.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := storage.Open(storage.Options{Dir: b.dir, Logger: log})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	gc, err := OpenGroups(st, group.Config{
		Dir:                   filepath.Join(b.dir, "groups"),
		Logger:                log,
		InitialRebalanceDelay: 100 * time.Millisecond,
		MinSessionTimeout:     500 * time.Millisecond,
	})
	if err != nil {
		st.Close()
		return fmt.Errorf("open groups: %w", err)
	}
	srv, err := New(Config{Addr: addr, Store: st, Groups: gc, Logger: log})
	if err != nil {
		gc.Close()
		st.Close()
		return fmt.Errorf("new server: %w", err)
	}
	b.store, b.groups, b.srv, b.addr, b.done = st, gc, srv, srv.Addr().String(), make(chan error, 1)
	go func() { b.done <- srv.Serve() }()
	return nil
}

// stop shuts the broker down (which closes the coordinator) and closes the
// store; it is idempotent.
func (b *groupBroker) stop() {
	if b.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		b.t.Errorf("shutdown: %v", err)
	}
	if err := <-b.done; err != nil {
		b.t.Errorf("serve: %v", err)
	}
	if err := b.store.Close(); err != nil {
		b.t.Errorf("close store: %v", err)
	}
	b.srv = nil
}

// restart stops the broker and starts it again over the same directory and
// on the same address, so connected clients find it again.
func (b *groupBroker) restart() {
	b.t.Helper()
	addr := b.addr
	b.stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := b.open(addr)
		if err == nil {
			return
		}
		// The port was just released; retry briefly if the bind races.
		if time.Now().After(deadline) {
			b.t.Fatalf("restart on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *groupBroker) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		b.t.Fatalf("new client: %v", err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

func (b *groupBroker) admin() *kadm.Client { return kadm.NewClient(b.client()) }

func (b *groupBroker) createTopic(name string, partitions int32) {
	b.t.Helper()
	if _, err := b.store.CreateTopic(name, partitions, nil); err != nil {
		b.t.Fatalf("create topic %s: %v", name, err)
	}
}

// produce writes n records with values prefix-0 .. prefix-(n-1), spread over
// the partitions, and waits for all acks.
func (b *groupBroker) produce(topic, prefix string, n int) []string {
	b.t.Helper()
	cl := b.client(kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx := testCtx(b.t)
	recs := make([]*kgo.Record, n)
	vals := make([]string, n)
	for i := range recs {
		vals[i] = fmt.Sprintf("%s-%d", prefix, i)
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(vals[i])}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.t.Fatalf("produce: %v", err)
	}
	return vals
}

// killableDialer lets a test cut a client off the network at once, as if its
// process died: existing connections are closed and new dials fail, so the
// client can neither heartbeat nor leave its group.
type killableDialer struct {
	mu     sync.Mutex
	dead   bool
	conns  []net.Conn
	dialer net.Dialer
}

func (d *killableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, fmt.Errorf("dial %s: network cut by the test", host)
	}
	c, err := d.dialer.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// waitUntil polls cond until it holds or 60 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
