// Package app wires the POS (store edge) service: the HTTP API of the checkout lanes
// (POST /v1/sales), the dock scanner (POST /v1/deliveries) and the warehouse scanner
// (POST /v1/stock-counts), the reference data (GET /v1/stores, GET /v1/products) and
// /healthz, /readyz, /metrics. Validation lives in package pos; this package decodes, produces
// with acks=all and the idempotent producer, and answers 202 only once the broker acknowledged.
//
// The POS keeps no state of its own. A sale posted again with the same sale_id is produced
// again with the same CloudEvents id (the sale_id) unless this process still remembers it, in
// which case the first answer is repeated; either way consumers count it once, by sale_id.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/internal/events"
)

// Source is the ce_source of the events the POS produces.
const Source = "freshmart/pos"

// MaxBody is the largest request body accepted (1 MiB); larger bodies get 413.
const MaxBody = 1 << 20

// Config configures the POS service.
type Config struct {
	// Brokers are the Kafka seed brokers (KAFKA_BROKERS; default 127.0.0.1:9092).
	Brokers []string
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
	recent   *recent
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu   sync.Mutex
	addr net.Addr
}

// New prepares the service; the broker is connected lazily.
func New(cfg Config) (*App, error) {
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
		DeliveryTimeout: cfg.DeliveryTimeout,
		Opts:            []kgo.Opt{kgo.WithHooks(kprom.NewMetrics("pos", kprom.Registry(reg)))},
	})
	if err != nil {
		return nil, fmt.Errorf("pos: %w", err)
	}
	a := &App{
		cfg: cfg, log: cfg.Logger, cat: cat, checks: newChecks(cat), producer: producer, reg: reg,
		recent: newRecent(100_000),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pos_requests_total", Help: "POS API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pos_request_seconds", Help: "POS API request latency by route (including the broker acknowledgement).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
	}
	reg.MustRegister(a.requests, a.latency)
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
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", a.ready)
	r.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	r.Post("/v1/sales", a.instrument("sales", a.postSale))
	r.Post("/v1/deliveries", a.instrument("deliveries", a.postDelivery))
	r.Post("/v1/stock-counts", a.instrument("stock-counts", a.postCount))
	r.Get("/v1/stores", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"stores": a.cat.Stores()})
	})
	r.Get("/v1/products", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"products": a.cat.Products()})
	})
	return r
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := a.producer.Client().Ping(ctx); err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"broker": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"broker": "ok"})
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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

// recent remembers the answers to recently accepted ids (bounded, oldest forgotten first), so
// that a retry to the same process is answered without producing again.
type recent struct {
	mu    sync.Mutex
	max   int
	order []string
	byID  map[string]accepted
}

type accepted struct {
	Partition int32
	Offset    int64
}

func newRecent(max int) *recent { return &recent{max: max, byID: map[string]accepted{}} }

func (r *recent) get(id string) (accepted, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.byID[id]
	return v, ok
}

func (r *recent) put(id string, v accepted) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[id]; ok {
		return
	}
	if len(r.order) >= r.max {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
	r.order = append(r.order, id)
	r.byID[id] = v
}
