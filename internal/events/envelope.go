// Package events is FreshMart's event library: the CloudEvents envelope carried in Kafka record
// headers (binary content mode), a producer that validates every payload against its JSON Schema
// before it reaches the broker, and typed decoding of consumed records.
//
// Envelope (CloudEvents 1.0, Kafka protocol binding, binary mode): the record value is the
// event's JSON payload; the headers are
//
//	ce_specversion  "1.0"
//	ce_id           the event id (a UUID; stable across retries and replays)
//	ce_type         the event type, e.g. "sale.completed" (a schema in package schemas)
//	ce_source       the producing component, e.g. "freshmart/pos"
//	ce_time         when the event happened, RFC 3339 in UTC
//	content-type    "application/json"
//
// and the record key is the partition key (the store id for store-keyed topics). Readers
// tolerate unknown payload fields and extra headers; records of types a reader does not handle
// are skipped and counted (freshmart_events_skipped_total, on the consumer's registry).
package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names of the CloudEvents Kafka binding.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time"
	HeaderContentType = "content-type"
)

// SpecVersion is the CloudEvents version written and accepted.
const SpecVersion = "1.0"

// ContentType is the only payload encoding used.
const ContentType = "application/json"

// ErrEnvelope is wrapped by Parse errors for records that are not well-formed CloudEvents.
var ErrEnvelope = errors.New("invalid event envelope")

// Envelope is the CloudEvents context of one event.
type Envelope struct {
	ID     string    // ce_id
	Type   string    // ce_type
	Source string    // ce_source
	Time   time.Time // ce_time (UTC)
}

// Event is one consumed event: its envelope, key, JSON payload and where it was read from.
type Event struct {
	Envelope
	Key       string
	Data      []byte // the record value: the event's JSON payload
	Topic     string
	Partition int32
	Offset    int64
}

// Headers returns the record headers for env.
func (env Envelope) Headers() []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: HeaderSpecVersion, Value: []byte(SpecVersion)},
		{Key: HeaderID, Value: []byte(env.ID)},
		{Key: HeaderType, Value: []byte(env.Type)},
		{Key: HeaderSource, Value: []byte(env.Source)},
		{Key: HeaderTime, Value: []byte(env.Time.UTC().Format(time.RFC3339Nano))},
		{Key: HeaderContentType, Value: []byte(ContentType)},
	}
}

// NewRecord builds the Kafka record carrying payload with the envelope env.
func NewRecord(topic, key string, env Envelope, payload []byte) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: payload, Headers: env.Headers()}
}

// Parse reads the envelope of a consumed record. It fails (wrapping ErrEnvelope) when the
// spec version is not 1.0, an id, type or source is missing, the time is not RFC 3339, or the
// content type is not JSON. The payload itself is not validated.
func Parse(r *kgo.Record) (Event, error) {
	ev := Event{Key: string(r.Key), Data: r.Value, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	var spec, ctype, ts string
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderSpecVersion:
			spec = string(h.Value)
		case HeaderID:
			ev.ID = string(h.Value)
		case HeaderType:
			ev.Type = string(h.Value)
		case HeaderSource:
			ev.Source = string(h.Value)
		case HeaderTime:
			ts = string(h.Value)
		case HeaderContentType:
			ctype = string(h.Value)
		}
	}
	where := func() string { return fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset) } // for errors only
	switch {
	case spec != SpecVersion:
		return ev, fmt.Errorf("events: %s: %s %q: %w", where(), HeaderSpecVersion, spec, ErrEnvelope)
	case ev.ID == "" || ev.Type == "" || ev.Source == "":
		return ev, fmt.Errorf("events: %s: id, type and source are required: %w", where(), ErrEnvelope)
	case ctype != "" && ctype != ContentType && ctype != ContentType+"; charset=utf-8":
		return ev, fmt.Errorf("events: %s: content type %q: %w", where(), ctype, ErrEnvelope)
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return ev, fmt.Errorf("events: %s: %s %q: %w", where(), HeaderTime, ts, ErrEnvelope)
		}
		ev.Time = t.UTC()
	}
	return ev, nil
}
