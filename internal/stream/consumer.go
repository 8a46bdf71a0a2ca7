package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
)

// Handler applies one consumed event inside the batch's transaction. It returns an error only
// when the state change could not be made (the whole batch is rolled back and retried); events
// it does not care about it ignores and returns nil. events.Mux[*stream.Tx].Dispatch is a
// Handler.
type Handler func(ctx context.Context, tx *Tx, ev events.Event) error

// BatchHandler applies all the events of one polled batch inside the batch's transaction, in
// the order given (partition by partition, by offset within a partition; records already
// applied and records with a bad envelope are left out). It lets a service fold a batch with
// set-based SQL instead of per-event round trips. Events it emits name their input with
// Tx.EmitFor. Errors are treated as for Handler.
type BatchHandler func(ctx context.Context, tx *Tx, evs []events.Event) error

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
	// Source is the ce_source of the events the handlers emit ("freshmart/inventory").
	// Required.
	Source string
	// Pool is the Postgres pool the transactions run on. Required.
	Pool *pgxpool.Pool
	// Handler applies each event. Exactly one of Handler and BatchHandler is required.
	Handler Handler
	// BatchHandler applies each batch (see BatchHandler).
	BatchHandler BatchHandler
	// TimerHandler fires the timers that the handlers set (Tx.SetTimer). Required when they
	// set any: without it SetTimer fails.
	TimerHandler TimerHandler
	// Clock is the time timers are due by. Default clock.Real(); tests use a clock.Manual.
	Clock clock.Clock
	// TimerPoll is how often, in real time, the timer loop reads the timers again when
	// nothing woke it (a timer due, a timer set by this consumer, an assignment). Default 30s.
	TimerPoll time.Duration
	// ClientID is the Kafka client id of the consumer's franz-go client. Default the group,
	// "-", the host name, "-" and the process id ("inventory-host-1234"). A kgo.ClientID in
	// ClientOpts overrides it.
	ClientID string
	// Log receives the consumer's logs. Default slog.Default().
	Log *slog.Logger
	// Registerer receives the metrics. Default prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	// MaxPollRecords bounds the records applied in one transaction. Default 1000.
	MaxPollRecords int
	// CommitInterval is how often the positions are also committed to the broker, in the
	// background (for lag tooling only: Postgres holds the truth). Default 1s.
	CommitInterval time.Duration
	// MinBackoff and MaxBackoff bound the pause before a new session after a failed one.
	// Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// ClientOpts are extra franz-go options (metrics hooks, logger, session timeout...).
	ClientOpts []kgo.Opt
}

