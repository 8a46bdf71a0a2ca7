package events

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/schemas"
)

func TestProduceAgainstBroker(t *testing.T) {
	b := brokertest.Start(t)
	reg := prometheus.NewRegistry()
	p, err := NewProducer(ProducerConfig{Brokers: []string{b.Addr}, Source: "freshmart/pos", Opts: []kgo.Opt{KafkaMetrics("producer", reg)}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	sale := validSale(t)
	part, off, err := p.Produce(ctx, Out{Topic: schemas.TopicPOSSales, Key: "S001", Type: schemas.TypeSaleCompleted, Payload: sale})
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	if part < 0 || off < 0 {
		t.Fatalf("partition %d offset %d", part, off)
	}

	// An invalid payload is refused before it reaches the broker.
	_, _, err = p.Produce(ctx, Out{Topic: schemas.TopicPOSSales, Key: "S001", Type: schemas.TypeSaleCompleted, Payload: []byte(`{"sale_id":"x"}`)})
	var ve *schemas.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("invalid payload: %v, want *schemas.ValidationError", err)
	}

	cl := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		schemas.TopicPOSSales: {part: kgo.NewOffset().At(off)},
	}))
	var got []Event
	hwm := int64(-1)
	for len(got) == 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("did not read the produced event back")
		}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			hwm = max(hwm, fp.HighWatermark)
			for _, r := range fp.Records {
				ev, err := Parse(r)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				got = append(got, ev)
			}
		})
	}
	// Only the valid event reached the partition.
	if len(got) != 1 || hwm != off+1 {
		t.Fatalf("read %d events, high watermark %d; want 1 event and %d", len(got), hwm, off+1)
	}
	ev := got[0]
	if ev.Type != schemas.TypeSaleCompleted || ev.Source != "freshmart/pos" || ev.Key != "S001" || ev.Offset != off || ev.ID == "" {
		t.Fatalf("read back %+v", ev)
	}
	s, err := Decode[schemas.SaleCompleted](ev)
	if err != nil || s.StoreID != "S001" || len(s.Lines) != 2 || s.TotalCents != 1997 {
		t.Fatalf("Decode: %+v, %v", s, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "freshmart_kafka_produce_bytes_total" {
			for _, m := range mf.GetMetric() {
				found = found || m.GetCounter().GetValue() >= 1
			}
		}
	}
	if !found {
		var names []string
		for _, mf := range mfs {
			names = append(names, mf.GetName())
		}
		t.Errorf("no freshmart_kafka_produce_bytes_total >= 1 among %v", names)
	}
}

func TestProduceBrokerDown(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p, err := NewProducer(ProducerConfig{Brokers: []string{addr}, Source: "freshmart/pos", DeliveryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, _, err = p.Produce(ctx, Out{Topic: schemas.TopicPOSSales, Key: "S001", Type: schemas.TypeSaleCompleted, Payload: validSale(t)})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Produce with the broker down: %v, want ErrUnavailable", err)
	}
}
