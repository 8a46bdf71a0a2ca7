package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/schemas"
)

// ErrUnavailable is wrapped by Produce errors when the broker did not acknowledge the record
// (unreachable, timed out, or refused it). The record may or may not have been written; a retry
// with the same id is safe because readers drop duplicate ids. HTTP APIs answer 503.
var ErrUnavailable = errors.New("broker unavailable")

// Out is one event to produce (Producer.Produce) or to emit through an outbox
// (stream.Tx.Emit): where it goes and what it says. The source (ce_source) is not here: it is
// set once per service, on the Producer or the consumer.
type Out struct {
	// Topic is the topic the event goes to (a schemas.Topic... constant). Required.
	Topic string
	// Key is the record key: the store_id for the store-keyed topics.
	Key string
	// Type is the event type (a schemas.Type... constant); Payload must be valid against its
	// schema. Required.
	Type string
	// ID is the event id (ce_id). Produce uses a new UUID when it is empty; an outbox derives it
	// from the input and ignores this field.
	ID string
	// Payload is the event's JSON ([]byte or json.RawMessage) or a value to marshal.
	Payload any
}

// Value returns the payload as JSON.
func (o Out) Value() ([]byte, error) {
	switch v := o.Payload.(type) {
	case []byte:
		return v, nil
	case json.RawMessage:
		return v, nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("events: %s: marshal payload: %w", o.Type, err)
		}
		return b, nil
	}
}

// Producer produces validated events with the idempotent producer and acks=all.
type Producer struct {
	client  *kgo.Client
	source  string
	timeout time.Duration // how long Produce waits for an acknowledgement
	owned   bool
}

// ProducerConfig configures NewProducer.
type ProducerConfig struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string
	// Source is the ce_source of every event produced ("freshmart/pos"). Required.
	Source string
	// DeliveryTimeout bounds how long a record is retried before Produce fails with
	// ErrUnavailable. Default 10s.
	DeliveryTimeout time.Duration
	// Opts are extra franz-go options (metrics hooks, logger, client id...). Options that would
	// weaken the guarantees (acks, idempotence) must not be passed.
	Opts []kgo.Opt
}

// NewProducer connects a producer to cfg.Brokers. Connecting is lazy: an unreachable broker
// shows up as ErrUnavailable from Produce, not here.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("events: new producer: no brokers")
	}
	if cfg.Source == "" {
		return nil, errors.New("events: new producer: no source")
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 10 * time.Second
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.ProducerLinger(0),
	}, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("events: new producer: %w", err)
	}
	return &Producer{client: cl, source: cfg.Source, timeout: cfg.DeliveryTimeout, owned: true}, nil
}

// NewProducerFrom wraps an existing client (which must use acks=all and idempotence, the
// franz-go defaults) producing events from source. Close does not close it.
func NewProducerFrom(cl *kgo.Client, source string) *Producer {
	return &Producer{client: cl, source: source, timeout: 10 * time.Second}
}

// Source returns the ce_source of the events p produces.
func (p *Producer) Source() string { return p.source }

// Client returns the underlying franz-go client.
func (p *Producer) Client() *kgo.Client { return p.client }

// Close flushes nothing and closes the client if NewProducer created it.
func (p *Producer) Close() {
	if p.owned {
		p.client.Close()
	}
}

// Produce validates the event's payload against the schema of its type, wraps it in a
// CloudEvents envelope (its id, or a new UUID when it has none; the producer's source; time
// now) and writes it to its topic under its key. It returns once the broker has acknowledged
// the record (acks=all) with the record's partition and offset.
//
// Errors: a *schemas.ValidationError (or schemas.ErrUnknownType / schemas.ErrSyntax) when the
// payload is not valid, nothing produced; ErrUnavailable when the broker did not acknowledge;
// the context's error when ctx ended first.
func (p *Producer) Produce(ctx context.Context, o Out) (int32, int64, error) {
	id := o.ID
	if id == "" {
		id = uuid.NewString()
	}
	payload, err := o.Value()
	if err != nil {
		return -1, -1, err
	}
	env := Envelope{ID: id, Type: o.Type, Source: p.source, Time: time.Now().UTC()}
	r, err := p.ProduceEnvelope(ctx, o.Topic, o.Key, env, payload)
	if err != nil {
		return -1, -1, err
	}
	return r.Partition, r.Offset, nil
}

// ProduceEnvelope is Produce with a complete envelope (for example one restored from an
// outbox row, so the event keeps its original id and time). It returns the acknowledged record.
func (p *Producer) ProduceEnvelope(ctx context.Context, topic, key string, env Envelope, payload []byte) (*kgo.Record, error) {
	if err := Check(env, payload); err != nil {
		return nil, err
	}
	// Wait for the acknowledgement, the delivery timeout or the end of ctx, whichever comes
	// first: franz-go does not abandon a record once it is in flight (the idempotent producer
	// must keep its sequence), so a frozen broker would otherwise hold the caller until the
	// connection times out. A record given up on here may still be written later; a retry
	// with the same id is safe.
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	type result struct {
		r   *kgo.Record
		err error
	}
	done := make(chan result, 1)
	p.client.Produce(ctx, NewRecord(topic, key, env, payload), func(r *kgo.Record, err error) { done <- result{r, err} })
	var r *kgo.Record
	var err error
	select {
	case res := <-done:
		r, err = res.r, res.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("events: produce %s %s to %s: %w", env.Type, env.ID, topic, errors.Join(ctx.Err(), ErrUnavailable))
		}
		return nil, fmt.Errorf("events: produce %s %s to %s: %w: %w", env.Type, env.ID, topic, ErrUnavailable, err)
	}
	return r, nil
}

// Check validates an envelope and its payload as Produce does: id, type and source present,
// the payload valid against the type's schema.
func Check(env Envelope, payload []byte) error {
	if strings.TrimSpace(env.ID) == "" || env.Type == "" || env.Source == "" {
		return fmt.Errorf("events: %s: id, type and source are required: %w", env.Type, ErrEnvelope)
	}
	if err := schemas.Validate(env.Type, payload); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}
