// Package signsapp wires the shelf-signs hub (package signs) onto the service kit: it follows
// display-updates, keeps the display view in Postgres (schema signs) and in memory, and serves
// signs over websockets, with device tokens, acknowledgements and a status API. The pricing
// binary mounts it (signsapp.New and Commands); it needs kit.Options.Database.
//
// # Following display-updates
//
// Every replica reads every partition of display-updates itself, without a consumer group
// (kgo.ConsumePartitions), so each replica sees every store's events and folds them into the
// same view: a change's version is its offset + 1 in its partition, the same on every replica.
// A batch is folded in memory and its frames published to the signs first; then a writer
// goroutine stores the changed rows (WHERE version < the new one: replicas writing the same
// rows is idempotent) and the partitions' positions in one transaction. On start a replica
// loads the view and the positions and resumes from there; anything folded but not yet stored
// when it stopped is read again and folds to the same states and versions.
//
// # Signs
//
// GET /v1/signs/ws?store_id=S001&skus=PRD-0001,PRD-0002 (or &aisle=<department id>), with the
// token in "Authorization: Bearer" or ?token=, upgrades to a websocket; a missing, unknown or
// revoked token is 401, a token of another store 403, a bad parameter 400 naming it, all
// before the upgrade. The first frame is a snapshot, or with ?since=V the changes after V
// (signs.Store.Since). Every sign subscribes to one hub topic per SKU it shows, as a Pulled
// client of internal/hub: a fold wakes the signs showing a SKU that changed, and each sign's
// writer makes its update from the view (signs.Store.AppendUpdates: every SKU it shows that
// changed since its last frame, in its latest state), so nothing is queued per sign and a
// sign that fell behind catches up in one frame. The handler returns once the sign is
// upgraded: an idle sign costs one goroutine (reading its acknowledgements), and its writer
// runs only while it has something to write. A sign is dropped (closed, so it reconnects with
// since) when it falls too far behind: more than MaxUnacked frames written that it did not
// acknowledge, or a write that does not finish within WriteTimeout (it stopped reading). It
// never delays the others: the follower only wakes writers. When the service stops every sign
// is closed with status 1001 (going away).
//
// Acknowledgements are kept in memory and written to signs.status every FlushEvery; the
// replica's heartbeat (signs.replicas), refreshed every SeenEvery, is when the signs it holds
// were last seen. GET /v1/signs?store_id= lists
// the store's signs (every live token) with what they acknowledged and how far behind they
// are.
//
// # Environment
//
//	SIGNS_SINCE_WINDOW   versions below a store's version a ?since= is answered with the
//	                     changes (older: a snapshot)                                    100000
//	SIGNS_SILENT_AFTER   a sign not seen for this long is out of date                   2m
//	SIGNS_WRITE_TIMEOUT  a frame's write; a sign slower than that is dropped            10s
//	SIGNS_MAX_UNACKED    frames written and not acknowledged; a sign with more is too
//	                     far behind and dropped                                         200
//	SIGNS_FLUSH_EVERY    how often acknowledgements are stored                          1s
//	SIGNS_SEEN_EVERY     how often the replica's heartbeat (its signs' last seen) is
//	                     refreshed                                                      15s
//	SIGNS_ALLOWED_ORIGINS  browser origins (host patterns) allowed to open a sign's
//	                     websocket, comma-separated                    127.0.0.1:*,localhost:*
package signsapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/hub"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/signs"
)

