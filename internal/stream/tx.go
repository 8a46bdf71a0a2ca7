package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
)

// Tx is the transaction of the batch (or of the timer) being applied: use it (it is a pgx.Tx)
// for the state change, Emit for the events that follow from the event being handled, and
// SetTimer for work at a later time.
type Tx struct {
	pgx.Tx
	c          *Consumer
	schemaName string
	source     string
	in         events.Event
	emitted    int
	notify     bool
	pending    [][]any              // outbox rows (topic, key, headers, value) not yet written
	locked     map[tp]bool          // partitions whose position rows the transaction holds
	firing     *Timer               // the timer being fired, in a TimerHandler
	timers     map[timerRef]timerOp // timers set or cancelled, written by flush
	setTimers  bool                 // a timer was set: wake the timer loop after the commit
	skips      map[skipKey]float64
}

type skipKey struct{ topic, typ, reason string }

// newTx wraps tx, which holds the position rows of locked.
func (c *Consumer) newTx(tx pgx.Tx, locked map[tp]bool) *Tx {
	return &Tx{Tx: tx, c: c, schemaName: c.cfg.Schema, source: c.cfg.Source, locked: locked}
}

// NotifyChannel is the Postgres NOTIFY channel on which the consumer announces new outbox rows
// of schema.
func NotifyChannel(schema string) string { return "freshmart_outbox_" + schema }

// Emit appends an event to the outbox, to be produced to o.Topic under o.Key once the
// transaction has committed. o.Payload must be valid against the schema of o.Type. The event's
// id is derived from the input record and the number of events emitted for it so far (o.ID is
// ignored), its source is the consumer's and its time the input event's, so replaying the
// input emits identical events. It returns the id. Use it from a Handler or a TimerHandler; a
// BatchHandler uses EmitFor.
//
// In a TimerHandler the id is TimerEventID of the timer (group, topic, partition, key, At)
// and the number of events emitted for it so far, and the time is the timer's At: firing the
// same timer again (after a rollback, or in a rebuild) emits identical events.
func (tx *Tx) Emit(ctx context.Context, o events.Out) (string, error) {
	if t := tx.firing; t != nil {
		id, err := tx.emit(o, TimerEventID(tx.c.cfg.Group, t.Topic, t.Partition, t.Key, t.At, tx.emitted), t.At)
		if err == nil {
			tx.emitted++
		}
		return id, err
	}
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
	return tx.emit(o, events.DerivedID(in.Topic, in.Partition, in.Offset, slot), in.Time)
}

// emit queues o's outbox row with the given id and time.
func (tx *Tx) emit(o events.Out, id string, at time.Time) (string, error) {
	value, err := o.Value()
	if err != nil {
		return "", fmt.Errorf("stream: emit: %w", err)
	}
	if at.IsZero() {
		at = time.Unix(0, 0).UTC()
	}
	env := events.Envelope{ID: id, Type: o.Type, Source: tx.source, Time: at}
	return env.ID, tx.append(o.Topic, o.Key, env, value)
}

// append validates one event and queues its outbox row.
func (tx *Tx) append(topic, key string, env events.Envelope, value []byte) error {
	row, err := outboxRow(topic, key, env, value)
	if err != nil {
		return err
	}
	tx.pending = append(tx.pending, row)
	tx.notify = true
	return nil
}

// outboxRow validates one event and returns its outbox row (topic, key, headers, value).
func outboxRow(topic, key string, env events.Envelope, value []byte) ([]any, error) {
	if err := events.Check(env, value); err != nil {
		return nil, fmt.Errorf("stream: emit: %w", err)
	}
	headers := map[string]string{}
	for _, h := range env.Headers() {
		headers[h.Key] = string(h.Value)
	}
	hj, err := json.Marshal(headers)
	if err != nil {
		return nil, fmt.Errorf("stream: outbox headers: %w", err)
	}
	return []any{topic, []byte(key), hj, value}, nil
}

// Input returns the event being handled (zero in a BatchHandler and in a TimerHandler).
func (tx *Tx) Input() events.Event { return tx.in }

// Skip counts ev as skipped for reason (events.SkipUnknownType, events.SkipPayload, ...) in
// freshmart_events_skipped_total{group,topic,type,reason} on the consumer's Registerer, once
// the transaction commits (a batch that is rolled back and retried counts its skips once).
// *Tx is an events.Skipper, so an events.Mux[*Tx] reports its skips here by itself.
func (tx *Tx) Skip(ev events.Event, reason string) {
	if tx.skips == nil {
		tx.skips = map[skipKey]float64{}
	}
	tx.skips[skipKey{ev.Topic, ev.Type, reason}]++
}

// flush writes the emitted events to the outbox in one COPY, in emit order (the identity ids
// follow it, and the relay produces by id), and the timers set and cancelled.
func (tx *Tx) flush(ctx context.Context) error {
	if len(tx.pending) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{tx.schemaName, "outbox"}, []string{"topic", "key", "headers", "value"},
			pgx.CopyFromRows(tx.pending)); err != nil {
			return fmt.Errorf("stream: append %d events to the outbox: %w", len(tx.pending), err)
		}
		tx.pending = nil
	}
	return tx.flushTimers(ctx)
}

// committed accounts for what the committed transaction did: its skips.
func (tx *Tx) committed() {
	for k, n := range tx.skips {
		tx.c.metrics.skipped.WithLabelValues(tx.c.cfg.Group, k.topic, k.typ, k.reason).Add(n)
	}
}
