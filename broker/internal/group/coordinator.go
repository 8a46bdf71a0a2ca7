package group

import (
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Coordinator. Zero values take the stated defaults.
type Config struct {
	// Dir is the directory holding the group log and snapshot, normally
	// <data-dir>/groups. Required.
	Dir string
	// NoSync skips fsync of offset commits and group changes (default false:
	// an OffsetCommit is answered only once it is on stable storage; concurrent
	// commits share one fsync).
	NoSync bool
	// Logger receives coordinator events; default slog.Default().
	Logger *slog.Logger

	// InitialRebalanceDelay is how long a group that goes from empty to
	// rebalancing waits for more members before completing the first join
	// (Kafka's group.initial.rebalance.delay.ms, 3 s there). Each new member
	// extends the wait by this much, up to the rebalance timeout. Default
	// 300ms, which keeps a lone fresh consumer quick while still gathering
	// members started together into one generation; negative disables it.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for (group.min/max.session.timeout.ms); defaults 6s and
	// 30m. A request outside them gets INVALID_SESSION_TIMEOUT.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// OffsetsRetention is how long the committed offsets of an empty group are
	// kept after it became empty (or, for groups that never had members, after
	// each offset's commit) — offsets.retention.minutes; default 7 days.
	OffsetsRetention time.Duration
	// RetentionCheckInterval is how often expired offsets, offsets of deleted
	// topics and dead groups are cleaned up and the log is considered for
	// compaction; default 1m.
	RetentionCheckInterval time.Duration
	// CompactBytes is the log size beyond which the periodic check compacts
	// it into the snapshot; default 16 MiB.
	CompactBytes int64
	// MaxMemberMetadataBytes bounds the summed protocol metadata a member
	// sends in JoinGroup; default 1 MiB. Larger joins are rejected.
	MaxMemberMetadataBytes int
	// MaxAssignmentBytes bounds one member's assignment in SyncGroup;
	// default 1 MiB.
	MaxAssignmentBytes int
	// MaxOffsetMetadataBytes bounds a commit's metadata string
	// (offset.metadata.max.bytes); default 4096.
	MaxOffsetMetadataBytes int
	// MaxGroupSize bounds the members of one group (group.max.size); default
	// 1000. Joins beyond it get GROUP_MAX_SIZE_REACHED.
	MaxGroupSize int

	// Partitions reports how many partitions a topic has, and false if the
	// topic does not exist. Required: commits to unknown topics or partitions
	// are refused and offsets of deleted topics dropped with it.
	Partitions func(topic string) (int32, bool)
	// HighWatermark reports a partition's high watermark for lag metrics, and
	// false if the partition does not exist. Optional: without it no lag is
	// reported.
	HighWatermark func(topic string, partition int32) (int64, bool)

	now func() time.Time // tests
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = 300 * time.Millisecond
	} else if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = time.Minute
	}
	if c.CompactBytes <= 0 {
		c.CompactBytes = 16 << 20
	}
	if c.MaxMemberMetadataBytes <= 0 {
		c.MaxMemberMetadataBytes = 1 << 20
	}
	if c.MaxAssignmentBytes <= 0 {
		c.MaxAssignmentBytes = 1 << 20
	}
	if c.MaxOffsetMetadataBytes <= 0 {
		c.MaxOffsetMetadataBytes = 4096
	}
	if c.MaxGroupSize <= 0 {
		c.MaxGroupSize = 1000
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// Coordinator is the group coordinator of a single-node broker: it runs the
// classic group protocol for every group and stores committed offsets. Its
// methods are safe for concurrent use; each group has its own lock, so groups
// never wait for each other.
type Coordinator struct {
	cfg   Config
	log   *slog.Logger
	store *store

	mu     sync.RWMutex // guards groups and closed
	groups map[string]*group
	closed bool

	stop chan struct{}
	done chan struct{}

	// pending reports offsets staged by open transactions (txn.go).
	pending atomic.Pointer[func(group, topic string, partition int32) bool]
}

// ErrClosed is returned by Close when the coordinator is already closed; group
// requests after Close are answered with COORDINATOR_NOT_AVAILABLE.
var ErrClosed = errors.New("group coordinator closed")

// Open loads every group and its committed offsets from cfg.Dir (recovering
// from a torn log tail) and starts the background retention loop. Loading
// completes before Open returns, so no request ever sees a half-loaded group.
func Open(cfg Config) (*Coordinator, error) {
	if cfg.Dir == "" {
		return nil, errors.New("group coordinator: Config.Dir is required")
	}
	if cfg.Partitions == nil {
		return nil, errors.New("group coordinator: Config.Partitions is required")
	}
	cfg.setDefaults()
	st, err := openStore(cfg.Dir, cfg.NoSync, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg:    cfg,
		log:    cfg.Logger,
		store:  st,
		groups: make(map[string]*group),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for name, dg := range st.snapshotState() {
		c.groups[name] = c.restoreGroup(name, dg)
	}
	c.log.Info("group coordinator loaded", "groups", len(c.groups), "dir", cfg.Dir)
	go c.retentionLoop()
	return c, nil
}

// Close stops the background work, answers every waiting JoinGroup and
// SyncGroup with COORDINATOR_NOT_AVAILABLE (clients find the coordinator again
// after a restart), and compacts the log into the snapshot.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	for _, g := range groups {
		g.mu.Lock()
		g.shutdown()
		g.mu.Unlock()
	}
	return c.store.close()
}

