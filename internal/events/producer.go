package events

import (
	"context"
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

// Producer produces validated events with the idempotent producer and acks=all.
type Producer struct {
	client *kgo.Client
	owned  bool
}

// ProducerConfig configures NewProducer.
type ProducerConfig struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string
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
	return &Producer{client: cl, owned: true}, nil
}

// NewProducerFrom wraps an existing client (which must use acks=all and idempotence, the
// franz-go defaults). Close does not close it.
func NewProducerFrom(cl *kgo.Client) *Producer { return &Producer{client: cl} }

// Client returns the underlying franz-go client.
func (p *Producer) Client() *kgo.Client { return p.client }

// Close flushes nothing and closes the client if NewProducer created it.
func (p *Producer) Close() {
	if p.owned {
		p.client.Close()
	}
}

// Produce validates payload against the schema of eventType, wraps it in a CloudEvents envelope
// (id, or a new UUID when id is empty; time now) and writes it to topic under key. It returns
// once the broker has acknowledged the record (acks=all) with the record's partition and offset.
//
// Errors: a *schemas.ValidationError (or schemas.ErrUnknownType / schemas.ErrSyntax) when the
// payload is not valid, nothing produced; ErrUnavailable when the broker did not acknowledge;
// the context's error when ctx ended first.
func (p *Producer) Produce(ctx context.Context, topic, key, eventType, source, id string, payload []byte) (int32, int64, error) {
	if id == "" {
		id = uuid.NewString()
	}
	env := Envelope{ID: id, Type: eventType, Source: source, Time: time.Now().UTC()}
	r, err := p.ProduceEnvelope(ctx, topic, key, env, payload)
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
	r, err := p.client.ProduceSync(ctx, NewRecord(topic, key, env, payload)).First()
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
