package stream

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
)

// TestOutboxFromAnyTransaction: events added to an Outbox outside a consumer are validated,
// leave only when the caller's transaction commits (a rolled-back one leaves nothing), and the
// relay produces them with the ids and times the caller gave.
func TestOutboxFromAnyTransaction(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	level := func(sku string) events.Out {
		return events.Out{Topic: outTopic, Key: "S001", Type: schemas.TypeStockLevel, Payload: schemas.StockLevel{
			StoreID: "S001", SKU: sku, OnHand: 3, Threshold: 5,
			Cause: schemas.Cause{Type: "adjustment", ID: "A1"}, At: at}}
	}
	ob := NewOutbox(schema, "freshmart/streamtest")
	if err := ob.Add(events.Out{Topic: outTopic, Key: "S001", Type: schemas.TypeStockLevel, Payload: map[string]any{"sku": "x"}},
		"0f0e0d0c-0b0a-4909-8807-060504030201", at); err == nil {
		t.Fatal("an invalid payload was accepted")
	}
	ids := []string{"8a8f3f1e-1d2c-5b4a-9e8f-7d6c5b4a3f21", "8a8f3f1e-1d2c-5b4a-9e8f-7d6c5b4a3f22"}
	// Rolled back: nothing is left.
	for i, sku := range []string{"PRD-0001", "PRD-0002"} {
		if err := ob.Add(level(sku), ids[i], at); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Flush(ctx, tx); err != nil || ob.Len() != 0 {
		t.Fatalf("Flush: %v, %d left", err, ob.Len())
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM streamtest.outbox`); n != 0 {
		t.Fatalf("%d outbox rows after a rollback", n)
	}
	// Committed: relayed with the given ids.
	for i, sku := range []string{"PRD-0001", "PRD-0002"} {
		if err := ob.Add(level(sku), ids[i], at); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return ob.Flush(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	// A client that lingers a minute (franz-go's most), as the kit's relay client lingers: Once flushes its pass
	// rather than leave it waiting.
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: []string{b.Addr}, Source: "freshmart/streamtest",
		Opts: []kgo.Opt{kgo.ProducerLinger(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	relay, err := NewRelay(RelayConfig{Schema: schema, Pool: e.pool, Client: prod.Client(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if n, err := relay.Once(octx); err != nil || n != 2 {
		t.Fatalf("Once = %d, %v; want 2", n, err)
	}
	got := consumeIDs(t, b, outTopic, 2)
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("relayed ids %v, want %v once each", got, ids)
		}
	}
}