// Config configures the hub. Zero values are read from the environment (see the package
// documentation), then take the defaults.
type Config struct {
	// Catalog is the reference data [catalog.Load()].
	Catalog *catalog.Catalog
	// Topic is the topic followed [schemas.TopicDisplayUpdates].
	Topic string
	// SinceWindow: a ?since= this many versions or fewer below the store's version is
	// answered with the changes, an older one with a snapshot [SIGNS_SINCE_WINDOW, 100000].
	SinceWindow int64
	// SilentAfter: a sign not seen for longer is out of date [SIGNS_SILENT_AFTER, 2m].
	SilentAfter time.Duration
	// WriteTimeout bounds each frame's write to a sign [SIGNS_WRITE_TIMEOUT, 10s].
	WriteTimeout time.Duration
	// MaxUnacked: a sign with more frames written and not acknowledged is too far behind and
	// is closed (1013, reconnect with since) [SIGNS_MAX_UNACKED, 200].
	MaxUnacked int
	// FlushEvery is how often acknowledgements are stored [SIGNS_FLUSH_EVERY, 1s].
	FlushEvery time.Duration
	// SeenEvery is how often the replica's heartbeat, the last seen time of the signs it holds,
	// is refreshed [SIGNS_SEEN_EVERY, 15s].
	SeenEvery time.Duration
	// PingInterval is how often a sign is pinged [hub.DefaultPingInterval].
	PingInterval time.Duration
	// AllowedOrigins are the host patterns of browser origins allowed to open a sign's
	// websocket [SIGNS_ALLOWED_ORIGINS, "127.0.0.1:*,localhost:*"].
	AllowedOrigins []string
}

