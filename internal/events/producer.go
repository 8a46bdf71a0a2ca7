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
// the record (acks=all) with the record's partition and offset, or when the delivery timeout
// or ctx ends first.
//
// Errors: a *schemas.ValidationError (or schemas.ErrUnknownType / schemas.ErrSyntax) when the
// payload is not valid, nothing produced; ErrUnavailable when the broker did not acknowledge
// in time (the record may still be written later: franz-go does not abandon a record in
// flight, so a retry with the same id is safe and readers drop the copy).
func (p *Producer) Produce(ctx context.Context, o Out) (int32, int64, error) {
	f, err := p.Start(o)
	if err != nil {
		return -1, -1, err
	}
	if err := f.Wait(ctx, p.timeout); err != nil {
		return -1, -1, err
	}
	return f.Partition, f.Offset, nil
}

// Start validates the event as Produce does and hands it to the client without waiting for
// the acknowledgement: the returned Flight ends when the broker acknowledged the record or
// gave up on it. A caller that stops waiting (a request past its deadline) can keep the
// Flight, so a retry of the same event joins it instead of producing a copy.
func (p *Producer) Start(o Out) (*Flight, error) {
	id := o.ID
	if id == "" {
		id = uuid.NewString()
	}
	payload, err := o.Value()
	if err != nil {
		return nil, err
	}
	env := Envelope{ID: id, Type: o.Type, Source: p.source, Time: time.Now().UTC()}
	return p.startEnvelope(o.Topic, o.Key, env, payload)
}

// DeliveryTimeout is how long Produce waits for an acknowledgement.
func (p *Producer) DeliveryTimeout() time.Duration { return p.timeout }

// ProduceEnvelope is Produce with a complete envelope (for example one restored from an
// outbox row, so the event keeps its original id and time). It returns the acknowledged record.
func (p *Producer) ProduceEnvelope(ctx context.Context, topic, key string, env Envelope, payload []byte) (*kgo.Record, error) {
	f, err := p.startEnvelope(topic, key, env, payload)
	if err != nil {
		return nil, err
	}
	if err := f.Wait(ctx, p.timeout); err != nil {
		return nil, err
	}
	return f.rec, nil
}

func (p *Producer) startEnvelope(topic, key string, env Envelope, payload []byte) (*Flight, error) {
	if err := Check(env, payload); err != nil {
		return nil, err
	}
	f := &Flight{ID: env.ID, Type: env.Type, Topic: topic, done: make(chan struct{})}
	// Not the caller's context: a record is failed by franz-go only while it is still
	// buffered, and the Flight must be able to outlive a caller that stopped waiting.
	p.client.Produce(context.Background(), NewRecord(topic, key, env, payload), func(r *kgo.Record, err error) {
		if err == nil {
			f.rec, f.Partition, f.Offset = r, r.Partition, r.Offset
		}
		f.err = err
		close(f.done)
	})
	return f, nil
}

// Flight is an event handed to the broker, until it is acknowledged or given up on.
type Flight struct {
	// ID, Type and Topic name the event.
	ID, Type, Topic string
	// Partition and Offset are where it was written, once Done is closed without an error.
	Partition int32
	Offset    int64

	rec  *kgo.Record
	err  error
	done chan struct{}
}

// Done is closed when the broker acknowledged the record or the client gave up on it.
func (f *Flight) Done() <-chan struct{} { return f.done }

// Err is the outcome once Done is closed: nil when acknowledged, an error wrapping
// ErrUnavailable otherwise.
func (f *Flight) Err() error {
	select {
	case <-f.done:
	default:
		return fmt.Errorf("events: produce %s %s to %s: still in flight: %w", f.Type, f.ID, f.Topic, ErrUnavailable)
	}
	if f.err != nil {
		return fmt.Errorf("events: produce %s %s to %s: %w: %w", f.Type, f.ID, f.Topic, ErrUnavailable, f.err)
	}
	return nil
}

// Wait waits until the flight ends, timeout passes or ctx ends, and returns Err (an error
// wrapping ErrUnavailable, and ctx's error when it ended first, if the record was not
// acknowledged by then).
func (f *Flight) Wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-f.done:
		return f.Err()
	case <-t.C:
		return fmt.Errorf("events: produce %s %s to %s: no acknowledgement within %s: %w", f.Type, f.ID, f.Topic, timeout, ErrUnavailable)
	case <-ctx.Done():
		return fmt.Errorf("events: produce %s %s to %s: %w", f.Type, f.ID, f.Topic, errors.Join(ctx.Err(), ErrUnavailable))
	}
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
