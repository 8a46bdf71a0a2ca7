// Package app wires the reorder service (purchasing and accounting) onto the service kit.
//
// One exactly-once consumer (group "reorder") reads three topics and keeps the view in schema
// reorder:
//
//   - store-alerts: alert.low_stock orders the SKU from its vendor (package reorder decides how
//     many and which order the line joins); every other type on the topic, the service's own
//     alert.delivery_mismatch included, is passed over;
//   - vendor-deliveries: delivery.received is matched to the order it names: receipts are added
//     to the lines, the status moves, an over delivery, a SKU not on the order, or a delivery
//     without a known order is alerted at once, and the order's pending and held invoices are
//     matched again;
//   - purchasing: po.cancelled and invoice.received, which this service's API produces (the API
//     changes no state itself, so a rebuild from the topics equals the live view).
//
// An order is sealed when its grouping window has passed: a stream timer due at the opening
// alert's time plus the window (reorder.DefaultWindow, REORDER_GROUP_WINDOW), or earlier, in
// the transaction of a later alert of the same store and vendor outside the window. Sealing
// composes the vendor email into reorder.emails in that transaction; a sender task delivers
// each email once (SMTP to SMTP_URL, or a file <spool>/<po>.eml; see sender.go).
//
// Mismatches go to store-alerts as alert.delivery_mismatch through the outbox, their alert ids
// derived from the input's position. The HTTP API is in http.go; the rebuild in rebuild.go.
package app

import (
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/reorder"
)

// Options is what the reorder service asks of the kit: Postgres, the producer (the API's
// events and the outbox relay), answering on 127.0.0.1:8087 unless HTTP_ADDR says otherwise.
var Options = kit.Options{Name: "reorder", Addr: "127.0.0.1:8087", Database: true, Producer: true}

// RebuildOptions is what `reorder rebuild` asks of the kit: Postgres only.
var RebuildOptions = kit.Options{Name: "reorder", Database: true}

// Group is the consumer group of the reorder service.
const Group = "reorder"

// Topics are what the consumer reads.
var Topics = []string{schemas.TopicStoreAlerts, schemas.TopicVendorDeliveries, schemas.TopicPurchasing}

// Config holds what the service decides besides the kit's environment; zero values take the
// defaults.
type Config struct {
	// Clock is the service's time: the timers that seal orders, the API's event times, the
	// sender's stamps (default the real clock).
	Clock clock.Clock
	// Window is how long after an order's first alert later alerts join it (default 5m,
	// REORDER_GROUP_WINDOW).
	Window time.Duration
	// Tolerance is the three-way match's (default 2% on price, REORDER_PRICE_TOLERANCE, and
	// exact quantities, REORDER_QTY_TOLERANCE).
	Tolerance reorder.Tolerance
	// SMTP is where emails go (SMTP_URL, smtp://host:port); nil writes them to SpoolDir.
	SMTP *url.URL
	// SpoolDir is where emails are written without SMTP (REORDER_SPOOL_DIR, default
	// $FRESHMART_DATA_DIR/reorder/mail, FRESHMART_DATA_DIR defaulting to .data as make run's).
	SpoolDir string
	// SendEvery is how often the sender looks for unsent emails (default 1s,
	// REORDER_SEND_INTERVAL).
	SendEvery time.Duration
	// Catalog is the reference data; nil is the embedded catalog.
	Catalog *catalog.Catalog
}

