// Command pos runs the POS (store edge) service: POST /v1/sales, /v1/sales/{sale_id}/void,
// /v1/deliveries and /v1/stock-counts produce sale.completed, sale.voided, delivery.received and
// stock.counted with acks=all; GET /v1/stores and /v1/products serve the catalog.
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// DATABASE_URL, required here because accepted ids are remembered in pos.accepted so a retry on
// any instance is answered and not produced again, HTTP_ADDR default 127.0.0.1:8081,
// LOG_LEVEL, LOG_FORMAT, REQUEST_TIMEOUT).
package main

import (
	"context"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/pos/app"
)

func main() {
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		_, err := app.New(s)
		return err
	})
}
