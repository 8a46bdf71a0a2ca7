package events

import (
	"context"
	"encoding/json"
	"fmt"
)

// Reasons a consumed record is skipped rather than handled, as reported to a Skipper or an
// OnSkip callback (and as the reason label of freshmart_events_skipped_total in
// internal/stream).
const (
	// SkipUnknownType: no handler is registered for the record's event type.
	SkipUnknownType = "unknown_type"
	// SkipEnvelope: the record's CloudEvents envelope is missing or malformed.
	SkipEnvelope = "envelope"
	// SkipPayload: the payload does not decode into the handler's type.
	SkipPayload = "payload"
)

// Skipper is implemented by handler contexts that account for skipped records: a Mux whose C
// is a Skipper reports every record it skips to C's Skip (unless OnSkip replaces that).
// *stream.Tx is one: it counts the record in freshmart_events_skipped_total on the
// consumer's registry.
type Skipper interface {
	Skip(ev Event, reason string)
}

// Decode unmarshals the payload of ev into a T. Unknown fields are ignored, so readers keep
// working when producers add fields.
func Decode[T any](ev Event) (T, error) {
	var v T
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		return v, fmt.Errorf("events: decode %s %s at %s/%d@%d: %w", ev.Type, ev.ID, ev.Topic, ev.Partition, ev.Offset, err)
	}
	return v, nil
}

// Mux routes events to typed handlers by event type. C is whatever the handlers need besides
// the event (for example the database transaction of the batch being applied). Events of types
// without a handler, and payloads that do not decode, are skipped and reported: to the OnSkip
// callback when one is set, otherwise to C's Skip method when C is a Skipper. A Mux is
// configured before use and then safe for concurrent use.
type Mux[C any] struct {
	handlers map[string]func(context.Context, C, Event) error
	onSkip   func(ctx context.Context, c C, ev Event, reason string)
}

// NewMux returns an empty Mux.
func NewMux[C any]() *Mux[C] {
	return &Mux[C]{handlers: map[string]func(context.Context, C, Event) error{}}
}

// On registers fn for eventType, decoding the payload into a T first. Payloads that do not
// decode are skipped and reported (reason SkipPayload) rather than failing the batch, so one bad
// record cannot stall a partition.
func On[T any, C any](m *Mux[C], eventType string, fn func(ctx context.Context, c C, ev Event, payload T) error) {
	m.handlers[eventType] = func(ctx context.Context, c C, ev Event) error {
		v, err := Decode[T](ev)
		if err != nil {
			m.skip(ctx, c, ev, SkipPayload)
			return nil
		}
		return fn(ctx, c, ev, v)
	}
}

// Handles reports whether eventType has a handler.
func (m *Mux[C]) Handles(eventType string) bool {
	_, ok := m.handlers[eventType]
	return ok
}

// OnSkip sets the function told about every skipped event (reason SkipUnknownType or
// SkipPayload), in place of C's Skip method.
func (m *Mux[C]) OnSkip(fn func(ctx context.Context, c C, ev Event, reason string)) {
	m.onSkip = fn
}

// Dispatch calls the handler of ev.Type. It returns nil without calling anything, reporting
// the event as skipped (SkipUnknownType), when no handler is registered; otherwise the
// handler's error.
func (m *Mux[C]) Dispatch(ctx context.Context, c C, ev Event) error {
	h, ok := m.handlers[ev.Type]
	if !ok {
		m.skip(ctx, c, ev, SkipUnknownType)
		return nil
	}
	return h(ctx, c, ev)
}

func (m *Mux[C]) skip(ctx context.Context, c C, ev Event, reason string) {
	if m.onSkip != nil {
		m.onSkip(ctx, c, ev, reason)
		return
	}
	if s, ok := any(c).(Skipper); ok {
		s.Skip(ev, reason)
	}
}
