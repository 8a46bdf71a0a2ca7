package stream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Schema is the Postgres schema whose outbox is relayed. Required.
	Schema string
	// Pool is the Postgres pool. Required.
	Pool *pgxpool.Pool
	// Client produces the events; it must use acks=all and idempotence (the franz-go
	// defaults, and what events.NewProducer sets up). Required. A pass is produced, then
	// flushed, so on a client that lingers (kgo.ProducerLinger; the kit's relay client does)
	// it leaves as one request rather than in parts.
	Client *kgo.Client
	// Log receives the relay's logs. Default slog.Default().
	Log *slog.Logger
	// Registerer receives the metrics. Default prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	// Batch is the most rows produced per pass. Default 5000: one pass carries what a large
	// transaction wrote (a promotion on 500 SKUs in 6 stores is 3,000 events), so a consumer
	// sees it arrive at once rather than in parts a pass apart.
	Batch int
	// Interval is the longest wait between passes when no NOTIFY arrives. Default 1s.
	Interval time.Duration
	// Retain is how long sent rows are kept before they are deleted. Default 24h.
	Retain time.Duration
}

// Relay produces the rows of an outbox to the broker; see the package documentation.
type Relay struct {
	cfg     RelayConfig
	schema  string
	metrics *relayMetrics
	// afterProduce, when set (tests), runs after producing and before marking rows sent.
	afterProduce func() error
}

// NewRelay checks cfg and returns a Relay; Run starts it.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	switch {
	case !identRe.MatchString(cfg.Schema):
		return nil, fmt.Errorf("stream: relay: schema %q is not a lower-case SQL identifier", cfg.Schema)
	case cfg.Pool == nil:
		return nil, errors.New("stream: relay: no pool")
	case cfg.Client == nil:
		return nil, errors.New("stream: relay: no client")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.DefaultRegisterer
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 5000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Retain <= 0 {
		cfg.Retain = 24 * time.Hour
	}
	cfg.Log = cfg.Log.With("outbox", cfg.Schema)
	return &Relay{cfg: cfg, schema: pgx.Identifier{cfg.Schema}.Sanitize(), metrics: newRelayMetrics(cfg.Registerer)}, nil
}

// Run relays until ctx ends, then returns nil. Failures (broker or Postgres unreachable) are
// logged and retried with a back-off; rows stay in the outbox until produced.
func (r *Relay) Run(ctx context.Context) error {
	backoff := r.cfg.Interval
	lastPrune := time.Time{}
	for ctx.Err() == nil {
		err := r.listen(ctx, &lastPrune)
		if ctx.Err() != nil {
			return nil
		}
		r.cfg.Log.Warn("outbox relay failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

// listen holds a connection that LISTENs for the consumer's NOTIFY and drains the outbox
// whenever one arrives or Interval passes.
func (r *Relay) listen(ctx context.Context, lastPrune *time.Time) error {
	conn, err := r.cfg.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("stream: relay: acquire: %w", err)
	}
	defer func() {
		// The connection is LISTENing: close it rather than return it to the pool.
		conn.Hijack().Close(context.WithoutCancel(ctx)) //nolint:errcheck
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel(r.cfg.Schema)}.Sanitize()); err != nil {
		return fmt.Errorf("stream: relay: listen: %w", err)
	}
	for {
		for {
			n, err := r.Once(ctx)
			if err != nil {
				return err
			}
			if n < r.cfg.Batch {
				break
			}
		}
		if time.Since(*lastPrune) > time.Minute {
			if err := r.prune(ctx); err != nil {
				return err
			}
			*lastPrune = time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, r.cfg.Interval)
		_, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("stream: relay: wait for notification: %w", err)
		}
	}
}

// Once produces up to Batch unsent rows, oldest first, and marks them sent. It returns how
// many rows it produced. One relay per outbox works at a time (a transaction-scoped advisory
// lock), so events leave in outbox order; the others find nothing to do and return 0.
func (r *Relay) Once(ctx context.Context) (int, error) {
	tx, err := r.cfg.Pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream: relay: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	var mine bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, "freshmart_outbox_relay_"+r.cfg.Schema).Scan(&mine); err != nil {
		return 0, fmt.Errorf("stream: relay: lock: %w", err)
	}
	if !mine {
		return 0, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, topic, key, headers, value FROM `+r.schema+`.outbox
		WHERE sent_at IS NULL ORDER BY id LIMIT $1`, r.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("stream: relay: read outbox: %w", err)
	}
	var ids []int64
	var recs []*kgo.Record
	for rows.Next() {
		var id int64
		var topic string
		var key, headers, value []byte
		if err := rows.Scan(&id, &topic, &key, &headers, &value); err != nil {
			rows.Close()
			return 0, fmt.Errorf("stream: relay: read outbox: %w", err)
		}
		var hm map[string]string
		if err := json.Unmarshal(headers, &hm); err != nil {
			rows.Close()
			return 0, fmt.Errorf("stream: relay: outbox row %d: headers: %w", id, err)
		}
		rec := &kgo.Record{Topic: topic, Key: key, Value: value}
		for _, name := range headerOrder(hm) {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: name, Value: []byte(hm[name])})
		}
		ids = append(ids, id)
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("stream: relay: read outbox: %w", err)
	}
	if len(recs) == 0 {
		r.metrics.pending.WithLabelValues(r.cfg.Schema).Set(0)
		return 0, nil
	}
	if err := producePass(ctx, r.cfg.Client, recs); err != nil {
		return 0, fmt.Errorf("stream: relay: produce %d events: %w", len(recs), err)
	}
	r.metrics.sent.WithLabelValues(r.cfg.Schema).Add(float64(len(recs)))
	if r.afterProduce != nil {
		if err := r.afterProduce(); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+r.schema+`.outbox SET sent_at = now() WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("stream: relay: mark sent: %w", err)
	}
	var pending int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+r.schema+`.outbox WHERE sent_at IS NULL`).Scan(&pending); err == nil {
		r.metrics.pending.WithLabelValues(r.cfg.Schema).Set(float64(pending))
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("stream: relay: commit: %w", err)
	}
	return len(recs), nil
}

// producePass produces a pass's records and waits for them all: buffered first, then flushed,
// so that on a lingering client (the kit's relay client) they leave in one request per broker
// rather than the first few alone and the rest after the broker's answer, and a consumer
// sees the pass (one promotion's 3,000 events) arrive at once.
func producePass(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	wg.Add(len(recs))
	for _, rec := range recs {
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	if err := cl.Flush(ctx); err != nil {
		wg.Wait() // the records end with ctx's error too
		return err
	}
	wg.Wait()
	return first
}

func (r *Relay) prune(ctx context.Context) error {
	if _, err := r.cfg.Pool.Exec(ctx, `DELETE FROM `+r.schema+`.outbox WHERE sent_at < now() - $1::interval`,
		fmt.Sprintf("%d seconds", int64(r.cfg.Retain.Seconds()))); err != nil {
		return fmt.Errorf("stream: relay: prune: %w", err)
	}
	return nil
}

// headerOrder lists the CloudEvents headers first, in their usual order, then the rest sorted.
func headerOrder(h map[string]string) []string {
	known := []string{"ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type"}
	out := make([]string, 0, len(h))
	for _, k := range known {
		if _, ok := h[k]; ok {
			out = append(out, k)
		}
	}
	var rest []string
	for k := range h {
		if !slices.Contains(known, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
