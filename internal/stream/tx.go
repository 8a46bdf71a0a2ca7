package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
)

// Tx is the transaction of the batch being applied: use it (it is a pgx.Tx) for the state
// change, and Emit for the events that follow from the event being handled.
type Tx struct {
	pgx.Tx
	schemaName string
	source     string
	in         events.Event
	emitted    int
	notify     bool
	pending    [][]any // outbox rows (topic, key, headers, value) not yet written
}

// NotifyChannel is the Postgres NOTIFY channel on which the consumer announces new outbox rows
// of schema.
func NotifyChannel(schema string) string { return "freshmart_outbox_" + schema }

// Emit appends an event to the outbox, to be produced to o.Topic under o.Key once the
// transaction has committed. o.Payload must be valid against the schema of o.Type. The event's
// id is derived from the input record and the number of events emitted for it so far (o.ID is
// ignored), its source is the consumer's and its time the input event's, so replaying the
// input emits identical events. It returns the id. Use it from a Handler; a BatchHandler uses
// EmitFor.
func (tx *Tx) Emit(ctx context.Context, o events.Out) (string, error) {
	id, err := tx.EmitFor(ctx, tx.in, tx.emitted, o)
	if err == nil {
		tx.emitted++
	}
	return id, err
}

// EmitFor is Emit for an event caused by in, one of the events of the batch: its id is derived
// from in's position and slot, a number the caller picks so that the same input and slot always
// mean the same event (the caller keeps slots of one input distinct), and its time is in's
// time. The rows are written to the outbox, in emit order, when the batch commits.
func (tx *Tx) EmitFor(_ context.Context, in events.Event, slot int, o events.Out) (string, error) {
	value, err := o.Value()
	if err != nil {
		return "", fmt.Errorf("stream: emit: %w", err)
	}
	at := in.Time
	if at.IsZero() {
		at = time.Unix(0, 0).UTC()
	}
	env := events.Envelope{
		ID:     events.DerivedID(in.Topic, in.Partition, in.Offset, slot),
		Type:   o.Type,
		Source: tx.source,
		Time:   at,
	}
	return env.ID, tx.append(o.Topic, o.Key, env, value)
}

// append validates one event and queues its outbox row.
func (tx *Tx) append(topic, key string, env events.Envelope, value []byte) error {
	if err := events.Check(env, value); err != nil {
		return fmt.Errorf("stream: emit: %w", err)
	}
	headers := map[string]string{}
	for _, h := range env.Headers() {
		headers[h.Key] = string(h.Value)
	}
	hj, err := json.Marshal(headers)
	if err != nil {
		return fmt.Errorf("stream: outbox headers: %w", err)
	}
	tx.pending = append(tx.pending, []any{topic, []byte(key), hj, value})
	tx.notify = true
	return nil
}

// Input returns the event being handled (zero in a BatchHandler).
func (tx *Tx) Input() events.Event { return tx.in }

// flush writes the emitted events to the outbox in one COPY, in emit order (the identity ids
// follow it, and the relay produces by id).
func (tx *Tx) flush(ctx context.Context) error {
	if len(tx.pending) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tx.schemaName, "outbox"}, []string{"topic", "key", "headers", "value"},
		pgx.CopyFromRows(tx.pending)); err != nil {
		return fmt.Errorf("stream: append %d events to the outbox: %w", len(tx.pending), err)
	}
	tx.pending = nil
	return nil
}
