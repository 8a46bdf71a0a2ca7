// Package app wires the pricing service onto the service kit: the price book API (PUT
// /v1/prices/{sku}, GET /v1/prices, GET /v1/prices/{sku}/history), the promotions API (POST,
// GET, DELETE /v1/promotions), the scheduler that applies future price changes and starts and
// ends promotions, the exactly-once consumer of pos-sales that checks every sale line against
// the price in force (GET /v1/price-accuracy, and /metrics), and the outbox relay that sends
// every change to display-updates for the shelf signs.
//
// # What goes out on display-updates
//
// Every change is announced per store affected, keyed by store_id, through the outbox in the
// transaction of the change (so an event exists exactly when its change does):
//
//   - price.changed when a store's regular price changes: a store override changes one store;
//     a chain-wide change (no store_id) every store that has no override of its own (a store
//     with one keeps its price and hears nothing). price_cents is always the new regular
//     price and old_price_cents the one it replaces.
//   - promo.started when a promotion starts in a store, one per SKU, with the promotional and
//     the regular price and the planned window.
//   - promo.ended when it ends (its planned end, or DELETE).
//
// What a sign shows: the promotional price while a promotion runs, the regular price struck
// through beside it, else the regular price. A regular price that changes during a promotion
// is announced as price.changed (the new regular price), followed by promo.started again for
// the running promotion (same promo_id) with the new regular price and, for a percent-off
// promotion, the new promotional price: a sign treats promo.started as "this is the running
// promotion now" and can apply the two in order.
//
// Event ids are derived from the business ids (the change id and store, the promotion id,
// store and SKU, and for a re-announced promotion the change that caused it), so doing the
// same work again (a retried job) emits the same ids; readers drop duplicates.
//
// # When things happen, exactly once
//
// A change without effective_at (or with one already past) applies in the request's
// transaction, and a promotion whose start is past starts in it. Everything later is kept in
// Postgres (price_changes with applied_at NULL, promo_items in state scheduled or running,
// each with its instant in the store's zone, rounded up to the minute) and applied by one
// clock job of internal/schedule, "pricing-due", every minute on the minute: once per slot
// across all replicas (platform.job_runs), and inside the slot every row moves from scheduled
// to applied, running or ended with a conditional UPDATE in the transaction that writes the
// events, so even two runs at once (or a request and a run) cannot apply one row twice. The
// schedule is rows, not timers in memory: a restart loses nothing, and what came due while no
// replica ran is applied as the service starts (the same ApplyDue, once, beside the
// scheduler, whose own catch-up only covers a job that has run before). Stream timers were not used because they belong to a partition of a consumed
// topic and are set from a consumer's transaction, while these schedules come from API
// requests about several stores at once.
//
// # Price accuracy
//
// The consumer of pos-sales (exactly-once: offsets in the batch's transaction) reads each new
// sale (sale ids already checked are dropped) and compares each line's unit_price_cents with the
// price in force at the sale's occurred_at in its store (package pricing's Resolve over the
// history and the promotion windows), counting lines and mismatches per store and SKU.
// Nothing is rejected. Voids are ignored: the lane did charge the wrong price, voided later or
// not. /metrics has freshmart_pricing_price_mismatches_total{store,sku} and
// freshmart_pricing_sale_lines_checked_total{store}, read from those tables when scraped, so
// every replica reports the same exact figures (at most 6 stores x the SKUs that ever
// mismatched: bounded by the catalog).
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/schedule"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// Options is what the pricing service asks of the service kit: Postgres and the producer (for
// the outbox relay), answering on 127.0.0.1:8084 unless HTTP_ADDR says otherwise.
var Options = kit.Options{Name: "pricing", Addr: "127.0.0.1:8084", Database: true, Producer: true}

// Schema is the Postgres schema of the pricing service.
const Schema = "pricing"

// Group is the consumer group of the price-accuracy consumer.
const Group = "pricing"

// DueJob is the name of the clock job that applies what came due.
const DueJob = "pricing-due"

// Config holds what the service decides besides the kit's environment. Zero values take the
// defaults.
type Config struct {
	// Clock is the service's time: "now" for changes and promotions, and the scheduler's.
	// Default clock.Real().
	Clock clock.Clock
	// Catalog is the stores and SKUs; nil is the embedded catalog (catalog.Load). The base
	// prices are seeded from its products on the first start.
	Catalog *catalog.Catalog
}

