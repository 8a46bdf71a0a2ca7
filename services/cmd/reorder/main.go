// Command reorder runs the reorder service (purchasing and accounting): low-stock alerts on
// store-alerts become purchase orders to the SKUs' vendors (grouped per vendor and store within
// REORDER_GROUP_WINDOW), each order's email is sent by SMTP or spooled as a .eml file,
// deliveries and invoices are matched to their orders (the three-way match), and mismatches
// are alerted on store-alerts. The API: GET /v1/purchase-orders, GET
// /v1/purchase-orders/{po}, GET /v1/purchase-orders/{po}/email, POST
// /v1/purchase-orders/{po}/cancel, POST /v1/invoices, GET /v1/invoices, GET
// /v1/invoices/{invoice_id}, GET /v1/deliveries.
//
// Usage:
//
//	reorder           run the service
//	reorder rebuild   replay store-alerts, vendor-deliveries and purchasing into a fresh view
//	                  and compare it with the live one (exit status 1 when they differ)
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// DATABASE_URL (required), HTTP_ADDR default 127.0.0.1:8087, LOG_LEVEL, LOG_FORMAT) and
// REORDER_GROUP_WINDOW (5m), REORDER_PRICE_TOLERANCE (0.02), REORDER_QTY_TOLERANCE (0 units),
// SMTP_URL (smtp://host:port; unset: spool), REORDER_SPOOL_DIR (default
// $FRESHMART_DATA_DIR/reorder/mail, FRESHMART_DATA_DIR defaulting to .data),
// REORDER_SEND_INTERVAL (1s).
package main

import (
	"context"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/reorder/app"
)

func main() {
	kit.RunCommand("reorder", kit.Commands{"rebuild": kit.RebuildCommand("reorder", app.RebuildOptions, rebuild)})
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		cfg, err := app.ConfigFromEnv(s.Env)
		if err != nil {
			return err
		}
		_, err = app.New(s, cfg)
		return err
	})
}

// rebuild replays the service's topics into a fresh view and compares it with the live one.
func rebuild(ctx context.Context, s *kit.Service) (kit.Rebuilt, error) {
	cfg, err := app.ConfigFromEnv(s.Env)
	if err != nil {
		return nil, err
	}
	return app.Rebuild(ctx, s, cfg)
}
