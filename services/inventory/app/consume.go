package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Group is the consumer group of the inventory service.
const Group = "inventory"

// consumer is the exactly-once loop: a group consumer whose positions live in Postgres next to
// the stock they produced. On assignment it starts each partition at the offset stored in
// Postgres; each polled batch is applied, and its offsets saved, in one transaction; the broker
// commit that follows only serves lag tooling.
type consumer struct {
	pool    *pgxpool.Pool
	folder  *Folder
	log     *slog.Logger
	opts    []kgo.Opt
	metrics *metrics

	assigned atomic.Int32 // partitions currently assigned
}

type metrics struct {
	events *prometheus.CounterVec // by outcome
	lag    *prometheus.GaugeVec   // by topic, partition
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inventory_events_total", Help: "Consumed events by outcome (applied, duplicate, ignored, rejected).",
		}, []string{"outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "inventory_consumer_lag", Help: "Records between the high watermark and the next offset to consume, per partition.",
		}, []string{"topic", "partition"}),
	}
	reg.MustRegister(m.events, m.lag)
	return m
}

var outcomeNames = map[Outcome]string{Applied: "applied", Duplicate: "duplicate", Ignored: "ignored", Rejected: "rejected"}

// run consumes until ctx ends. A failed batch (Postgres down, ...) drops the client and starts a
// new one after a pause: the new session resumes from the offsets in Postgres, so nothing is
// applied twice or skipped.
func (c *consumer) run(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.log.Error("consumer session failed; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
	return nil
}

func (c *consumer) session(ctx context.Context) error {
	c.assigned.Store(0)
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(Group),
		kgo.ConsumeTopics(TopicSales, TopicDeliveries, TopicUpdates),
		kgo.DisableAutoCommit(),
		// A killed instance's partitions move to the others after this long.
		kgo.SessionTimeout(10 * time.Second),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(c.adjustOffsets),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.count("assigned", m, 1) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.count("revoked", m, -1) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { c.count("lost", m, -1) }),
	}, c.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("consumer client: %w", err)
	}
	defer cl.Close()
	for {
		fetches := cl.PollRecords(ctx, 2000)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			c.log.Warn("fetch error", "err", ferr)
		}
		if fetches.NumRecords() > 0 {
			if err := c.applyBatch(ctx, fetches); err != nil {
				cl.AllowRebalance()
				return err
			}
			// Informational only: the positions that count are in Postgres.
			cl.CommitUncommittedOffsets(ctx)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				lag := p.HighWatermark - (p.Records[n-1].Offset + 1)
				c.metrics.lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(lag))
			}
		})
		cl.AllowRebalance()
	}
}

func (c *consumer) count(what string, m map[string][]int32, sign int32) {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	c.assigned.Add(sign * int32(n))
	c.log.Info("partitions "+what, "partitions", m, "now", c.assigned.Load())
}

// adjustOffsets replaces the broker's committed offsets with the ones stored in Postgres.
func (c *consumer) adjustOffsets(ctx context.Context, in map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	stored, err := Offsets(ctx, c.pool, "inventory", Group)
	if err != nil {
		return nil, err
	}
	for t, ps := range in {
		for p := range ps {
			if o, ok := stored[t][p]; ok {
				ps[p] = kgo.NewOffset().At(o)
			} else {
				ps[p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return in, nil
}

func (c *consumer) applyBatch(ctx context.Context, fetches kgo.Fetches) error {
	counts, err := applyRecords(ctx, c.pool, c.folder, Group, fetches.Records(), c.log)
	if err != nil {
		return err
	}
	for o, n := range counts {
		c.metrics.events.WithLabelValues(outcomeNames[o]).Add(float64(n))
	}
	return nil
}

// applyRecords folds records into the folder's tables and saves the group's next offsets, all in
// one transaction. A record the folder rejects is skipped and counted; any other error aborts the whole batch.
func applyRecords(ctx context.Context, pool *pgxpool.Pool, f *Folder, group string, recs []*kgo.Record, log *slog.Logger) (map[Outcome]int, error) {
	counts := map[Outcome]int{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		clear(counts)
		next := map[string]map[int32]int64{}
		for _, r := range recs {
			rec := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value}
			for _, h := range r.Headers {
				if h.Key == "ce_type" {
					rec.Type = string(h.Value)
				}
			}
			// Apply rejects a bad event before writing anything, so skipping it leaves no trace.
			out, err := f.Apply(ctx, tx, rec)
			if errors.Is(err, ErrBadEvent) {
				log.Warn("skipping event", "err", err)
			} else if err != nil {
				return err
			}
			counts[out]++
			if next[r.Topic] == nil {
				next[r.Topic] = map[int32]int64{}
			}
			next[r.Topic][r.Partition] = r.Offset + 1
		}
		return f.SaveOffsets(ctx, tx, group, next)
	})
	if err != nil {
		return nil, fmt.Errorf("apply batch of %d records: %w", len(recs), err)
	}
	return counts, nil
}
