package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newHub(t *testing.T, cfg Config) (*Hub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

// metric returns the value of the hub metric name (a histogram's sample count).
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func wantMetric(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	if got := metric(t, reg, name); got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// drain returns what c has queued, without waiting.
func drain(t *testing.T, c *Client) []string {
	t.Helper()
	var out []string
	for c.Len() > 0 {
		m, err := c.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(m.Data))
	}
	return out
}

func msg(data string, topics ...string) Message {
	return Message{Topics: topics, Data: []byte(data)}
}

// TestPublishRoutesByTopic: a client gets the messages of its topics, once even when a message
// is on several of them, and nothing else.
func TestPublishRoutesByTopic(t *testing.T) {
	h, _ := newHub(t, Config{})
	s1 := h.Subscribe(ClientConfig{Topics: []string{"S001"}})
	s2 := h.Subscribe(ClientConfig{Topics: []string{"S002"}})
	chain := h.Subscribe(ClientConfig{Topics: []string{""}})
	both := h.Subscribe(ClientConfig{Topics: []string{"S001", ""}})
	none := h.Subscribe(ClientConfig{})
	h.Publish(msg("sale S001", "S001", ""))
	h.Publish(msg("stock S001", "S001"))
	h.Publish(msg("sale S002", "S002", ""))
	h.Publish(msg("nobody", "S003"))
	for _, tt := range []struct {
		c    *Client
		want []string
	}{
		{s1, []string{"sale S001", "stock S001"}},
		{s2, []string{"sale S002"}},
		{chain, []string{"sale S001", "sale S002"}},
		{both, []string{"sale S001", "stock S001", "sale S002"}},
		{none, nil},
	} {
		if got := drain(t, tt.c); !slices.Equal(got, tt.want) {
			t.Errorf("%v got %q, want %q", tt.c.topics, got, tt.want)
		}
	}
	if h.Clients() != 5 {
		t.Fatalf("%d clients, want 5", h.Clients())
	}
}

// TestStalledClientsDoNotHoldUpOthers publishes many messages with clients that never read:
// Publish never waits for them, the readers get every message in order, the Disconnect client
// is disconnected and counted, the Drop client keeps the oldest messages and counts the rest.
func TestStalledClientsDoNotHoldUpOthers(t *testing.T) {
	const n, size = 20000, 16
	h, reg := newHub(t, Config{Name: "test", QueueSize: size})
	stalled := h.Subscribe(ClientConfig{Topics: []string{"t"}})
	dropper := h.Subscribe(ClientConfig{Topics: []string{"t"}, Policy: Drop})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	got := make([][]string, 3)
	for i := range got {
		// Readers have room for everything, so how fast they run does not matter.
		c := h.Subscribe(ClientConfig{Topics: []string{"t"}, QueueSize: n})
		wg.Go(func() {
			for len(got[i]) < n {
				m, err := c.Next(ctx)
				if err != nil {
					t.Errorf("reader %d after %d messages: %v", i, len(got[i]), err)
					return
				}
				got[i] = append(got[i], string(m.Data))
			}
		})
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			h.Publish(msg(strconv.Itoa(i), "t"))
		}
	}()
	select {
	case <-published:
	case <-ctx.Done():
		t.Fatal("Publish blocked on a stalled client")
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != n {
			t.Fatalf("reader %d got %d of %d messages", i, len(got[i]), n)
		}
		for j, s := range got[i] {
			if s != strconv.Itoa(j) {
				t.Fatalf("reader %d: message %d is %q: out of order", i, j, s)
			}
		}
	}
	select {
	case <-stalled.Done():
	default:
		t.Fatal("the stalled Disconnect client is still subscribed")
	}
	if !errors.Is(stalled.Err(), ErrSlow) {
		t.Fatalf("stalled client ended with %v, want ErrSlow", stalled.Err())
	}
	if _, err := stalled.Next(ctx); !errors.Is(err, ErrSlow) || stalled.Len() != 0 {
		t.Fatalf("Next of a disconnected client: %v with %d queued; want ErrSlow and nothing", err, stalled.Len())
	}
	if dropper.Err() != nil {
		t.Fatalf("the Drop client ended: %v", dropper.Err())
	}
	want := make([]string, size)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	if got := drain(t, dropper); !slices.Equal(got, want) {
		t.Fatalf("the Drop client kept %q, want the %d oldest", got, size)
	}
	if h.Clients() != 4 {
		t.Fatalf("%d clients, want the 3 readers and the Drop client", h.Clients())
	}
	wantMetric(t, reg, "freshmart_hub_clients", 4)
	wantMetric(t, reg, "freshmart_hub_messages_published_total", n)
	wantMetric(t, reg, "freshmart_hub_slow_disconnects_total", 1)
	// The Disconnect client lost its full queue and the message that found it full; the Drop
	// client every message after its first size.
	wantMetric(t, reg, "freshmart_hub_messages_dropped_total", size+1+n-size)
	wantMetric(t, reg, "freshmart_hub_messages_coalesced_total", 0)
	// Every message queued for a reader (3n), the Disconnect client's first size, the Drop's.
	wantMetric(t, reg, "freshmart_hub_queue_depth", 3*n+2*size)
}

