// Command pricing runs the pricing service: the price book (a base price per SKU, seeded from
// the catalog, an override per store, the history of every change), promotions (started and
// ended in each store's time zone by a once-a-minute clock job, once across replicas), every
// change announced on display-updates for the shelf signs, and the price accuracy of the sales
// on pos-sales.
//
// It also serves the shelf signs (package signsapp): GET /v1/signs/ws (a sign's websocket) and
// GET /v1/signs?store_id= (the signs' status), unless PRICING_SIGNS=off: then it is the price
// book alone, and the hub runs in processes of its own (signsapp on the kit, such as
// services/bench/signs/hub, which make bench-signs measures with pricing as the trigger).
//
// Usage:
//
//	pricing                                           run the service
//	pricing sign-token --store S001 --sign NAME       issue a sign's token (printed alone)
//	pricing sign-token --store S001 --sign NAME --revoke
//	pricing sign-token --list [--store S001]
//	pricing rebuild                                   replay pos-sales into a fresh schema and
//	                                                  compare the price accuracy with the live
//	                                                  one (exit status 1 when they differ)
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
	"fmt"
	"maps"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/pricing/app"
	"github.com/freshmart/platform/services/signs/signsapp"
)

func main() {
	cmds := kit.Commands{"rebuild": kit.RebuildCommand("pricing", app.RebuildOptions, func(ctx context.Context, s *kit.Service) (kit.Rebuilt, error) {
		return app.Rebuild(ctx, s)
	})}
	maps.Copy(cmds, signsapp.Commands)
	kit.RunCommand("pricing", cmds)
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		if _, err := app.New(s, app.Config{}); err != nil {
			return err
		}
		switch v := s.Env("PRICING_SIGNS"); v {
		case "", "on":
		case "off":
			return nil
		default:
			return fmt.Errorf("PRICING_SIGNS=%q: want on (the default: serve the shelf signs) or off", v)
		}
		_, err := signsapp.New(s, signsapp.Config{})
		return err
	})
}
