package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
)

// Outbox collects events to append to a schema's outbox from a transaction that is not a
// consumer's: an API request that changes state and must announce it, or a clock job. The
// caller picks each event's id (derived from its business ids, so doing the same work again
// yields the same ids) and time. Flush writes them in one COPY, in the order they were added,
// and NOTIFYs the schema's relay; they leave when the caller's transaction commits, exactly
// like events a Handler emits. An Outbox is not safe for concurrent use.
type Outbox struct {
	schema, source string
	rows           [][]any
}

// NewOutbox returns an empty Outbox for schema's outbox table, stamping events with source
// ("freshmart/<service>").
func NewOutbox(schema, source string) *Outbox { return &Outbox{schema: schema, source: source} }

// Add validates o against its schema and queues it with the given id and time (o.ID is
// ignored).
func (ob *Outbox) Add(o events.Out, id string, at time.Time) error {
	value, err := o.Value()
	if err != nil {
		return fmt.Errorf("stream: outbox: %w", err)
	}
	row, err := outboxRow(o.Topic, o.Key, events.Envelope{ID: id, Type: o.Type, Source: ob.source, Time: at}, value)
	if err != nil {
		return err
	}
	ob.rows = append(ob.rows, row)
	return nil
}

// Len returns how many events are queued.
func (ob *Outbox) Len() int { return len(ob.rows) }

// Flush appends the queued events to the outbox in tx and notifies the relay (once tx
// commits); the Outbox is then empty. It does nothing when none is queued.
func (ob *Outbox) Flush(ctx context.Context, tx pgx.Tx) error {
	if len(ob.rows) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{ob.schema, "outbox"}, []string{"topic", "key", "headers", "value"},
		pgx.CopyFromRows(ob.rows)); err != nil {
		return fmt.Errorf("stream: append %d events to the outbox: %w", len(ob.rows), err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel(ob.schema)); err != nil {
		return fmt.Errorf("stream: outbox: notify relay: %w", err)
	}
	ob.rows = nil
	return nil
}
