// Package app wires the POS (store edge) service: the HTTP API of the checkout lanes
// (POST /v1/sales), the dock scanner (POST /v1/deliveries) and the warehouse scanner
// (POST /v1/stock-counts), the reference data (GET /v1/stores, GET /v1/products) and
// /healthz, /readyz, /metrics. Validation lives in package pos; this package decodes, produces
// with acks=all and the idempotent producer, and answers 202 only once the broker acknowledged.
//
// Once the broker acknowledged an event, the POS records its id with the partition and offset
// in pos.accepted (Postgres, shared by every POS instance) and in a bounded in-memory cache in
// front of it. A sale, delivery or count posted again with the same id, to this or any other
// instance, is answered 202 with the first partition and offset and not produced again. Two
// first attempts racing on different instances may both be produced (with the same CloudEvents
// id, the business id); consumers drop the second by id. If Postgres fails the POS keeps
// accepting (logged and counted in pos_accepted_db_errors_total).
package app

import (
	"context"
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
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/services/catalog"
)

// Source is the ce_source of the events the POS produces.
const Source = "freshmart/pos"

// MaxBody is the largest request body accepted (1 MiB); larger bodies get 413.
const MaxBody = 1 << 20

// Config configures the POS service.
type Config struct {
	// Brokers are the Kafka seed brokers (KAFKA_BROKERS; default 127.0.0.1:9092).
	Brokers []string
	// DatabaseURL is the Postgres holding pos.accepted (DATABASE_URL; required).
	DatabaseURL string
	// HTTPAddr is the listen address (HTTP_ADDR; default 127.0.0.1:8081).
	HTTPAddr string
	// DeliveryTimeout bounds how long a record is retried before the request fails with 503
	// (default 5s).
	DeliveryTimeout time.Duration
	// Logger receives the service's logs; default slog.Default().
	Logger *slog.Logger
}

// App is a configured POS service.
type App struct {
	cfg      Config
	log      *slog.Logger
	cat      *catalog.Catalog
	checks   catalogChecks
	producer *events.Producer
	reg      *prometheus.Registry
	pool     *pgxpool.Pool
	recent   *recent
	replays  *prometheus.CounterVec
	dbErrors prometheus.Counter
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu   sync.Mutex
	addr net.Addr
}

// New prepares the service: it connects to Postgres and applies the migrations (within ctx);
// the broker is connected lazily.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("pos: DATABASE_URL is required (pos.accepted remembers accepted ids)")
	}
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{"127.0.0.1:9092"}
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8081"
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("pos: catalog: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	producer, err := events.NewProducer(events.ProducerConfig{
		Brokers:         cfg.Brokers,
		Source:          Source,
		DeliveryTimeout: cfg.DeliveryTimeout,
		Opts:            []kgo.Opt{kgo.WithHooks(kprom.NewMetrics("pos", kprom.Registry(reg)))},
	})
	if err != nil {
		return nil, fmt.Errorf("pos: %w", err)
	}
	pool, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		producer.Close()
		return nil, err
	}
	a := &App{
		cfg: cfg, log: cfg.Logger, cat: cat, checks: newChecks(cat), producer: producer, reg: reg,
		pool: pool, recent: newRecent(100_000),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pos_replayed_total", Help: "Requests answered from an earlier acceptance of the same id, by kind.",
		}, []string{"kind"}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pos_accepted_db_errors_total", Help: "Failed reads or writes of pos.accepted (the request went on without them).",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pos_requests_total", Help: "POS API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pos_request_seconds", Help: "POS API request latency by route (including the broker acknowledgement).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
	}
	reg.MustRegister(a.requests, a.latency, a.replays, a.dbErrors)
	return a, nil
}

// Addr returns the address the API listens on once Run has started it (nil before).
func (a *App) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Run serves the API until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	defer a.pool.Close()
	defer a.producer.Close()
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("pos: listen %s: %w", a.cfg.HTTPAddr, err)
	}
	a.mu.Lock()
	a.addr = ln.Addr()
	a.mu.Unlock()
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("pos listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("pos: serve: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return fmt.Errorf("pos: shutdown: %w", err)
	}
	return nil
}

// Handler returns the HTTP API.
func (a *App) Handler() http.Handler {
	r := chi.NewRouter()
	health := &httpx.Health{Gatherer: a.reg}
	health.AddCheck("broker", func(ctx context.Context) error { return a.producer.Client().Ping(ctx) })
	health.AddCheck("postgres", func(ctx context.Context) error { return a.pool.Ping(ctx) })
	health.Mount(r)
	r.Post("/v1/sales", a.instrument("sales", a.postSale))
	r.Post("/v1/deliveries", a.instrument("deliveries", a.postDelivery))
	r.Post("/v1/stock-counts", a.instrument("stock-counts", a.postCount))
	r.Get("/v1/stores", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"stores": a.cat.Stores()})
	})
	r.Get("/v1/products", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"products": a.cat.Products()})
	})
	return r
}

// statusWriter remembers the status code for the request metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (a *App) instrument(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		a.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		a.requests.WithLabelValues(route, fmt.Sprint(sw.code)).Inc()
	}
}

// catalogChecks adapts the catalog to pos.Catalog.
type catalogChecks struct {
	stores, products, vendors map[string]bool
}

func newChecks(c *catalog.Catalog) catalogChecks {
	k := catalogChecks{stores: map[string]bool{}, products: map[string]bool{}, vendors: map[string]bool{}}
	for _, s := range c.Stores() {
		k.stores[s.StoreID] = true
	}
	for _, p := range c.Products() {
		k.products[p.SKU] = true
	}
	for _, v := range c.Vendors() {
		k.vendors[v.VendorID] = true
	}
	return k
}

func (k catalogChecks) HasStore(id string) bool    { return k.stores[id] }
func (k catalogChecks) HasProduct(sku string) bool { return k.products[sku] }
func (k catalogChecks) HasVendor(id string) bool   { return k.vendors[id] }
