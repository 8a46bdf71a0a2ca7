package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
)

// Group is the consumer group of the inventory service.
const Group = "inventory"

var outcomeNames = map[Outcome]string{Applied: "applied", Duplicate: "duplicate", Ignored: "ignored", Rejected: "rejected",
	Unmatched: "unmatched"}

func newEventsCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "inventory_events_total",
		Help: "Consumed events by outcome (applied, duplicate, ignored, rejected, unmatched: a void of a sale never folded); a batch retried after a failure is counted again.",
	}, []string{"outcome"})
	reg.MustRegister(c)
	return c
}

// handle is the stream.BatchHandler of the live service: it folds a polled batch in the
// batch's transaction and emits through the transaction's outbox. A bad event is logged,
// counted and skipped; any other error rolls the batch back for a retry.
func (a *App) handle(ctx context.Context, tx *stream.Tx, evs []events.Event) error {
	n, err := a.folder.ApplyBatch(ctx, tx.Tx, tx, evs, func(err error) { a.log.Warn("skipping event", "err", err) })
	if err != nil {
		return err
	}
	for o, k := range n {
		a.events.WithLabelValues(outcomeNames[o]).Add(float64(k))
	}
	return nil
}

// checkOnly is the Emitter of the rebuild: events are validated as the live service would, and
// dropped (the rebuild compares views; it does not publish).
type checkOnly struct{}

func (checkOnly) EmitFor(_ context.Context, _ events.Event, _ int, o events.Out) (string, error) {
	value, err := o.Value()
	if err != nil {
		return "", err
	}
	if err := schemas.Validate(o.Type, value); err != nil {
		return "", fmt.Errorf("emit: %w", err)
	}
	return "", nil
}

// applyRecords folds records into the folder's tables in one transaction, treating each record
// as the live consumer does: a bad envelope or a bad event is skipped.
func applyRecords(ctx context.Context, pool *pgxpool.Pool, f *Folder, recs []*kgo.Record, log *slog.Logger) error {
	evs := make([]events.Event, 0, len(recs))
	for _, r := range recs {
		ev, err := events.Parse(r)
		if err != nil {
			log.Warn("skipping record with a bad envelope", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		evs = append(evs, ev)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := f.ApplyBatch(ctx, tx, checkOnly{}, evs, func(err error) { log.Warn("skipping event", "err", err) })
		return err
	})
	if err != nil {
		return fmt.Errorf("apply batch of %d records: %w", len(recs), err)
	}
	return nil
}
