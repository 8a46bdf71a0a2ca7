package stream_test

import (
	"context"
	"log/slog"

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
