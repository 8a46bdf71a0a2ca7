package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/services/internal/events"
)

// Handler applies one consumed event inside the batch's transaction. It returns an error only
// when the state change could not be made (the whole batch is rolled back and retried); events
// it does not care about it ignores and returns nil. events.Mux[*stream.Tx].Dispatch is a
// Handler.
type Handler func(ctx context.Context, tx *Tx, ev events.Event) error

// Config configures a Consumer.
type Config struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Group is the consumer group id (one per service). Required.
	Group string
	// Topics are the topics consumed. Required.
	Topics []string
	// Schema is the Postgres schema holding consumer_offsets and outbox. Required.
	Schema string
	// Pool is the Postgres pool the transactions run on. Required.
	Pool *pgxpool.Pool
	// Handler applies each event. Required.
	Handler Handler
	// Log receives the consumer's logs. Default slog.Default().
	Log *slog.Logger
	// Registerer receives the metrics. Default prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	// MaxPollRecords bounds the records applied in one transaction. Default 1000.
	MaxPollRecords int
	// MinBackoff and MaxBackoff bound the pause before a new session after a failed one.
	// Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// ClientOpts are extra franz-go options (metrics hooks, logger, session timeout...).
	ClientOpts []kgo.Opt
}

// Consumer is the exactly-once group consumer described in the package documentation.
type Consumer struct {
	cfg     Config
	schema  string // sanitized identifier
	metrics *consumerMetrics

	mu       sync.Mutex
	assigned map[string]map[int32]bool
	pos      map[string]map[int32]int64 // next offset per assigned partition
	inGroup  bool
}

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New checks cfg and returns a Consumer; Run starts it.
func New(cfg Config) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("stream: no brokers")
	case cfg.Group == "":
		return nil, errors.New("stream: no group")
	case len(cfg.Topics) == 0:
		return nil, errors.New("stream: no topics")
	case !identRe.MatchString(cfg.Schema):
		return nil, fmt.Errorf("stream: schema %q is not a lower-case SQL identifier", cfg.Schema)
	case cfg.Pool == nil:
		return nil, errors.New("stream: no pool")
	case cfg.Handler == nil:
		return nil, errors.New("stream: no handler")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.DefaultRegisterer
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 1000
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	cfg.Log = cfg.Log.With("group", cfg.Group)
	return &Consumer{
		cfg:      cfg,
		schema:   pgx.Identifier{cfg.Schema}.Sanitize(),
		metrics:  newConsumerMetrics(cfg.Registerer),
		assigned: map[string]map[int32]bool{},
		pos:      map[string]map[int32]int64{},
	}, nil
}

// Run consumes until ctx ends, then leaves the group and returns nil. A failed session is
// logged and followed by a new one after a back-off.
func (c *Consumer) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for {
		start := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = c.cfg.MinBackoff
		}
		c.cfg.Log.Warn("consumer session ended; starting a new one", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// Ready reports whether the consumer is in a group session that has received its assignment
// (possibly empty, when there are more members than partitions).
func (c *Consumer) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inGroup
}

// Assigned returns the partitions currently assigned to this consumer, by topic, sorted.
func (c *Consumer) Assigned() map[string][]int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]int32{}
	for t, ps := range c.assigned {
		if len(ps) > 0 {
			out[t] = slices.Sorted(maps.Keys(ps))
		}
	}
	return out
}

func (c *Consumer) session(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(c.adjustOffsets),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.assign(m) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.revoke(m) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.revoke(m) }),
	}, c.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("stream: new client: %w", err)
	}
	defer func() {
		cl.AllowRebalance()
		cl.Close() // leaves the group
		c.mu.Lock()
		all := c.assigned
		c.assigned, c.pos, c.inGroup = map[string]map[int32]bool{}, map[string]map[int32]int64{}, false
		c.mu.Unlock()
		for t, ps := range all {
			for p := range ps {
				c.metrics.lag.DeleteLabelValues(c.cfg.Group, t, strconv.Itoa(int(p)))
			}
		}
	}()
	for {
		fs := cl.PollRecords(ctx, c.cfg.MaxPollRecords)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fs.IsClientClosed() {
			return errors.New("stream: client closed")
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.cfg.Log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			fetchErr = err
		})
		if err := c.apply(ctx, fs); err != nil {
			return err
		}
		c.commitToBroker(ctx, cl, fs)
		cl.AllowRebalance()
		if fetchErr != nil && fs.NumRecords() == 0 {
			// Do not spin on a persistent error (a topic that does not exist yet, ...).
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.cfg.MinBackoff):
			}
		}
	}
}

// adjustOffsets starts every assigned partition at the position stored in Postgres.
func (c *Consumer) adjustOffsets(ctx context.Context, in map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	topics := slices.Collect(maps.Keys(in))
	rows, err := c.cfg.Pool.Query(ctx, `SELECT topic, partition, next_offset FROM `+c.schema+`.consumer_offsets
		WHERE group_id = $1 AND topic = ANY($2)`, c.cfg.Group, topics)
	if err != nil {
		c.cfg.Log.Error("read stored offsets", "err", err)
		return nil, fmt.Errorf("stream: read offsets: %w", err)
	}
	stored := map[string]map[int32]int64{}
	for rows.Next() {
		var t string
		var p int32
		var next int64
		if err := rows.Scan(&t, &p, &next); err != nil {
			rows.Close()
			return nil, fmt.Errorf("stream: read offsets: %w", err)
		}
		if stored[t] == nil {
			stored[t] = map[int32]int64{}
		}
		stored[t][p] = next
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stream: read offsets: %w", err)
	}
	out := make(map[string]map[int32]kgo.Offset, len(in))
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range in {
		out[t] = make(map[int32]kgo.Offset, len(ps))
		if c.pos[t] == nil {
			c.pos[t] = map[int32]int64{}
		}
		for p := range ps {
			next, ok := stored[t][p]
			if !ok {
				out[t][p] = kgo.NewOffset().AtStart()
				next = 0
			} else {
				out[t][p] = kgo.NewOffset().At(next).WithEpoch(-1)
			}
			c.pos[t][p] = next
		}
	}
	c.cfg.Log.Info("partitions start at stored offsets", "offsets", stored)
	return out, nil
}