func (c *Config) fill(env kit.Env) error {
	var err error
	if c.Catalog == nil {
		if c.Catalog, err = catalog.Load(); err != nil {
			return err
		}
	}
	if c.Topic == "" {
		c.Topic = schemas.TopicDisplayUpdates
	}
	if c.SinceWindow <= 0 {
		n, err := env.Int("SIGNS_SINCE_WINDOW", 100000)
		if err != nil {
			return err
		}
		c.SinceWindow = int64(n)
	}
	if c.MaxUnacked <= 0 {
		if c.MaxUnacked, err = env.Int("SIGNS_MAX_UNACKED", 200); err != nil {
			return err
		}
		if c.MaxUnacked <= 0 {
			return errors.New("signs: SIGNS_MAX_UNACKED must be positive")
		}
	}
	durations := []struct {
		v   *time.Duration
		env string
		def time.Duration
	}{
		{&c.SilentAfter, "SIGNS_SILENT_AFTER", 2 * time.Minute},
		{&c.WriteTimeout, "SIGNS_WRITE_TIMEOUT", 10 * time.Second},
		{&c.FlushEvery, "SIGNS_FLUSH_EVERY", time.Second},
		{&c.SeenEvery, "SIGNS_SEEN_EVERY", 15 * time.Second},
	}
	for _, d := range durations {
		if *d.v > 0 {
			continue
		}
		if *d.v, err = env.Duration(d.env, d.def); err != nil {
			return err
		}
		if *d.v <= 0 {
			return fmt.Errorf("signs: %s must be positive", d.env)
		}
	}
	if len(c.AllowedOrigins) == 0 {
		for _, o := range strings.Split(env.String("SIGNS_ALLOWED_ORIGINS", "127.0.0.1:*,localhost:*"), ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	return nil
}

// App is the signs hub wired onto a service.
type App struct {
	cfg     Config
	log     *slog.Logger
	svc     *kit.Service
	hub     *hub.Hub
	tokens  *Tokens
	m       *metrics
	replica string

	// mu guards the stores' views: the follower folds under the write lock, the signs' writers
	// make their frames under the read lock.
	mu     sync.RWMutex
	stores map[string]*signs.Store

	sessions *sessions
	writer   *writer
	signs    *signTable
	caughtUp atomic.Bool
}

// New wires the hub onto s: it loads the stored view (so signs are served what was folded
// before), registers GET /v1/signs/ws and GET /v1/signs on s.Router, the follower, the view
// writer and the acknowledgement flusher on s.Go, the readiness check "display-updates"
// (caught up with the topic's end as of start) and its metrics on s.Registry.
func New(s *kit.Service, cfg Config) (*App, error) {
	if s.Pool == nil {
		return nil, errors.New("signs: the service needs kit.Options.Database")
	}
	if err := cfg.fill(s.Env); err != nil {
		return nil, err
	}
	h, err := hub.New(hub.Config{Name: "signs", Registerer: s.Registry})
	if err != nil {
		return nil, err
	}
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	a := &App{cfg: cfg, log: s.Log, svc: s, hub: h, tokens: NewTokens(s.Pool, cfg.Catalog),
		replica: s.ClientID("signs") + "-" + hex.EncodeToString(suffix[:]), stores: map[string]*signs.Store{},
		sessions: newSessions()}
	for _, st := range cfg.Catalog.Stores() {
		a.stores[st.StoreID] = signs.NewStore(cfg.Catalog, st.StoreID)
	}
	a.m = newMetrics(s.Registry, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	positions, err := a.load(ctx)
	if err != nil {
		return nil, err
	}
	a.writer = newWriter(s.Pool, cfg.Topic, a.log, a.quiet)
	a.signs = newSignTable(a)
	s.Router.Get("/v1/signs/ws", a.serveWS)
	s.Router.Get("/v1/signs", a.listSigns)
	s.Health.AddCheck("display-updates", func(context.Context) error {
		if !a.caughtUp.Load() {
			return errors.New("not yet caught up with display-updates")
		}
		return nil
	})
	s.Go("signs-follower", func(ctx context.Context) error { return a.follow(ctx, positions) })
	s.Go("signs-writer", a.writer.run)
	s.Go("signs-acks", a.signs.run)
	s.Go("signs-sessions", a.sessions.run)
	return a, nil
}

// quietMost bounds how long storing waits for the signs' writers (a sign whose write blocks
// holds its writer for up to WriteTimeout).
const quietMost = 2 * time.Second

// ackQuiet is how long no acknowledgement must have arrived for a fan-out to count as over:
// the writers return once the frames are in the sockets, and the signs read and acknowledge
// them after that (10,000 signs acknowledge a fan-out at about 25 a millisecond).
const ackQuiet = 50 * time.Millisecond

// quiet waits, up to quietMost, until no sign's writer runs and no acknowledgement arrived for
// ackQuiet: storing the view or the acknowledgements (Postgres on the same machine) while a
// change fans out to thousands of signs, or while they are still reading its frames, would
// delay those frames (see services/bench/signs). What waits is only stored later.
func (a *App) quiet(ctx context.Context) {
	deadline := time.Now().Add(quietMost)
	busy := func() bool {
		return a.hub.Writing() > 0 || time.Since(time.Unix(0, a.signs.lastAck.Load())) < ackQuiet
	}
	for busy() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Tokens returns the app's token store.
func (a *App) Tokens() *Tokens { return a.tokens }

// Replica returns the id this replica records in signs.status for the signs it holds.
func (a *App) Replica() string { return a.replica }

func topicOf(store, sku string) string { return store + "/" + sku }

// metrics are the hub's own, besides internal/hub's freshmart_hub_*{hub="signs"}.
type metrics struct {
	connected *prometheus.GaugeVec
	frames    prometheus.Counter
	drops     *prometheus.CounterVec
	ackLag    prometheus.Histogram
	events    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, a *App) *metrics {
	m := &metrics{
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "signs_connected",
			Help: "Signs connected to this replica, per store."}, []string{"store_id"}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{Name: "signs_frames_sent_total",
			Help: "Frames (snapshots and updates) written to signs."}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signs_dropped_total",
			Help: "Signs disconnected by the hub: slow (a write timed out, or too far behind) or bad_frame (sent something that is not an ack)."},
			[]string{"reason"}),
		ackLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "signs_ack_lag_versions",
			Help:    "At each acknowledgement, how many versions the sign's SKUs are ahead of what it acknowledged.",
			Buckets: []float64{0, 1, 2, 5, 10, 50, 100, 1000, 10000}}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signs_events_total",
			Help: "display-updates events folded: changed (a sign's state), unchanged, or skipped (unknown type, store or SKU; bad payload)."},
			[]string{"outcome"}),
	}
	for _, st := range a.cfg.Catalog.Stores() {
		m.connected.WithLabelValues(st.StoreID)
	}
	for _, r := range []string{"slow", "bad_frame"} {
		m.drops.WithLabelValues(r)
	}
	for _, o := range []string{"changed", "unchanged", "skipped"} {
		m.events.WithLabelValues(o)
	}
	reg.MustRegister(m.connected, m.frames, m.drops, m.ackLag, m.events)
	return m
}
