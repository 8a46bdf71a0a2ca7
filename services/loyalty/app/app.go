// Package app wires the loyalty service onto the service kit: the exactly-once consumer of
// pos-sales that writes the points ledger (package loyalty's rules), the members' balances and
// tiers, the redemption API whose loyalty.redeemed events go to the loyalty topic through the
// outbox in the ledger row's transaction, the tier job that moves members down as their points
// leave the 12-month window, the rules API, the store's points of a day, the metrics and the
// rebuild command.
//
// # Exactly once
//
// The consumer stores every sale with a loyalty id (loyalty.sales) and every void
// (loyalty.voids) by sale id in the batch's transaction, with the offsets: a copy of a sale (a
// register's retry) or a second void finds its row and writes nothing, and a restart resumes
// at the stored offsets. A void that comes before its sale waits in loyalty.voids; the sale
// then writes its earnings and their reversal together. A void of a sale without a loyalty id
// has no sale row ever, and so no ledger rows. The ledger is append-only (a trigger refuses
// UPDATE and DELETE).
//
// # Promotions
//
// A promotion bonus is a rule of kind promotion that names its SKUs, its stores and its days
// (POST /v1/rules, or seeded). The pricing service's promo.started/promo.ended events on
// display-updates are not folded: that topic keeps 7 days, so a view built from it could not be
// rebuilt from the start, and a sale consumed late (an offline register) would earn by
// whatever promotions the view held then. A rule can carry the pricing promotion's id
// (promo_id) for reference.
//
// # Rules and dates
//
// A sale earns by the rules in force on its local day (occurred_at in the store's zone). Rules
// are never edited, and a new rule must start after today in every store's zone, so a rule
// never applies to a day whose sales may already have been consumed: replaying pos-sales with
// today's rules gives the points the live service gave.
//
// # Tiers
//
// A member's 12-month points (earnings and reversals counting at their sale's time within the
// 12 months before now; redemptions do not count) and tier are computed again for every
// member a batch or a redemption touches, and by the tier job (every TierSpec, default every
// 10 minutes) for every member whose next_change_at (when an entry next leaves the window) has
// come. GET /v1/members answers the stored standing.
//
// # Redemptions
//
// POST /v1/members/{id}/redeem locks the member row, answers the stored result when the
// redemption id is known (a retry, also after a restart), refuses with 409 when the balance is
// short, and otherwise writes the redeem ledger row, the redemption, the new balance and the
// loyalty.redeemed event (id = redemption id) to the outbox in one transaction.
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

// Options is what the loyalty service asks of the service kit: Postgres, the producer (the
// outbox relay), answering on 127.0.0.1:8086 unless HTTP_ADDR says otherwise.
var Options = kit.Options{Name: "loyalty", Addr: "127.0.0.1:8086", Database: true, Producer: true}

// RebuildOptions is what `loyalty rebuild` asks of the kit: Postgres only.
var RebuildOptions = kit.Options{Name: "loyalty", Database: true}

// Group is the consumer group of the loyalty service; Schema its Postgres schema.
const (
	Group  = "loyalty"
	Schema = "loyalty"
)

// Config holds what the service decides besides the kit's environment. Zero values take the
// defaults.
type Config struct {
	// Clock is the service's time: the 12-month window's end, the redemptions' time and the
	// tier job's slots. Default the real clock.
	Clock clock.Clock
	// TierSpec is the cron schedule of the tier job (LOYALTY_TIER_SPEC, default "*/10 * * * *").
	TierSpec string
	// Catalog is the stores (zones) and products (departments); nil is the embedded catalog.
	Catalog *catalog.Catalog
}

// ConfigFromEnv reads LOYALTY_TIER_SPEC.
func ConfigFromEnv(env kit.Env) (Config, error) {
	return Config{TierSpec: env.String("LOYALTY_TIER_SPEC", "*/10 * * * *")}, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.TierSpec == "" {
		c.TierSpec = "*/10 * * * *"
	}
	if c.Catalog == nil {
		cat, err := catalog.Load()
		if err != nil {
			return c, fmt.Errorf("loyalty: catalog: %w", err)
		}
		c.Catalog = cat
	}
	return c, nil
}

// App is the loyalty service wired onto a kit.Service.
type App struct {
	log    *slog.Logger
	pool   *pgxpool.Pool
	cfg    Config
	source string
	folder *folder
	m      *metrics
	sched  *schedule.Scheduler
}

// New wires the loyalty service onto s (built with Options): the consumer, the relay, the
// tier job, the routes and the metrics.
func New(s *kit.Service, cfg Config) (*App, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &App{log: s.Log, pool: s.Pool, cfg: cfg, source: s.Source, m: newMetrics(s.Registry, s.Pool)}
	a.folder = newFolder(Schema, cfg, s.Log, a.m)
	if _, err := s.Consumer(stream.Config{
		Group:        Group,
		Topics:       []string{schemas.TopicPOSSales},
		Schema:       Schema,
		BatchHandler: a.folder.handle,
		Clock:        cfg.Clock,
	}); err != nil {
		return nil, err
	}
	if _, err := s.Relay(Schema); err != nil {
		return nil, err
	}
	a.sched, err = schedule.New(schedule.Config{Pool: s.Pool, Log: s.Log, Registerer: s.Registry, Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	if err := a.sched.Add(schedule.Job{Name: "loyalty-tiers", Spec: cfg.TierSpec, Run: func(ctx context.Context, r schedule.Run) error {
		n, err := a.folder.refreshDue(ctx, a.pool, cfg.Clock.Now())
		if n > 0 {
			a.log.Info("tiers recomputed", "members", n, "slot", r.ScheduledFor)
		}
		return err
	}}); err != nil {
		return nil, err
	}
	s.Go("schedule", a.sched.Run)
	a.routes(s)
	return a, nil
}

// metrics are the service's own.
type metrics struct {
	points *prometheus.CounterVec
	sales  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) *metrics {
	m := &metrics{
		points: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_points_total",
			Help: "Points written to the ledger by kind: earned, reversed (by voids), redeemed.",
		}, []string{"kind"}),
		sales: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_events_total",
			Help: "Consumed pos-sales events by outcome: earned, no_loyalty_id, duplicate, voided, void_pending, void_duplicate, rejected.",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.points, m.sales)
	if pool != nil {
		reg.MustRegister(&tierCollector{pool: pool, desc: prometheus.NewDesc("loyalty_members",
			"Members by tier (read from the members table at scrape time).", []string{"tier"}, nil)})
	}
	return m
}

// tierCollector reports loyalty_members{tier} from the database, so every instance reports
// the same figures however the partitions are spread.
type tierCollector struct {
	pool *pgxpool.Pool
	desc *prometheus.Desc
}

func (c *tierCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tierCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.pool.Query(ctx, `SELECT t.tier, count(m.loyalty_id) FROM loyalty.tiers t
		LEFT JOIN loyalty.members m ON m.tier = t.tier GROUP BY t.tier`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var tier string
		var n int64
		if rows.Scan(&tier, &n) == nil {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), tier)
		}
	}
}
