package stream_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
)

// A service wires a consumer and a relay over its own schema: handlers change state with the
// transaction and emit follow-up events through the outbox.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://127.0.0.1:5432/freshmart")
	if err != nil {
		panic(err)
	}
	mux := events.NewMux[*stream.Tx]()
	events.On(mux, schemas.TypeSaleCompleted, func(ctx context.Context, tx *stream.Tx, ev events.Event, s schemas.SaleCompleted) error {
		for _, l := range s.Lines {
			if _, err := tx.Exec(ctx, `UPDATE inventory.stock SET on_hand = on_hand - $3
				WHERE store_id = $1 AND sku = $2`, s.StoreID, l.SKU, l.Qty); err != nil {
				return err
			}
		}
		_, err := tx.Emit(ctx, events.Out{Topic: schemas.TopicInventoryUpdates, Key: s.StoreID, Type: schemas.TypeStockLevel,
			Payload: schemas.StockLevel{ /* ... */ }})
		return err
	})
	consumer, err := stream.New(stream.Config{
		Brokers: []string{"127.0.0.1:9092"}, Group: "inventory", Topics: []string{schemas.TopicPOSSales},
		Schema: "inventory", Source: "freshmart/inventory", Pool: pool, Handler: mux.Dispatch, Log: slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	producer, err := events.NewProducer(events.ProducerConfig{Brokers: []string{"127.0.0.1:9092"}, Source: "freshmart/inventory"})
	if err != nil {
		panic(err)
	}
	relay, err := stream.NewRelay(stream.RelayConfig{Schema: "inventory", Pool: pool, Client: producer.Client()})
	if err != nil {
		panic(err)
	}
	go relay.Run(ctx) //nolint:errcheck // returns nil when ctx ends
	if err := consumer.Run(ctx); err != nil {
		panic(err)
	}
}

// A complaints window: every complaint (re)sets the store/SKU's timer to 30 minutes after it,
// and the timer handler closes the episode when no complaint came in that time. The timer is set
// in the complaint's transaction and fired in its own, exactly once; the alert's id and time
// come from the timer, so a re-fired timer emits the same event.
func Example_timers() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://127.0.0.1:5432/freshmart")
	if err != nil {
		panic(err)
	}
	mux := events.NewMux[*stream.Tx]()
	events.On(mux, schemas.TypeComplaintFiled, func(ctx context.Context, tx *stream.Tx, ev events.Event, c schemas.ComplaintFiled) error {
		// ... count the complaint in the service's tables ...
		return tx.SetTimer(ctx, stream.Timer{Key: c.StoreID + "/" + c.SKU, At: ev.Time.Add(30 * time.Minute),
			Data: json.RawMessage(`{"store_id":"` + c.StoreID + `"}`)})
	})
	consumer, err := stream.New(stream.Config{
		Brokers: []string{"127.0.0.1:9092"}, Group: "complaints", Topics: []string{schemas.TopicCustomerComplaints},
		Schema: "complaints", Source: "freshmart/complaints", Pool: pool, Handler: mux.Dispatch,
		TimerHandler: func(ctx context.Context, tx *stream.Tx, t stream.Timer) error {
			// ... read the window's complaints with tx, then:
			_, err := tx.Emit(ctx, events.Out{Topic: schemas.TopicStoreAlerts, Key: "S001", Type: schemas.TypeAlertComplaintSpikeResolved,
				Payload: schemas.ComplaintSpike{ /* ... */ }})
			return err
		},
	})
	if err != nil {
		panic(err)
	}
	if err := consumer.Run(ctx); err != nil {
		panic(err)
	}
}