// App is the pricing service wired onto a kit.Service.
type App struct {
	log    *slog.Logger
	pool   *pgxpool.Pool
	cat    *catalog.Catalog
	clk    clock.Clock
	source string
	stores []string                  // store ids in catalog order
	locs   map[string]*time.Location // store id -> zone
	sched  *schedule.Scheduler
}

// New wires the pricing service onto s (built with Options): it seeds the base prices from the
// catalog when they are missing, and adds the routes, the scheduler, the consumer and the
// relay.
func New(s *kit.Service, cfg Config) (*App, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	cat := cfg.Catalog
	if cat == nil {
		var err error
		if cat, err = catalog.Load(); err != nil {
			return nil, fmt.Errorf("pricing: catalog: %w", err)
		}
	}
	a := &App{log: s.Log, pool: s.Pool, cat: cat, clk: cfg.Clock, source: s.Source, locs: map[string]*time.Location{}}
	for _, st := range cat.Stores() {
		loc, err := st.Location()
		if err != nil {
			return nil, fmt.Errorf("pricing: %w", err)
		}
		a.stores = append(a.stores, st.StoreID)
		a.locs[st.StoreID] = loc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.seed(ctx); err != nil {
		return nil, err
	}
	var err error
	a.sched, err = schedule.New(schedule.Config{Pool: s.Pool, Log: s.Log, Registerer: s.Registry, Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	if err := a.sched.Add(schedule.Job{Name: DueJob, Spec: "* * * * *", Run: func(ctx context.Context, _ schedule.Run) error {
		_, err := a.ApplyDue(ctx)
		return err
	}}); err != nil {
		return nil, err
	}
	s.Go("schedule", a.sched.Run)
	// What came due while no replica ran is applied at start, not at the next slot: the
	// scheduler only catches up on a job that has run before.
	s.Go("catch-up", func(ctx context.Context) error {
		if _, err := a.ApplyDue(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("catching up on what came due; the next slot retries", "err", err)
		}
		return nil
	})
	if _, err := s.Consumer(stream.Config{
		Group:          Group,
		Topics:         []string{schemas.TopicPOSSales},
		Schema:         Schema,
		BatchHandler:   a.checkSales,
		MaxPollRecords: 2000,
	}); err != nil {
		return nil, err
	}
	if _, err := s.Relay(Schema); err != nil {
		return nil, err
	}
	s.Registry.MustRegister(&accuracyCollector{a: a})
	a.routes(s.Router)
	return a, nil
}

// accuracyCollector reports the price-accuracy counters from Postgres when /metrics is
// scraped.
type accuracyCollector struct{ a *App }

var (
	mismatchesDesc = prometheus.NewDesc("freshmart_pricing_price_mismatches_total",
		"Sale lines charged at another price than the one in force at the sale's time, per store and SKU (from Postgres: the same on every replica).",
		[]string{"store", "sku"}, nil)
	checkedDesc = prometheus.NewDesc("freshmart_pricing_sale_lines_checked_total",
		"Sale lines checked against the price in force, per store.", []string{"store"}, nil)
)

func (c *accuracyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- mismatchesDesc
	ch <- checkedDesc
}

func (c *accuracyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.a.pool.Query(ctx, `SELECT store_id, sku, mismatches FROM pricing.accuracy_skus`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(mismatchesDesc, err)
		return
	}
	for rows.Next() {
		var store, sku string
		var n int64
		if err := rows.Scan(&store, &sku, &n); err != nil {
			break
		}
		ch <- prometheus.MustNewConstMetric(mismatchesDesc, prometheus.CounterValue, float64(n), store, sku)
	}
	rows.Close()
	rows, err = c.a.pool.Query(ctx, `SELECT store_id, lines_checked FROM pricing.accuracy_stores`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(checkedDesc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var store string
		var n int64
		if err := rows.Scan(&store, &n); err != nil {
			return
		}
		ch <- prometheus.MustNewConstMetric(checkedDesc, prometheus.CounterValue, float64(n), store)
	}
}