// Consumer is the exactly-once group consumer described in the package documentation.
type Consumer struct {
	cfg       Config
	schema    string // sanitized identifier
	metrics   *consumerMetrics
	clock     clock.Clock
	timerWake chan struct{}
	// afterTimerCommit, when set (tests), runs after a timer's transaction has committed.
	afterTimerCommit func(Timer)

	mu        sync.Mutex
	assigned  map[string]map[int32]bool
	pos       map[string]map[int32]int64 // next offset per assigned partition
	committed map[string]map[int32]int64 // last position committed to the broker
	inGroup   bool
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
	case cfg.Source == "":
		return nil, errors.New("stream: no source")
	case cfg.Pool == nil:
		return nil, errors.New("stream: no pool")
	case (cfg.Handler == nil) == (cfg.BatchHandler == nil):
		return nil, errors.New("stream: want exactly one of Handler and BatchHandler")
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
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.TimerPoll <= 0 {
		cfg.TimerPoll = 30 * time.Second
	}
	if cfg.ClientID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		cfg.ClientID = fmt.Sprintf("%s-%s-%d", cfg.Group, host, os.Getpid())
	}
	cfg.Log = cfg.Log.With("group", cfg.Group)
	return &Consumer{
		cfg:       cfg,
		schema:    pgx.Identifier{cfg.Schema}.Sanitize(),
		metrics:   newConsumerMetrics(cfg.Registerer),
		clock:     cfg.Clock,
		timerWake: make(chan struct{}, 1),
		assigned:  map[string]map[int32]bool{},
		pos:       map[string]map[int32]int64{},
		committed: map[string]map[int32]int64{},
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
		kgo.ClientID(c.cfg.ClientID),
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
	commitCtx, stopCommits := context.WithCancel(ctx)
	commitsDone := make(chan struct{})
	go func() {
		defer close(commitsDone)
		c.commitLoop(commitCtx, cl)
	}()
	// The timer loop runs beside the poll loop; Postgres row locks keep it from interleaving
	// with a batch of the same partition.
	timerCtx, stopTimers := context.WithCancel(ctx)
	timersDone := make(chan struct{})
	go func() {
		defer close(timersDone)
		if c.cfg.TimerHandler != nil {
			c.timerLoop(timerCtx)
		}
	}()
	defer func() {
		stopTimers()
		<-timersDone
		stopCommits()
		<-commitsDone
		c.commitPositions(context.WithoutCancel(ctx), cl, 2*time.Second)
		cl.AllowRebalance()
		cl.Close() // leaves the group
		c.mu.Lock()
		all := c.assigned
		c.assigned, c.pos, c.inGroup = map[string]map[int32]bool{}, map[string]map[int32]int64{}, false
		c.committed = map[string]map[int32]int64{}
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
		c.updateLag(fs)
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
	// The timers of the new partitions (set by their previous owner) are ours to fire now.
	c.wakeTimers()
}

func (c *Consumer) revoke(m map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(c.assigned[t], p)
			delete(c.pos[t], p)
			delete(c.committed[t], p)
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
	locked := make(map[tp]bool, len(parts))
	for _, k := range parts {
		locked[k] = true
	}
	st := c.newTx(tx, locked)
	counts := map[string]map[string]float64{}
	count := func(topic, outcome string) {
		if counts[topic] == nil {
			counts[topic] = map[string]float64{}
		}
		counts[topic][outcome]++
	}
	stored, err := c.lockPositions(ctx, tx, parts)
	if err != nil {
		return err
	}
	next := map[tp]int64{}
	var batch []events.Event
	for _, k := range parts {
		next[k] = stored[k]
		for _, r := range byPart[k] {
			// A member that lost the partition without noticing waited for the position's row
			// lock above and now drops what the new owner already applied.
			if r.Offset < stored[k] {
				count(k.topic, "duplicate")
				continue
			}
			next[k] = r.Offset + 1
			ev, err := events.Parse(r)
			if err != nil {
				c.cfg.Log.Warn("skipping record with a bad envelope", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
				st.Skip(ev, events.SkipEnvelope)
				count(k.topic, "skipped")
				continue
			}
			count(k.topic, "applied")
			if c.cfg.BatchHandler != nil {
				batch = append(batch, ev)
				continue
			}
			st.in, st.emitted = ev, 0
			if err := c.cfg.Handler(ctx, st, ev); err != nil {
				return fmt.Errorf("stream: apply %s %s at %s/%d@%d: %w", ev.Type, ev.ID, r.Topic, r.Partition, r.Offset, err)
			}
		}
	}
	if c.cfg.BatchHandler != nil && len(batch) > 0 {
		st.in, st.emitted = events.Event{}, 0
		if err := c.cfg.BatchHandler(ctx, st, batch); err != nil {
			return fmt.Errorf("stream: apply batch of %d events: %w", len(batch), err)
		}
	}
	if err := st.flush(ctx); err != nil {
		return err
	}
	if err := c.storePositions(ctx, tx, parts, next); err != nil {
		return err
	}
	if st.notify {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel(c.cfg.Schema)); err != nil {
			return fmt.Errorf("stream: notify relay: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("stream: commit: %w", err)
	}
	st.committed()
	if st.setTimers {
		c.wakeTimers()
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

// lockPositions makes sure every partition of the batch has a position row, then locks the
// rows in (topic, partition) order, so two members cannot deadlock, and returns the stored
// positions. Two statements in one round trip, whatever the number of partitions.
func (c *Consumer) lockPositions(ctx context.Context, tx pgx.Tx, parts []tp) (map[tp]int64, error) {
	topics := make([]string, len(parts))
	partitions := make([]int32, len(parts))
	for i, k := range parts {
		topics[i], partitions[i] = k.topic, k.partition
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO `+c.schema+`.consumer_offsets (group_id, topic, partition, next_offset)
		SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS u(t, p)
		ORDER BY t, p ON CONFLICT DO NOTHING`, c.cfg.Group, topics, partitions)
	b.Queue(`SELECT topic, partition, next_offset FROM `+c.schema+`.consumer_offsets
		WHERE group_id = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
		ORDER BY topic, partition FOR UPDATE`, c.cfg.Group, topics, partitions)
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return nil, fmt.Errorf("stream: create positions: %w", err)
	}
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("stream: lock positions: %w", err)
	}
	stored := make(map[tp]int64, len(parts))
	for rows.Next() {
		var k tp
		var next int64
		if err := rows.Scan(&k.topic, &k.partition, &next); err != nil {
			rows.Close()
			return nil, fmt.Errorf("stream: lock positions: %w", err)
		}
		stored[k] = next
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stream: lock positions: %w", err)
	}
	if len(stored) != len(parts) {
		return nil, fmt.Errorf("stream: lock positions: found %d of %d rows", len(stored), len(parts))
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("stream: lock positions: %w", err)
	}
	return stored, nil
}

// storePositions writes the batch's new positions in one statement.
func (c *Consumer) storePositions(ctx context.Context, tx pgx.Tx, parts []tp, next map[tp]int64) error {
	topics := make([]string, len(parts))
	partitions := make([]int32, len(parts))
	offsets := make([]int64, len(parts))
	for i, k := range parts {
		topics[i], partitions[i], offsets[i] = k.topic, k.partition, next[k]
	}
	if _, err := tx.Exec(ctx, `UPDATE `+c.schema+`.consumer_offsets AS o SET next_offset = u.n
		FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
		WHERE o.group_id = $1 AND o.topic = u.t AND o.partition = u.p`, c.cfg.Group, topics, partitions, offsets); err != nil {
		return fmt.Errorf("stream: store positions: %w", err)
	}
	return nil
}

// updateLag sets the lag gauges from the fetched high watermarks and the applied positions.
func (c *Consumer) updateLag(fs kgo.Fetches) {
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		c.mu.Lock()
		pos, ok := c.pos[p.Topic][p.Partition]
		c.mu.Unlock()
		if ok && p.HighWatermark >= 0 {
			c.metrics.lag.WithLabelValues(c.cfg.Group, p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(0, p.HighWatermark-pos)))
		}
	})
}

// commitLoop commits the applied positions to the broker every CommitInterval until ctx ends,
// off the poll loop, so a slow commit never holds up consuming.
func (c *Consumer) commitLoop(ctx context.Context, cl *kgo.Client) {
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.commitPositions(ctx, cl, c.cfg.CommitInterval)
		}
	}
}

// commitPositions commits the positions of the assigned partitions that moved since the last
// commit. Failures (a rebalance in progress, the broker away) only delay lag visibility.
func (c *Consumer) commitPositions(ctx context.Context, cl *kgo.Client, timeout time.Duration) {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	c.mu.Lock()
	for t, ps := range c.pos {
		for p, n := range ps {
			if c.committed[t][p] == n {
				continue
			}
			if offsets[t] == nil {
				offsets[t] = map[int32]kgo.EpochOffset{}
			}
			offsets[t][p] = kgo.EpochOffset{Epoch: -1, Offset: n}
		}
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var failed error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					failed = kerr.ErrorForCode(p.ErrorCode)
					continue
				}
				if c.committed[t.Topic] == nil {
					c.committed[t.Topic] = map[int32]int64{}
				}
				c.committed[t.Topic][p.Partition] = offsets[t.Topic][p.Partition].Offset
			}
		}
	})
	if failed != nil && ctx.Err() == nil {
		c.cfg.Log.Debug("commit to broker (lag visibility only)", "err", failed)
	}
}
