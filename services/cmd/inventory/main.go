// Command inventory runs the inventory service: it folds sales, deliveries and warehouse counts
// into stock per store and SKU, emits stock levels, low-stock alerts and shelf badges, and serves
// GET /v1/stock and GET /v1/alerts.
//
// Usage:
//
//	inventory           run the service
//	inventory rebuild   replay the topics into a fresh view and compare it with the live one
//	                    (exit status 1 when they differ)
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// DATABASE_URL (required), HTTP_ADDR default 127.0.0.1:8082, LOG_LEVEL, LOG_FORMAT).
package main

import (
	"context"
	"os"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/inventory/app"
)

func main() {
	kit.RunCommand("inventory", kit.Commands{"rebuild": kit.RebuildCommand("inventory", app.RebuildOptions, rebuild)})
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		_, err := app.New(s)
		return err
	})
}

// rebuild replays the service's topics into a fresh view and compares it with the live one.
func rebuild(ctx context.Context, s *kit.Service) (kit.Rebuilt, error) {
	return app.Rebuild(ctx, s, os.Stderr)
}
