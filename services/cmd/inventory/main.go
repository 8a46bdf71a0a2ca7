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
	"fmt"
	"os"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/inventory/app"
)

func main() {
	kit.RunCommand("inventory", kit.Commands{"rebuild": func([]string) int { return rebuild() }})
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		_, err := app.New(s)
		return err
	})
}

func rebuild() int {
	ctx, stop := kit.SignalContext()
	defer stop()
	s, err := kit.New(ctx, app.RebuildOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory rebuild:", err)
		return 2
	}
	defer s.Close()
	rep, err := app.Rebuild(ctx, s, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory rebuild:", err)
		return 2
	}
	fmt.Printf("replayed %d records into schema %s: %d live stock rows, %d rebuilt\n",
		rep.Records, app.RebuildSchema, rep.LiveRows, rep.RebuiltRows)
	if rep.Equal() {
		fmt.Println("rebuilt view equals the live view")
		return 0
	}
	fmt.Printf("rebuilt view differs from the live view in %d store/SKUs:\n", rep.DiffCount)
	for _, d := range rep.Diffs {
		fmt.Println("  " + d)
	}
	return 1
}
