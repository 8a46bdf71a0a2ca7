package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/internal/events"
)

// Tx is the transaction of the batch being applied: use it (it is a pgx.Tx) for the state
// change, and Emit for the events that follow from the event being handled.
type Tx struct {
	pgx.Tx
	schema  string
	in      events.Event
	emitted int
	notify  bool
}

// NotifyChannel is the Postgres NOTIFY channel on which the consumer announces new outbox rows
// of schema.
func NotifyChannel(schema string) string { return "freshmart_outbox_" + schema }

// Emit appends an event to the outbox, to be produced to topic under key once the transaction
// has committed. payload is JSON ([]byte or json.RawMessage) or a value to marshal; it must be
// valid against the schema of eventType. The event's id is derived from the input record and
// the number of events emitted for it so far, and its time is the input event's time, so
// replaying the input emits identical events. It returns the id.
func (tx *Tx) Emit(ctx context.Context, topic, key, eventType, source string, payload any) (string, error) {
	var value []byte
	switch v := payload.(type) {
	case []byte:
		value = v
	case json.RawMessage:
		value = v
	default:
		var err error
		if value, err = json.Marshal(v); err != nil {
			return "", fmt.Errorf("stream: emit %s: marshal: %w", eventType, err)
		}
	}
	at := tx.in.Time
	if at.IsZero() {
		at = time.Unix(0, 0).UTC()
	}
	env := events.Envelope{
		ID:     events.DerivedID(tx.in.Topic, tx.in.Partition, tx.in.Offset, tx.emitted),
		Type:   eventType,
		Source: source,
		Time:   at,
	}
	if err := events.Check(env, value); err != nil {
		return "", fmt.Errorf("stream: emit: %w", err)
	}
	if err := insertOutbox(ctx, tx.Tx, tx.schema, topic, key, env, value); err != nil {
		return "", err
	}
	tx.emitted++
	tx.notify = true
	return env.ID, nil
}

// Input returns the event being handled.
func (tx *Tx) Input() events.Event { return tx.in }

func insertOutbox(ctx context.Context, q pgx.Tx, schema, topic, key string, env events.Envelope, value []byte) error {
	headers := map[string]string{}
	for _, h := range env.Headers() {
		headers[h.Key] = string(h.Value)
	}
	hj, err := json.Marshal(headers)
	if err != nil {
		return fmt.Errorf("stream: outbox headers: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+schema+`.outbox (topic, key, headers, value) VALUES ($1, $2, $3, $4)`,
		topic, []byte(key), hj, value); err != nil {
		return fmt.Errorf("stream: append to %s.outbox: %w", schema, err)
	}
	return nil
}
