// Command analytics runs the analytics service, FreshMart's sales warehouse: it stages every
// sale line and void of pos-sales, loads each store's business day into a star schema at the
// store's close (five past midnight in its zone), emits report.daily_sales to
// daily-sales-report after every load, and serves GET /v1/reports/daily (JSON or CSV) and
// GET /v1/etl-runs.
//
// Usage:
//
//	analytics                                     run the service
//	analytics etl --date 2026-12-01 [--store S001]
//	                                              load one date (every store, or one), now
//	analytics etl --from 2026-11-01 --to 2026-11-30 [--store S001]
//	                                              load every date of a range, oldest first
//
// etl prints what each load did (lines staged, fact rows inserted, late, updated, the report
// version) and exits 0, or 1 when a load failed and 2 on bad arguments. Its reports are written
// to the outbox; the running service relays them to daily-sales-report.
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// DATABASE_URL (required), HTTP_ADDR default 127.0.0.1:8085, LOG_LEVEL, LOG_FORMAT) and
// ANALYTICS_ETL_SPEC, the cron schedule of each store's nightly load in the store's zone
// (default "5 0 * * *").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/analytics"
	"github.com/freshmart/platform/services/analytics/app"
)

func main() {
	kit.RunCommand("analytics", kit.Commands{"etl": func(args []string) int { return etl(args, os.Stdout, os.Stderr) }})
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		cfg, err := app.ConfigFromEnv(s.Env)
		if err != nil {
			return err
		}
		_, err = app.New(s, cfg)
		return err
	})
}

// etl is `analytics etl`.
func etl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("analytics etl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	date := fs.String("date", "", "load this business date (YYYY-MM-DD)")
	from := fs.String("from", "", "load every date from this one (YYYY-MM-DD) ...")
	to := fs.String("to", "", "... to this one, included")
	store := fs.String("store", "", "load only this store (default: every store)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "analytics etl:", msg)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	var first, last analytics.Date
	switch {
	case *date != "" && (*from != "" || *to != ""):
		return usage("give --date or --from and --to, not both")
	case *date != "":
		d, err := analytics.ParseDate(*date)
		if err != nil {
			return usage(err.Error())
		}
		first, last = d, d
	case *from != "" && *to != "":
		var err error
		if first, err = analytics.ParseDate(*from); err != nil {
			return usage(err.Error())
		}
		if last, err = analytics.ParseDate(*to); err != nil {
			return usage(err.Error())
		}
		if last < first {
			return usage("--to is before --from")
		}
	default:
		return usage("give --date, or --from and --to")
	}
	var stores []string
	if *store != "" {
		stores = []string{*store}
	}

	ctx, stop := kit.SignalContext()
	defer stop()
	s, err := kit.New(ctx, app.ETLOptions)
	if err != nil {
		fmt.Fprintln(stderr, "analytics etl:", err)
		return 1
	}
	defer s.Close()
	cfg, err := app.ConfigFromEnv(s.Env)
	if err != nil {
		fmt.Fprintln(stderr, "analytics etl:", err)
		return 2
	}
	e, err := app.OpenETL(s, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "analytics etl:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%-10s  %-5s  %7s  %8s  %5s  %7s  %s\n", "date", "store", "staged", "inserted", "late", "updated", "run")
	var sum app.DayResult
	loads := 0
	started := time.Now()
	err = e.Backfill(ctx, first, last, stores, app.TriggerManual, func(r app.LoadResult) {
		loads++
		for _, d := range r.Days {
			fmt.Fprintf(stdout, "%-10s  %-5s  %7d  %8d  %5d  %7d  %d\n", r.Date, d.StoreID, d.Staged, d.Inserted, d.Late, d.Updated, d.RunID)
		}
		t := r.Totals()
		sum.Staged, sum.Inserted, sum.Late, sum.Updated = sum.Staged+t.Staged, sum.Inserted+t.Inserted, sum.Late+t.Late, sum.Updated+t.Updated
		complete := "partial: not every store loaded yet"
		if r.Complete {
			complete = "complete"
		}
		fmt.Fprintf(stdout, "%-10s  report version %d (%s), %s; took %s\n", r.Date, r.ReportVersion, r.ReportID, complete, r.Took.Round(time.Millisecond))
	})
	if loads > 1 {
		fmt.Fprintf(stdout, "%d dates: %d lines staged, %d fact rows inserted (%d late), %d updated in %s\n",
			loads, sum.Staged, sum.Inserted, sum.Late, sum.Updated, time.Since(started).Round(time.Millisecond))
	}
	if loads > 0 {
		fmt.Fprintln(stdout, "reports are in the outbox; the running service relays them to daily-sales-report")
	}
	if err != nil {
		fmt.Fprintln(stderr, "analytics etl:", err)
		if errors.Is(err, app.ErrUnknownStore) {
			return 2
		}
		return 1
	}
	return 0
}