// ConfigFromEnv reads the settings from env, with the defaults.
func ConfigFromEnv(env kit.Env) (Config, error) {
	var cfg Config
	var err error
	if cfg.Window, err = env.Duration("REORDER_GROUP_WINDOW", reorder.DefaultWindow); err != nil {
		return cfg, err
	}
	if cfg.Window < time.Second || cfg.Window > 24*time.Hour {
		return cfg, fmt.Errorf("reorder: REORDER_GROUP_WINDOW=%s: want 1s to 24h", cfg.Window)
	}
	price := env.String("REORDER_PRICE_TOLERANCE", "0.02")
	if _, err := fmt.Sscanf(price, "%g", &cfg.Tolerance.Price); err != nil || cfg.Tolerance.Price < 0 || cfg.Tolerance.Price > 1 {
		return cfg, fmt.Errorf("reorder: REORDER_PRICE_TOLERANCE=%q: want a fraction from 0 to 1, e.g. 0.02", price)
	}
	q, err := env.Int("REORDER_QTY_TOLERANCE", 0)
	if err != nil {
		return cfg, err
	}
	if q < 0 || q > 1_000_000 {
		return cfg, fmt.Errorf("reorder: REORDER_QTY_TOLERANCE=%d: want 0 or more units", q)
	}
	cfg.Tolerance.Qty = int64(q)
	if v := env.String("SMTP_URL", ""); v != "" {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "smtp" || u.Host == "" || u.Port() == "" {
			return cfg, fmt.Errorf("reorder: SMTP_URL=%q: want smtp://host:port", v)
		}
		cfg.SMTP = u
	}
	cfg.SpoolDir = env.String("REORDER_SPOOL_DIR", filepath.Join(env.String("FRESHMART_DATA_DIR", ".data"), "reorder", "mail"))
	if cfg.SendEvery, err = env.Duration("REORDER_SEND_INTERVAL", time.Second); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Window <= 0 {
		c.Window = reorder.DefaultWindow
	}
	if c.Tolerance == (reorder.Tolerance{}) {
		c.Tolerance = reorder.DefaultTolerance
	}
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(".data", "reorder", "mail")
	}
	if c.SendEvery <= 0 {
		c.SendEvery = time.Second
	}
	return c
}

func (c Config) catalog() (*catalog.Catalog, error) {
	if c.Catalog != nil {
		return c.Catalog, nil
	}
	return catalog.Load()
}

// App is the reorder service wired onto a kit.Service.
type App struct {
	log      *slog.Logger
	cat      *catalog.Catalog
	pool     *pgxpool.Pool
	producer *events.Producer
	accepted *events.Accepted
	cfg      Config
	folder   *folder
	sender   *Sender
}

// New wires the reorder service onto s (built with Options): the consumer with its timers, the
// relay, the email sender, the routes and the metrics.
func New(s *kit.Service, cfg Config) (*App, error) {
	cfg = cfg.withDefaults()
	cat, err := cfg.catalog()
	if err != nil {
		return nil, fmt.Errorf("reorder: catalog: %w", err)
	}
	m := newMetrics(s.Registry)
	a := &App{log: s.Log, cat: cat, pool: s.Pool, producer: s.Producer, accepted: events.NewAccepted(100_000), cfg: cfg}
	a.folder = newFolder("reorder", cat, cfg, s.Log, m)
	if _, err := s.Consumer(stream.Config{
		Group:        Group,
		Topics:       Topics,
		Schema:       "reorder",
		BatchHandler: a.folder.handle,
		TimerHandler: a.folder.fire,
		Clock:        cfg.Clock,
	}); err != nil {
		return nil, err
	}
	if _, err := s.Relay("reorder"); err != nil {
		return nil, err
	}
	a.sender = &Sender{Pool: s.Pool, SMTP: cfg.SMTP, SpoolDir: cfg.SpoolDir, Clock: cfg.Clock, Log: s.Log, Every: cfg.SendEvery, sent: m.emails}
	s.Go("email-sender", a.sender.Run)
	a.routes(s.Router)
	return a, nil
}

// metrics are the service's own.
type metrics struct {
	events *prometheus.CounterVec
	alerts *prometheus.CounterVec
	emails *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reorder_events_total",
			Help: "Events folded, by type and outcome (ordered, grouped, already_open, duplicate, matched, unknown_po, approved, held, pending, cancelled, ignored, rejected).",
		}, []string{"type", "outcome"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reorder_mismatch_alerts_total",
			Help: "alert.delivery_mismatch events emitted, by reason (a batch retried after a failure is counted again).",
		}, []string{"reason"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reorder_emails_total",
			Help: "Vendor emails delivered or failed, by way (smtp, spool) and outcome (sent, failed).",
		}, []string{"via", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.alerts, m.emails)
	}
	return m
}