// TestCoalesceKeepsNewestPerKey: a client that does not read holds one message per key, the
// newest, in the order of the newest; messages without a key all queue; when the queue is
// full and nothing can be replaced the client is disconnected.
func TestCoalesceKeepsNewestPerKey(t *testing.T) {
	h, reg := newHub(t, Config{QueueSize: 4, Policy: Coalesce})
	c := h.Subscribe(ClientConfig{Topics: []string{"S001"}})
	plain := h.Subscribe(ClientConfig{Topics: []string{"S001"}, Policy: Disconnect, QueueSize: 1000})
	price := func(sku string, v int) Message {
		return Message{Topics: []string{"S001"}, Key: sku, Data: fmt.Appendf(nil, "%s=%d", sku, v)}
	}
	for v := range 100 {
		for _, sku := range []string{"a", "b", "c"} {
			h.Publish(price(sku, v))
		}
	}
	if got, want := drain(t, c), []string{"a=99", "b=99", "c=99"}; !slices.Equal(got, want) {
		t.Fatalf("coalesced client got %q, want %q", got, want)
	}
	if n := len(drain(t, plain)); n != 300 {
		t.Fatalf("the Disconnect client (keys ignored) got %d messages, want 300", n)
	}
	// A replacement goes to the back: what the client gets stays in publish order.
	h.Publish(price("a", 100))
	h.Publish(price("b", 100))
	h.Publish(price("a", 101))
	h.Publish(msg("unkeyed 1", "S001"))
	h.Publish(msg("unkeyed 2", "S001"))
	if got, want := drain(t, c), []string{"b=100", "a=101", "unkeyed 1", "unkeyed 2"}; !slices.Equal(got, want) {
		t.Fatalf("coalesced client got %q, want %q", got, want)
	}
	wantMetric(t, reg, "freshmart_hub_messages_coalesced_total", 3*99+1)
	wantMetric(t, reg, "freshmart_hub_slow_disconnects_total", 0)

	// Five keys do not fit in four places.
	for _, sku := range []string{"a", "b", "c", "d"} {
		h.Publish(price(sku, 200))
	}
	h.Publish(price("b", 201)) // still fits: replaces b=200
	if c.Err() != nil {
		t.Fatalf("disconnected with room to coalesce: %v", c.Err())
	}
	h.Publish(price("e", 200))
	if !errors.Is(c.Err(), ErrSlow) {
		t.Fatalf("a full queue with nothing to replace: %v, want ErrSlow", c.Err())
	}
	wantMetric(t, reg, "freshmart_hub_slow_disconnects_total", 1)
	wantMetric(t, reg, "freshmart_hub_messages_dropped_total", 5)
}

// TestCoalesceQueueStaysBounded: a client that is always behind and whose messages keep
// replacing each other does not grow its queue's backing array.
func TestCoalesceQueueStaysBounded(t *testing.T) {
	h, _ := newHub(t, Config{QueueSize: 8, Policy: Coalesce})
	c := h.Subscribe(ClientConfig{Topics: []string{"t"}})
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for i := range 100000 {
		k := keys[i%len(keys)]
		h.Publish(Message{Topics: []string{"t"}, Key: k, Data: []byte(k + strconv.Itoa(i))})
		if i%1000 == 0 {
			if _, err := c.Next(context.Background()); err != nil { // a trickle of reads
				t.Fatal(err)
			}
		}
	}
	c.mu.Lock()
	n, capacity := c.q.n, cap(c.q.items)
	c.mu.Unlock()
	if n != 8 || capacity > 4*8 {
		t.Fatalf("%d queued in an array of %d; want 8 in at most 32", n, capacity)
	}
	got := drain(t, c)
	if len(got) != 8 || got[7] != "h99999" {
		t.Fatalf("queue after the run: %q", got)
	}
}

// TestNextWaitsAndClose: Next waits for a message, returns the context's error when it ends and
// ErrClosed once the client is closed; Close unsubscribes once.
func TestNextWaitsAndClose(t *testing.T) {
	h, reg := newHub(t, Config{})
	c := h.Subscribe(ClientConfig{Topics: []string{"t"}})
	got := make(chan string)
	go func() {
		m, err := c.Next(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(m.Data)
	}()
	h.Publish(msg("hello", "t"))
	if s := <-got; s != "hello" {
		t.Fatalf("Next = %q", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with an ended context: %v", err)
	}
	wantMetric(t, reg, "freshmart_hub_clients", 1)
	c.Close()
	c.Close()
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	h.Publish(msg("after", "t"))
	if h.Clients() != 0 || c.Len() != 0 {
		t.Fatalf("%d clients, %d queued after Close", h.Clients(), c.Len())
	}
	wantMetric(t, reg, "freshmart_hub_clients", 0)
	wantMetric(t, reg, "freshmart_hub_slow_disconnects_total", 0)
}

// TestMetricsPerHub: hubs share a registry under different names, never under the same one,
// and a hub without a Registerer registers nothing.
func TestMetricsPerHub(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Name: "dashboard", Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Name: "signs", Registerer: reg}); err != nil {
		t.Fatalf("a second hub on the registry: %v", err)
	}
	if _, err := New(Config{Name: "signs", Registerer: reg}); err == nil {
		t.Fatal("two hubs named signs registered on one registry")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) != 2 {
			t.Errorf("%s has %d series, want one per hub", mf.GetName(), len(mf.GetMetric()))
		}
	}
	if _, err := New(Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Policy: 7}); err == nil {
		t.Fatal("New accepted an unknown policy")
	}
}
