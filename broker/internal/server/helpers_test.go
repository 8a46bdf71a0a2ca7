package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/broker/internal/storage"
)

// testBroker is a server on 127.0.0.1:0 over a store in a temp dir.
type testBroker struct {
	t     testing.TB
	dir   string
	store *storage.Store
	srv   *Server
	addr  string
	done  chan error
	once  sync.Once
}

type brokerOpt func(*Config, *storage.Options)

func withAutoCreate() brokerOpt {
	return func(c *Config, _ *storage.Options) { c.AutoCreateTopics = true }
}

func withMaxFrame(n int32) brokerOpt {
	return func(c *Config, _ *storage.Options) { c.MaxFrameBytes = n }
}

// startBroker starts a broker over dir (a new temp dir if empty) and stops
// it when the test ends.
func startBroker(t testing.TB, dir string, opts ...brokerOpt) *testBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("BROKER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sopts := storage.Options{Dir: dir, Logger: log}
	cfg := Config{Addr: "127.0.0.1:0", Logger: log}
	for _, o := range opts {
		o(&cfg, &sopts)
	}
	st, err := storage.Open(sopts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	cfg.Store = st
	srv, err := New(cfg)
	if err != nil {
		st.Close()
		t.Fatalf("new server: %v", err)
	}
	b := &testBroker{t: t, dir: dir, store: st, srv: srv, addr: srv.Addr().String(), done: make(chan error, 1)}
	go func() { b.done <- srv.Serve() }()
	t.Cleanup(b.stop)
	return b
}

// stop shuts the broker down and closes its store; it is idempotent.
func (b *testBroker) stop() { b.once.Do(b.shutdown) }

func (b *testBroker) shutdown() {
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
}

// client returns a kgo client for the broker, closed when the test ends.
func (b *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		b.t.Fatalf("new client: %v", err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

func (b *testBroker) admin() *kadm.Client {
	return kadm.NewClient(b.client())
}

// createTopic creates a topic through the store directly.
func (b *testBroker) createTopic(name string, partitions int32, configs map[string]string) storage.TopicInfo {
	b.t.Helper()
	info, err := b.store.CreateTopic(name, partitions, configs)
	if err != nil {
		b.t.Fatalf("create topic %s: %v", name, err)
	}
	return info
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
