// Command loyalty runs the loyalty service: the points ledger fed exactly once from pos-sales
// (points by the earning rules in force on a sale's day, reversed by a void), balances and
// tiers over the rolling 12 months, redemptions (loyalty.redeemed on the loyalty topic), the
// rules API and the store's points of a day.
//
// Usage:
//
//	loyalty           run the service
//	loyalty rebuild   replay pos-sales and the loyalty topic into a fresh schema and compare
//	                  the ledger, balances and tiers with the live ones (exit status 1 when
//	                  they differ)
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// DATABASE_URL (required), HTTP_ADDR default 127.0.0.1:8086, LOG_LEVEL, LOG_FORMAT) and
// LOYALTY_TIER_SPEC (the tier job's cron schedule, default "*/10 * * * *").
package main

import (
	"context"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/loyalty/app"
)

func main() {
	kit.RunCommand("loyalty", kit.Commands{"rebuild": kit.RebuildCommand("loyalty", app.RebuildOptions, rebuild)})
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
