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
	"fmt"
	"os"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/loyalty/app"
)

func main() {
	kit.RunCommand("loyalty", kit.Commands{"rebuild": func([]string) int { return rebuild() }})
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		cfg, err := app.ConfigFromEnv(s.Env)
		if err != nil {
			return err
		}
		_, err = app.New(s, cfg)
		return err
	})
}

func rebuild() int {
	ctx, stop := kit.SignalContext()
	defer stop()
	s, err := kit.New(ctx, app.RebuildOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loyalty rebuild:", err)
		return 2
	}
	defer s.Close()
	cfg, err := app.ConfigFromEnv(s.Env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loyalty rebuild:", err)
		return 2
	}
	rep, err := app.Rebuild(ctx, s, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loyalty rebuild:", err)
		return 2
	}
	fmt.Printf("replayed %d pos-sales records and %d redemptions into schema %s (%d redemptions after the snapshot left out): %d live ledger rows and %d members, %d and %d rebuilt\n",
		rep.Records, rep.Redemptions, app.RebuildSchema, rep.Later, rep.LiveRows, rep.LiveMembers, rep.RebuiltRows, rep.RebuiltMembers)
	if rep.Equal() {
		fmt.Println("rebuilt ledger, balances and tiers equal the live ones")
		return 0
	}
	fmt.Printf("rebuilt view differs from the live view in %d places:\n", len(rep.Diffs))
	for _, d := range rep.Diffs {
		fmt.Println("  " + d)
	}
	return 1
}
