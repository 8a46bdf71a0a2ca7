package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultQueueSize is a client's queue bound when neither Config nor ClientConfig sets one.
const DefaultQueueSize = 256

// Policy is what a client's full queue does with a new message. The zero value means "not
// set": the hub's policy for a client, Disconnect for a hub.
type Policy int

const (
	// Disconnect disconnects a client whose queue is full (the default).
	Disconnect Policy = iota + 1
	// Coalesce replaces a queued message with the same Key by the new one, and disconnects the
	// client when its queue is full and nothing can be replaced.
	Coalesce
	// Drop drops the new message when the queue is full; the client stays connected.
	Drop
)

func (p Policy) String() string {
	switch p {
	case 0:
		return "default"
	case Disconnect:
		return "disconnect"
	case Coalesce:
		return "coalesce"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

var (
	// ErrSlow is why a client disconnected for falling behind (its queue was full) stopped.
	ErrSlow = errors.New("hub: client too far behind")
	// ErrClosed is why a client stopped after Client.Close.
	ErrClosed = errors.New("hub: client closed")
)

// Config configures a Hub. Zero values take the defaults in brackets.
type Config struct {
	// Name is the value of the metrics' "hub" label ["hub"].
	Name string
	// Registerer receives the hub's metrics [none registered]. The default registry is used
	// only when passed here explicitly.
	Registerer prometheus.Registerer
	// QueueSize is how many messages a client may have queued [DefaultQueueSize].
	QueueSize int
	// Policy is what a full queue does [Disconnect].
	Policy Policy
}

// ClientConfig configures one client. Zero values take the hub's settings.
type ClientConfig struct {
	// Topics are the topics whose messages the client receives [none: it receives nothing
	// published, only what Serve's First frames send].
	Topics []string
	// QueueSize is how many messages the client may have queued [the hub's].
	QueueSize int
	// Policy is what the client's full queue does [the hub's].
	Policy Policy
	// Pulled makes a client without a queue: a Publish to its topics or a Wake only wakes it,
	// and Serve writes the frames ServeOptions.Pull makes from the caller's own state (the
	// latest price of each SKU a shelf sign shows), so a client that fell behind catches up
	// in one frame and costs no memory per message. QueueSize and Policy do not apply.
	Pulled bool
}

// Message is one frame to deliver.
type Message struct {
	// Topics: the message goes to every client subscribed to at least one of them, once.
	Topics []string
	// Key identifies what the message is about, for Coalesce ("" never coalesces). Keys are
	// compared within one client's queue only.
	Key string
	// Data is the frame's payload. It is shared by every client it goes to and must not be
	// modified after Publish.
	Data []byte
}

// Hub fans messages out to its clients. Create it with New; it is safe for concurrent use.
type Hub struct {
	cfg Config
	m   *metrics

	mu     sync.Mutex // serialises Publish (one order for every client), guards topics and seq
	topics map[string]map[*Client]struct{}
	n      int    // clients subscribed
	seq    uint64 // Publish calls, to deliver a message on several topics once per client

	writing atomic.Int64 // Pulled clients' writers running
	pool    *workers     // runs them
}

// New returns a Hub with no clients, registering its metrics on cfg.Registerer. It fails only
// when the metrics cannot be registered (another hub of the same Name on the registry).
func New(cfg Config) (*Hub, error) {
	if cfg.Name == "" {
		cfg.Name = "hub"
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Policy == 0 {
		cfg.Policy = Disconnect
	}
	if cfg.Policy < Disconnect || cfg.Policy > Drop {
		return nil, fmt.Errorf("hub %s: unknown %v", cfg.Name, cfg.Policy)
	}
	m, err := newMetrics(cfg.Name, cfg.QueueSize, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("hub %s: register metrics: %w", cfg.Name, err)
	}
	return &Hub{cfg: cfg, m: m, topics: map[string]map[*Client]struct{}{}, pool: newWorkers()}, nil
}

// Subscribe adds a client receiving the messages published from now on to any of cfg.Topics.
// The caller must end it with Client.Close (Client.Serve does so when it returns).
func (h *Hub) Subscribe(cfg ClientConfig) *Client {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = h.cfg.QueueSize
	}
	if cfg.Policy < Disconnect || cfg.Policy > Drop {
		cfg.Policy = h.cfg.Policy
	}
	c := &Client{hub: h, topics: cfg.Topics, size: cfg.QueueSize, policy: cfg.Policy, done: make(chan struct{})}
	if cfg.Pulled {
		c.pull = &pullState{writing: &h.writing, pool: h.pool}
	} else {
		c.wake = make(chan struct{}, 1)
		if c.policy == Coalesce {
			c.q.keys = map[string]int{}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range c.topics {
		set := h.topics[t]
		if set == nil {
			set = map[*Client]struct{}{}
			h.topics[t] = set
		}
		set[c] = struct{}{}
	}
	h.n++
	h.m.clients.Inc()
	return c
}

// Writing returns how many Pulled clients' writers are running: 0 once a wake's frames are
// all written (or blocked clients dropped). Background work that shares the machine with the
// fan-out (storing state) can wait for it, so the frames go out first.
func (h *Hub) Writing() int { return int(h.writing.Load()) }

// Clients returns how many clients are subscribed.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Publish queues m for every client subscribed to one of m's topics, applying each full
// queue's policy. It never waits for a client.
func (h *Hub) Publish(m Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m.published.Inc()
	h.seq++
	for _, t := range m.Topics {
		for c := range h.topics[t] {
			if c.seq == h.seq {
				continue // already queued through another of m's topics
			}
			c.seq = h.seq
			if c.pull != nil {
				c.pull.wake()
				continue
			}
			if !c.offer(m) {
				h.remove(c, ErrSlow)
			}
		}
	}
}

// Wake wakes every Pulled client subscribed to one of topics, once, so its writer pulls what
// changed (ServeOptions.Pull); queued clients are not affected. It never waits for a client:
// a client whose writer is busy pulls again when it is done.
func (h *Hub) Wake(topics []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	for _, t := range topics {
		for c := range h.topics[t] {
			if c.seq == h.seq || c.pull == nil {
				continue
			}
			c.seq = h.seq
			c.pull.wake()
		}
	}
}

// remove unsubscribes c and ends it with err. h.mu is held.
func (h *Hub) remove(c *Client, err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	discarded := c.q.n
	c.q = queue{}
	close(c.done)
	c.mu.Unlock()
	for _, t := range c.topics {
		if set := h.topics[t]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(h.topics, t)
			}
		}
	}
	h.n--
	h.m.clients.Dec()
	if err == ErrSlow {
		h.m.slow.Inc()
		h.m.dropped.Add(float64(discarded + 1)) // the queue and the message that found it full
	}
}

// Client is one subscriber of a Hub: a bounded queue of the messages published to its topics.
type Client struct {
	hub    *Hub
	topics []string
	size   int
	policy Policy
	seq    uint64 // the last Publish that reached it; guarded by hub.mu

	wake chan struct{} // a message was queued (capacity 1); nil for a Pulled client
	done chan struct{} // closed when the client is removed
	pull *pullState    // a Pulled client's writer; nil for a queued one

	mu  sync.Mutex
	q   queue
	err error // why the client ended; nil while subscribed
}

// offer queues m according to the client's policy and wakes the client. It reports false
// when the client must be disconnected for being slow. hub.mu is held.
func (c *Client) offer(m Message) bool {
	if !c.enqueue(m) {
		return false
	}
	c.signal()
	return true
}

// signal wakes the client's reader. hub.mu is held.
func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue is offer without the wake-up.
func (c *Client) enqueue(m Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return true
	}
	met := c.hub.m
	switch {
	case c.policy == Coalesce && m.Key != "" && c.q.remove(m.Key):
		met.coalesced.Inc()
	case c.q.n < c.size:
	case c.policy == Drop:
		met.dropped.Inc()
		return true
	default: // Disconnect, or Coalesce with nothing to replace
		return false
	}
	c.q.push(m)
	met.depth.Observe(float64(c.q.n))
	return true
}

// Next returns the oldest queued message, waiting for one until ctx ends (ctx.Err()) or the
// client ends (ErrSlow or ErrClosed: what is still queued then is discarded). One goroutine
// at a time should call Next.
func (c *Client) Next(ctx context.Context) (Message, error) {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return Message{}, err
		}
		m, ok := c.q.pop()
		c.mu.Unlock()
		if ok {
			return m, nil
		}
		select {
		case <-c.wake:
		case <-c.done:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// Len returns how many messages are queued.
func (c *Client) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.n
}

// Done returns a channel closed when the client ends: disconnected for being slow, or closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended (ErrSlow or ErrClosed), or nil while it is subscribed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close unsubscribes the client and discards its queue. It is safe to call more than once and
// after the client was disconnected.
func (c *Client) Close() {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	c.hub.remove(c, ErrClosed)
}

// queue is a FIFO of messages that can also remove a queued message by key (for Coalesce).
// Removal leaves a hole that pop skips; push compacts the holes away when they are at least
// half of the backing array, so the array stays within a few times the bound and each
// operation is amortised O(1).
type queue struct {
	items []slot
	head  int            // items[head:] are pending (live or holes)
	n     int            // live messages
	keys  map[string]int // Coalesce only: key -> index in items of its queued message
}

type slot struct {
	m    Message
	live bool
}

func (q *queue) push(m Message) {
	if len(q.items) == cap(q.items) && len(q.items) > 0 && 2*q.n <= len(q.items) {
		q.compact()
	}
	q.items = append(q.items, slot{m: m, live: true})
	q.n++
	if q.keys != nil && m.Key != "" {
		q.keys[m.Key] = len(q.items) - 1
	}
}

// remove deletes the queued message with key, reporting whether there was one.
func (q *queue) remove(key string) bool {
	i, ok := q.keys[key]
	if !ok {
		return false
	}
	q.items[i] = slot{}
	delete(q.keys, key)
	q.n--
	return true
}

func (q *queue) pop() (Message, bool) {
	for q.head < len(q.items) {
		s := q.items[q.head]
		q.items[q.head] = slot{} // let the payload be collected
		q.head++
		if s.live {
			q.n--
			if q.keys != nil && s.m.Key != "" {
				delete(q.keys, s.m.Key)
			}
			if q.n == 0 {
				q.items, q.head = q.items[:0], 0
			}
			return s.m, true
		}
	}
	q.items, q.head = q.items[:0], 0
	return Message{}, false
}

// compact moves the live messages to the front of items.
func (q *queue) compact() {
	j := 0
	for i := q.head; i < len(q.items); i++ {
		if s := q.items[i]; s.live {
			q.items[j] = s
			if q.keys != nil && s.m.Key != "" {
				q.keys[s.m.Key] = j
			}
			j++
		}
	}
	clear(q.items[j:])
	q.items, q.head = q.items[:j], 0
}
