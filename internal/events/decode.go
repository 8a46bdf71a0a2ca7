package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Skipped counts consumed records that were not handled, by topic, event type and reason
// ("unknown_type", "envelope", "payload"). It is registered with the default Prometheus
// registry as freshmart_events_skipped_total.
var Skipped = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "freshmart_events_skipped_total",
	Help: "Consumed records that were skipped: unknown event type, bad envelope or undecodable payload.",
}, []string{"topic", "type", "reason"})

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
// the event (for example the database transaction of the batch being applied). Types without
// a handler are skipped and counted in Skipped. A Mux is configured before use and then safe
// for concurrent use.
type Mux[C any] struct {
	handlers map[string]func(context.Context, C, Event) error
}

// NewMux returns an empty Mux.
func NewMux[C any]() *Mux[C] {
	return &Mux[C]{handlers: map[string]func(context.Context, C, Event) error{}}
}

// On registers fn for eventType, decoding the payload into a T first. Payloads that do not
// decode are skipped and counted (reason "payload") rather than failing the batch, so one bad
// record cannot stall a partition.
func On[T any, C any](m *Mux[C], eventType string, fn func(ctx context.Context, c C, ev Event, payload T) error) {
	m.handlers[eventType] = func(ctx context.Context, c C, ev Event) error {
		v, err := Decode[T](ev)
		if err != nil {
			Skipped.WithLabelValues(ev.Topic, ev.Type, "payload").Inc()
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

// Dispatch calls the handler of ev.Type. It returns nil without calling anything, counting the
// record in Skipped, when no handler is registered; otherwise the handler's error.
func (m *Mux[C]) Dispatch(ctx context.Context, c C, ev Event) error {
	h, ok := m.handlers[ev.Type]
	if !ok {
		Skipped.WithLabelValues(ev.Topic, ev.Type, "unknown_type").Inc()
		return nil
	}
	return h(ctx, c, ev)
}