func (c *Consumer) assign(m map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range m {
		if c.assigned[t] == nil {
			c.assigned[t] = map[int32]bool{}
		}
		for _, p := range ps {
			c.assigned[t][p] = true
		}
	}
	c.inGroup = true
	c.cfg.Log.Info("partitions assigned", "partitions", m)
}

func (c *Consumer) revoke(m map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(c.assigned[t], p)
			delete(c.pos[t], p)
			c.metrics.lag.DeleteLabelValues(c.cfg.Group, t, strconv.Itoa(int(p)))
		}
	}
	c.cfg.Log.Info("partitions revoked", "partitions", m)
}

type tp struct {
	topic     string
	partition int32
}

// apply runs one polled batch in one transaction.
func (c *Consumer) apply(ctx context.Context, fs kgo.Fetches) error {
	byPart := map[tp][]*kgo.Record{}
	fs.EachRecord(func(r *kgo.Record) {
		k := tp{r.Topic, r.Partition}
		byPart[k] = append(byPart[k], r)
	})
	if len(byPart) == 0 {
		return nil
	}
	parts := slices.SortedFunc(maps.Keys(byPart), func(a, b tp) int {
		if a.topic != b.topic {
			if a.topic < b.topic {
				return -1
			}
			return 1
		}
		return int(a.partition - b.partition)
	})
	tx, err := c.cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("stream: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	st := &Tx{Tx: tx, schema: c.schema}
	counts := map[string]map[string]float64{}
	count := func(topic, outcome string) {
		if counts[topic] == nil {
			counts[topic] = map[string]float64{}
		}
		counts[topic][outcome]++
	}
	next := map[tp]int64{}
	for _, k := range parts {
		// Lock the partition's position: a member that lost the partition without noticing
		// waits here and then drops what the new owner already applied.
		if _, err := tx.Exec(ctx, `INSERT INTO `+c.schema+`.consumer_offsets (group_id, topic, partition, next_offset)
			VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`, c.cfg.Group, k.topic, k.partition); err != nil {
			return fmt.Errorf("stream: lock offset %s/%d: %w", k.topic, k.partition, err)
		}
		var stored int64
		if err := tx.QueryRow(ctx, `SELECT next_offset FROM `+c.schema+`.consumer_offsets
			WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`, c.cfg.Group, k.topic, k.partition).Scan(&stored); err != nil {
			return fmt.Errorf("stream: lock offset %s/%d: %w", k.topic, k.partition, err)
		}
		next[k] = stored
		for _, r := range byPart[k] {
			if r.Offset < stored {
				count(k.topic, "duplicate")
				continue
			}
			next[k] = r.Offset + 1
			ev, err := events.Parse(r)
			if err != nil {
				c.cfg.Log.Warn("skipping record with a bad envelope", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
				events.Skipped.WithLabelValues(r.Topic, ev.Type, "envelope").Inc()
				count(k.topic, "skipped")
				continue
			}
			st.in, st.emitted = ev, 0
			if err := c.cfg.Handler(ctx, st, ev); err != nil {
				return fmt.Errorf("stream: apply %s %s at %s/%d@%d: %w", ev.Type, ev.ID, r.Topic, r.Partition, r.Offset, err)
			}
			count(k.topic, "applied")
		}
		if _, err := tx.Exec(ctx, `UPDATE `+c.schema+`.consumer_offsets SET next_offset = $4
			WHERE group_id = $1 AND topic = $2 AND partition = $3`, c.cfg.Group, k.topic, k.partition, next[k]); err != nil {
			return fmt.Errorf("stream: store offset %s/%d: %w", k.topic, k.partition, err)
		}
	}
	if st.notify {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel(c.cfg.Schema)); err != nil {
			return fmt.Errorf("stream: notify relay: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("stream: commit: %w", err)
	}
	for topic, m := range counts {
		for outcome, n := range m {
			c.metrics.records.WithLabelValues(c.cfg.Group, topic, outcome).Add(n)
		}
	}
	c.mu.Lock()
	for k, n := range next {
		if c.pos[k.topic] != nil {
			c.pos[k.topic][k.partition] = n
		}
	}
	c.mu.Unlock()
	return nil
}

// commitToBroker commits the batch's positions to the group (for lag tooling; Postgres is the
// source of truth) and updates the lag gauges from the fetched high watermarks.
func (c *Consumer) commitToBroker(ctx context.Context, cl *kgo.Client, fs kgo.Fetches) {
	var last []*kgo.Record
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 {
			last = append(last, p.Records[n-1])
		}
		c.mu.Lock()
		pos, ok := c.pos[p.Topic][p.Partition]
		c.mu.Unlock()
		if ok && p.HighWatermark >= 0 {
			c.metrics.lag.WithLabelValues(c.cfg.Group, p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(0, p.HighWatermark-pos)))
		}
	})
	if len(last) == 0 {
		return
	}
	if err := cl.CommitRecords(ctx, last...); err != nil && ctx.Err() == nil {
		c.cfg.Log.Debug("commit to broker (lag visibility only)", "err", err)
	}
}