func (c *Coordinator) isClosed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.closed
}

// lookup returns the group named id, creating it (Empty) when create is set.
// It returns nil when the group does not exist and create is false, or when
// the coordinator is closed.
func (c *Coordinator) lookup(id string, create bool) *group {
	c.mu.RLock()
	g, closed := c.groups[id], c.closed
	c.mu.RUnlock()
	if closed {
		return nil
	}
	if g != nil || !create {
		return g
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if g = c.groups[id]; g == nil {
		g = newGroup(c, id)
		c.groups[id] = g
	}
	return g
}

// lockGroup returns the live group named id locked, or nil. A group removed
// from the map while we waited for its lock is treated as missing (or, with
// create, replaced by a new one).
func (c *Coordinator) lockGroup(id string, create bool) *group {
	for {
		g := c.lookup(id, create)
		if g == nil {
			return nil
		}
		g.mu.Lock()
		if !g.dead {
			return g
		}
		g.mu.Unlock()
	}
}

// removeGroup drops a dead group from the map. Called with g.mu held.
func (c *Coordinator) removeGroup(g *group) {
	g.dead = true
	g.state = StateDead
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

// sortedGroups returns the live groups sorted by id.
func (c *Coordinator) sortedGroups() []*group {
	c.mu.RLock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (c *Coordinator) retentionLoop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.cleanup()
			if c.store.logSize() > c.cfg.CompactBytes {
				if err := c.store.compact(); err != nil && !errors.Is(err, errStoreClosed) {
					c.log.Error("group log compaction failed", "err", err)
				}
			}
		}
	}
}

// cleanup expires offsets of empty groups past retention, drops offsets of
// deleted topics or partitions, and removes empty groups left with no offsets.
func (c *Coordinator) cleanup() {
	now := c.cfg.now()
	removed := 0
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		if !g.dead {
			removed += g.expireOffsets(now)
		}
		g.mu.Unlock()
	}
	if removed > 0 {
		c.log.Info("group offsets expired or dropped", "offsets", removed)
	}
}

// topicPartitionExists reports whether topic/partition exists in the log store.
func (c *Coordinator) topicPartitionExists(topic string, partition int32) (topicOK, partitionOK bool) {
	n, ok := c.cfg.Partitions(topic)
	if !ok {
		return false, false
	}
	return true, partition >= 0 && partition < n
}

// persist appends records and waits for them to be durable.
func (c *Coordinator) persist(recs ...record) error {
	seq, err := c.store.append(recs...)
	if err != nil {
		return err
	}
	return c.store.sync(seq)
}
