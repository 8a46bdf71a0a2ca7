// Command pricing runs the pricing service: the price book (a base price per SKU, seeded from
// the catalog, an override per store, the history of every change), promotions (started and
// ended in each store's time zone by a once-a-minute clock job, once across replicas), every
// change announced on display-updates for the shelf signs, and the price accuracy of the sales
// on pos-sales.
//
// Usage:
//
//	pricing   run the service
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// DATABASE_URL (required), HTTP_ADDR default 127.0.0.1:8084, LOG_LEVEL, LOG_FORMAT).
//
// Endpoints: PUT /v1/prices/{sku}, GET /v1/prices?store_id=&sku=, GET
// /v1/prices/{sku}/history, POST /v1/promotions, GET /v1/promotions?store_id=&active=, GET and
// DELETE /v1/promotions/{id}, GET /v1/price-accuracy?store_id= (see services/pricing/app).
package main

import (
	"context"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/pricing/app"
)

func main() {
	kit.RunCommand("pricing", kit.Commands{})
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		_, err := app.New(s, app.Config{})
		return err
	})
}
