// Package app wires the analytics service, FreshMart's sales warehouse, onto the service kit:
//
//   - Extract: the exactly-once consumer stages every sale line and void of pos-sales
//     (Stager: a BatchHandler of up to 5000 records with three set-based statements per batch),
//     and numbers the change of every store-day it touches;
//   - Transform and load: the ETL (ETL.Load) loads one date's store-days from staging into the
//     star schema of migrations/sql/007_analytics.sql: the day's lines are copied (COPY), with
//     their dimension keys resolved, into a temporary table, and one statement inserts what is
//     new and updates what changed, idempotent by (sale_id, line_no); a line staged after its
//     day was loaded comes in with the next load of that day and is marked late;
//   - each store's nightly job (internal/schedule, "5 0 * * *" in the store's zone unless
//     ANALYTICS_ETL_SPEC says otherwise; once per slot across replicas) loads the day that just
//     ended and, before it, every earlier day of the store whose staging changed since it was
//     loaded; `analytics etl` loads on demand;
//   - the daily report: every load (re)computes its date's report.daily_sales over the stores
//     loaded for that date so far, as a new version with a new report_id, stored in
//     daily_reports and emitted through the outbox to daily-sales-report in the load's
//     transaction;
//   - HTTP: GET /v1/reports/daily?date= (JSON, or CSV with format=csv or Accept: text/csv) and
//     GET /v1/etl-runs; /healthz, /readyz and /metrics come from the kit.
//
// The rules (business days in a store's zone, the report's arithmetic, the CSV) are in package
// analytics.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/schedule"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// Options is what the analytics service asks of the service kit: Postgres and the producer (for
// the outbox relay), answering on 127.0.0.1:8085 unless HTTP_ADDR says otherwise.
var Options = kit.Options{Name: "analytics", Addr: "127.0.0.1:8085", Database: true, Producer: true}

// ETLOptions is what `analytics etl` asks of the kit: Postgres only (its reports wait in the
// outbox for the service's relay).
var ETLOptions = kit.Options{Name: "analytics", Database: true}

// Group is the consumer group of the analytics service.
const Group = "analytics"

// DefaultETLSpec is when each store's nightly job runs, in the store's zone: five past
// midnight, for the day that just ended.
const DefaultETLSpec = "5 0 * * *"

// Config holds what the service decides besides the kit's environment; zero values take the
// defaults.
type Config struct {
	// Clock is the time of the nightly jobs and of what the ETL stamps. Default clock.Real().
	Clock clock.Clock
	// ETLSpec is the cron schedule of each store's nightly job, read in the store's zone
	// (ANALYTICS_ETL_SPEC). Default DefaultETLSpec.
	ETLSpec string
	// TopN is the number of best sellers in a report. Default 10.
	TopN int
}

// ConfigFromEnv reads ANALYTICS_ETL_SPEC.
func ConfigFromEnv(env kit.Env) (Config, error) {
	return Config{ETLSpec: env.String("ANALYTICS_ETL_SPEC", DefaultETLSpec)}, nil
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.ETLSpec == "" {
		c.ETLSpec = DefaultETLSpec
	}
	if c.TopN <= 0 {
		c.TopN = 10
	}
	return c
}

// App is the analytics service wired onto a kit.Service.
type App struct {
	log      *slog.Logger
	cat      *catalog.Catalog
	pool     *pgxpool.Pool
	cfg      Config
	consumer *stream.Consumer
	stager   *Stager
	etl      *ETL
	sched    *schedule.Scheduler
}

// OpenETL returns an ETL on a pool of its own, opened on the service's database with the
// ETL's session settings (ETLPoolConfig) and closed with the service: a load holds two
// connections for its duration, which then never wait behind the service's own work.
func OpenETL(s *kit.Service, cfg Config) (*ETL, error) {
	cfg = cfg.withDefaults()
	if s.Pool == nil {
		return nil, fmt.Errorf("analytics: the ETL needs Postgres")
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), ETLPoolConfig(s.Pool.Config(), 4))
	if err != nil {
		return nil, fmt.Errorf("analytics: ETL pool: %w", err)
	}
	s.OnClose(pool.Close)
	return NewETL(ETLConfig{Pool: pool, Log: s.Log, Clock: cfg.Clock, Source: s.Source, TopN: cfg.TopN, Registerer: s.Registry})
}

// New wires the analytics service onto s (built with Options): the staging consumer, the
// relay, the ETL with each store's nightly job, the routes and the service's metrics.
func New(s *kit.Service, cfg Config) (*App, error) {
	cfg = cfg.withDefaults()
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("analytics: catalog: %w", err)
	}
	a := &App{log: s.Log, cat: cat, pool: s.Pool, cfg: cfg}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "analytics_events_total",
		Help: "Consumed pos-sales events by type and outcome: staged, rejected (invalid), ignored (another type); a batch retried after a failure is counted again.",
	}, []string{"type", "outcome"})
	s.Registry.MustRegister(events)
	a.stager, err = NewStager(cat, s.Log, func(typ, outcome string, n int) { events.WithLabelValues(typ, outcome).Add(float64(n)) })
	if err != nil {
		return nil, err
	}
	a.consumer, err = s.Consumer(stream.Config{
		Group:        Group,
		Topics:       []string{schemas.TopicPOSSales},
		Schema:       Schema,
		BatchHandler: a.stager.handle,
		// Big batches: each costs one round trip whatever its size.
		MaxPollRecords: 5000,
		// A killed instance's partitions move to the others after this long.
		ClientOpts: []kgo.Opt{kgo.SessionTimeout(10 * time.Second)},
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.Relay(Schema); err != nil {
		return nil, err
	}
	if a.etl, err = OpenETL(s, cfg); err != nil {
		return nil, err
	}
	a.sched, err = schedule.New(schedule.Config{Pool: s.Pool, Log: s.Log, Registerer: s.Registry, Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	for _, st := range cat.Stores() {
		loc, err := st.Location()
		if err != nil {
			return nil, err
		}
		id := st.StoreID
		err = a.sched.Add(schedule.Job{Name: "analytics-etl/" + id, Spec: cfg.ETLSpec, Location: loc,
			Run: func(ctx context.Context, r schedule.Run) error {
				loads, err := a.etl.Nightly(ctx, id, loc, r.ScheduledFor)
				for _, l := range loads {
					t := l.Totals()
					a.log.Info("store-day loaded", "store_id", id, "date", l.Date.String(), "trigger", string(l.Trigger),
						"staged", t.Staged, "inserted", t.Inserted, "late", t.Late, "updated", t.Updated,
						"report_version", l.ReportVersion, "took", l.Took)
				}
				return err
			}})
		if err != nil {
			return nil, err
		}
	}
	s.Go("schedule", a.sched.Run)
	a.routes(s.Router)
	return a, nil
}

// ETL returns the service's ETL.
func (a *App) ETL() *ETL { return a.etl }
