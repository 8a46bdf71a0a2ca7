// Package app wires the complaints service onto the service kit: the intake API
// (POST /v1/complaints produces complaint.filed to customer-complaints, 202 once the broker
// acknowledged; GET /v1/complaints lists them), the exactly-once consumer that keeps every
// complaint and runs the spike rule of package complaints per store and SKU, the resolution
// timers, the chain-wide spikes, the outbox relay that produces the alerts to store-alerts,
// GET /v1/spikes and GET /v1/chain-spikes for the dashboard, and the rebuild command.
//
// What the consumer emits, per episode: one alert.complaint_spike when it opens (its alert id
// derived from the position of the complaint that opened it), alert.complaint_spike_updated
// when complaints join it or a late complaint merges another episode into it, and
// alert.complaint_spike_resolved when the window has passed after its newest complaint (a
// timer of the consumer, due at the episode's end, so no new complaint is needed to notice;
// reason "quiet") or when it was merged into an earlier episode (reason "merged"). A late
// complaint that joins a resolved episode updates it and, when its new end is still ahead,
// makes it active again; it never opens a second alert.
//
// Chain-wide: a SKU's spikes opened within ChainWindow (24 h) of each other, directly or
// through other spikes, form a group; the first time a group spans two or more stores, one
// alert.complaint_chain_spike names its stores and the vendor, and spikes that join it later
// update its row without a new alert. Groups do not depend on the order stores' complaints are
// consumed in. Episodes of different stores live in different partitions and may be applied by
// different instances, so the check takes a transaction-scoped advisory lock per SKU.
package app

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/complaints"
)

// Options is what the complaints service asks of the service kit: Postgres, the producer (the
// intake and the outbox relay), answering on 127.0.0.1:8083 unless HTTP_ADDR says otherwise.
var Options = kit.Options{Name: "complaints", Addr: "127.0.0.1:8083", Database: true, Producer: true}

// RebuildOptions is what `complaints rebuild` asks of the kit: Postgres only.
var RebuildOptions = kit.Options{Name: "complaints", Database: true}

// Group is the consumer group of the complaints service.
const Group = "complaints"

// Config holds what the service decides besides the kit's environment. Zero values take the
// defaults: the real clock, the rule from COMPLAINT_SPIKE_THRESHOLD (3) and
// COMPLAINT_SPIKE_WINDOW (30m), a chain window of 24h.
type Config struct {
	// Clock is the service's time: the intake's filed_at checks and the resolution timers.
	Clock clock.Clock
	// Rule is the spike rule.
	Rule complaints.Rule
	// ChainWindow is how close together spikes of one SKU in different stores must open to
	// be chain-wide.
	ChainWindow time.Duration
	// Catalog is the stores and SKUs the intake and the rule check complaints against; nil is
	// the embedded catalog (catalog.Load). The benchmark gives a synthetic one.
	Catalog *catalog.Catalog
}

// App is the complaints service wired onto a kit.Service.
type App struct {
	log      *slog.Logger
	cat      *catalog.Catalog
	pool     *pgxpool.Pool
	producer *events.Producer
	accepted *events.Accepted
	cfg      Config
	consumer *stream.Consumer
	folder   *folder
}

// ConfigFromEnv reads the rule's settings from env, with the defaults.
func ConfigFromEnv(env kit.Env) (Config, error) {
	var cfg Config
	n, err := env.Int("COMPLAINT_SPIKE_THRESHOLD", complaints.DefaultRule.Threshold)
	if err != nil {
		return cfg, err
	}
	w, err := env.Duration("COMPLAINT_SPIKE_WINDOW", complaints.DefaultRule.Window)
	if err != nil {
		return cfg, err
	}
	if n < 1 || n > 1000 {
		return cfg, fmt.Errorf("complaints: COMPLAINT_SPIKE_THRESHOLD=%d: want 1 to 1000", n)
	}
	// The alerts carry the window in whole minutes (window_minutes, 1 to 10080).
	if w < time.Minute || w > 7*24*time.Hour || w%time.Minute != 0 {
		return cfg, fmt.Errorf("complaints: COMPLAINT_SPIKE_WINDOW=%s: want whole minutes from 1m to 168h", w)
	}
	cfg.Rule = complaints.Rule{Threshold: n, Window: w}
	return cfg, nil
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Rule.Threshold <= 0 {
		c.Rule.Threshold = complaints.DefaultRule.Threshold
	}
	if c.Rule.Window <= 0 {
		c.Rule.Window = complaints.DefaultRule.Window
	}
	if c.ChainWindow <= 0 {
		c.ChainWindow = 24 * time.Hour
	}
	return c
}

// catalog returns Catalog, or the embedded catalog when it is nil.
func (c Config) catalog() (*catalog.Catalog, error) {
	if c.Catalog != nil {
		return c.Catalog, nil
	}
	return catalog.Load()
}

// New wires the complaints service onto s (built with Options): the intake and query routes,
// the consumer with its timers, the relay and the service's metrics.
func New(s *kit.Service, cfg Config) (*App, error) {
	cfg = cfg.withDefaults()
	cat, err := cfg.catalog()
	if err != nil {
		return nil, fmt.Errorf("complaints: catalog: %w", err)
	}
	a := &App{log: s.Log, cat: cat, pool: s.Pool, producer: s.Producer, accepted: events.NewAccepted(100_000), cfg: cfg}
	a.folder = newFolder(cat, cfg, s.Log, newMetrics(s.Registry))
	a.consumer, err = s.Consumer(stream.Config{
		Group:        Group,
		Topics:       []string{schemas.TopicCustomerComplaints},
		Schema:       "complaints",
		BatchHandler: a.folder.handle,
		TimerHandler: a.folder.fire,
		Clock:        cfg.Clock,
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.Relay("complaints"); err != nil {
		return nil, err
	}
	a.routes(s.Router)
	return a, nil
}

// metrics are the service's own.
type metrics struct {
	complaints *prometheus.CounterVec
	alerts     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		complaints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "complaints_consumed_total",
			Help: "Consumed complaint.filed events by outcome: new, duplicate (an id seen before), rejected (invalid).",
		}, []string{"outcome"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "complaints_alerts_total",
			Help: "Spike events emitted, by type (a batch retried after a failure is counted again).",
		}, []string{"type"}),
	}
	reg.MustRegister(m.complaints, m.alerts)
	return m
}
