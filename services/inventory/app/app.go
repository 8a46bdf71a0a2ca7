// Package app wires the inventory service: the exactly-once consumer (internal/stream)
// that folds pos-sales, vendor-deliveries and the counts in inventory-updates into stock tables
// in Postgres, the outbox relay that produces stock.level, alert.low_stock / alert.restocked and
// stock.badge,
// the HTTP API (GET /v1/stock, GET /v1/alerts, /healthz, /readyz, /metrics) and the rebuild
// command. The stock rules themselves live in package inventory.
//
// The consumer hands the service batches of up to 5000 records, folded in one transaction with
// a fixed number of set-based statements (Folder.ApplyBatch): the fold runs event by event in
// memory, so stock and every low-stock/restocked crossing (alerted once, with the id of the
// event that crossed) are exactly those of applying the events one at a time, while stock.level
// and stock.badge are coalesced to one per store/SKU per batch.
//
// Stock of a store/SKU that no event has touched is the catalog's initial_stock: rows appear in
// inventory.stock only once an event changes them, and GET /v1/stock fills in the rest from the
// catalog.
//
// sale.voided is not folded yet (nothing produces it; the POS has no void endpoint): it is
// counted as ignored, like the service's own stock.level events read back from
// inventory-updates.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// Config configures the inventory service.
type Config struct {
	// Brokers are the Kafka seed brokers (KAFKA_BROKERS; default 127.0.0.1:9092).
	Brokers []string
	// DatabaseURL is the Postgres connection string (DATABASE_URL; required).
	DatabaseURL string
	// HTTPAddr is the listen address of the API (HTTP_ADDR; default 127.0.0.1:8082).
	HTTPAddr string
	// Logger receives the service's logs; default slog.Default().
	Logger *slog.Logger
}

// App is a configured inventory service.
type App struct {
	cfg  Config
	log  *slog.Logger
	ref  Reference
	pool *pgxpool.Pool
	reg  *prometheus.Registry

	producer *kgo.Client
	folder   *Folder
	events   *prometheus.CounterVec
	consumer *stream.Consumer
	relay    *stream.Relay

	mu   sync.Mutex
	addr net.Addr
}

// New connects to Postgres (lazily to the broker), prepares the schema and returns the service.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("inventory: DATABASE_URL is required")
	}
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{"127.0.0.1:9092"}
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8082"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ref, err := LoadReference()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("inventory: postgres: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	producer, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.WithHooks(kprom.NewMetrics("inventory", kprom.Registry(reg), kprom.Subsystem("producer"))),
	)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("inventory: producer: %w", err)
	}
	a := &App{cfg: cfg, log: cfg.Logger, ref: ref, pool: pool, reg: reg, producer: producer,
		folder: NewFolder(ref, "inventory"), events: newEventsCounter(reg)}
	a.consumer, err = stream.New(stream.Config{
		Brokers:      cfg.Brokers,
		Group:        Group,
		Topics:       []string{schemas.TopicPOSSales, schemas.TopicVendorDeliveries, schemas.TopicInventoryUpdates},
		Schema:       "inventory",
		Source:       Source,
		Pool:         pool,
		BatchHandler: a.handle,
		// Big batches: each costs a handful of round trips whatever its size.
		MaxPollRecords: 5000,
		Log:            cfg.Logger,
		Registerer:     reg,
		ClientOpts: []kgo.Opt{
			// A killed instance's partitions move to the others after this long.
			kgo.SessionTimeout(10 * time.Second),
			kgo.WithHooks(kprom.NewMetrics("inventory", kprom.Registry(reg), kprom.Subsystem("consumer"))),
		},
	})
	if err == nil {
		a.relay, err = stream.NewRelay(stream.RelayConfig{Schema: "inventory", Pool: pool, Client: producer, Log: cfg.Logger, Registerer: reg})
	}
	if err != nil {
		producer.Close()
		pool.Close()
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return a, nil
}

// Addr returns the address the API listens on, once Run has started it (nil before).
func (a *App) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Run serves the API, consumes and relays until ctx ends, then shuts down and releases
// everything.
func (a *App) Run(ctx context.Context) error {
	defer a.pool.Close()
	defer a.producer.Close()
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("inventory: listen %s: %w", a.cfg.HTTPAddr, err)
	}
	a.mu.Lock()
	a.addr = ln.Addr()
	a.mu.Unlock()
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { errs <- a.consumer.Run(ctx) })
	wg.Go(func() { errs <- a.relay.Run(ctx) })
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("inventory: serve: %w", err)
			cancel()
		}
	})
	a.log.Info("inventory listening", "addr", ln.Addr().String())
	<-ctx.Done()
	shut, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shut)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Handler returns the HTTP API.
func (a *App) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, map[string]string{"status": "ok"}) })
	r.Get("/readyz", a.ready)
	r.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	a.routes(r)
	return r
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "broker": "ok", "consumer": "ok"}
	ok := true
	if err := a.pool.Ping(ctx); err != nil {
		checks["postgres"], ok = err.Error(), false
	}
	if err := a.producer.Ping(ctx); err != nil {
		checks["broker"], ok = err.Error(), false
	}
	if !a.consumer.Ready() {
		checks["consumer"], ok = "not in a group session with an assignment", false
	}
	if !ok {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(checks)
		return
	}
	writeJSON(w, checks)
}

// reference adapts the catalog to Reference.
type reference struct {
	products []Product
	bySKU    map[string]Product
	stores   map[string]bool
	depts    map[string]bool
}

func (r *reference) Product(sku string) (Product, bool) { p, ok := r.bySKU[sku]; return p, ok }
func (r *reference) Products() []Product                { return r.products }
func (r *reference) HasStore(id string) bool            { return r.stores[id] }
func (r *reference) HasDepartment(id string) bool       { return r.depts[id] }

// LoadReference loads the embedded catalog as a Reference.
func LoadReference() (Reference, error) {
	c, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("inventory: catalog: %w", err)
	}
	r := &reference{bySKU: map[string]Product{}, stores: map[string]bool{}, depts: map[string]bool{}}
	for _, d := range c.Departments() {
		r.depts[d.ID] = true
	}
	for _, p := range c.Products() {
		q := Product{SKU: p.SKU, Name: p.Name, Department: p.Department,
			Threshold: int64(p.LowStockThreshold), InitialStock: int64(p.InitialStock)}
		r.products = append(r.products, q)
		r.bySKU[p.SKU] = q
	}
	for _, s := range c.Stores() {
		r.stores[s.StoreID] = true
	}
	return r, nil
}
