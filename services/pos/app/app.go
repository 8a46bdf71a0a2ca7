// Package app wires the POS (store edge) service: the HTTP API of the checkout lanes
// (POST /v1/sales, POST /v1/sales/{sale_id}/void), the dock scanner (POST /v1/deliveries) and
// the warehouse scanner (POST /v1/stock-counts), the reference data (GET /v1/stores,
// GET /v1/products) and /healthz, /readyz, /metrics (from the service kit). Validation lives in
// package pos; this package decodes, produces with acks=all and the idempotent producer, and
// answers 202 only once the broker acknowledged.
//
// Once the broker acknowledged an event, the POS records its id with the partition and offset
// in pos.accepted (Postgres, shared by every POS instance) and in a bounded in-memory cache in
// front of it. A sale, delivery or count posted again with the same id, to this or any other
// instance, is answered 202 with the first partition and offset and not produced again. Two
// first attempts racing on different instances may both be produced (with the same CloudEvents
// id, the business id); consumers drop the second by id. If Postgres fails the POS keeps
// accepting (logged and counted in pos_accepted_db_errors_total).
//
// A void names a sale the POS accepted: its store and occurred_at come from pos.accepted (kind
// 'sale'), so a sale no instance recorded is 404 and, with Postgres down, a void is 503 (the
// sale cannot be checked). The void is recorded in pos.accepted as kind 'void' under its id,
// derived from the sale id, so a sale is voided once: voiding it again, on any instance, is
// answered with the first void.
package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/catalog"
)

// MaxBody is the largest request body accepted (1 MiB); larger bodies get 413.
const MaxBody = 1 << 20

// Options is what the POS asks of the service kit: Postgres for pos.accepted and the
// producer, answering on 127.0.0.1:8081 unless HTTP_ADDR says otherwise. A record the broker
// has not acknowledged within 5 s is answered 503 with Retry-After.
var Options = kit.Options{Name: "pos", Addr: "127.0.0.1:8081", Database: true, Producer: true,
	DeliveryTimeout: 5 * time.Second}

// App is the POS wired onto a kit.Service.
type App struct {
	log      *slog.Logger
	cat      *catalog.Catalog
	checks   catalogChecks
	producer *events.Producer
	pool     *pgxpool.Pool
	recent   *events.Accepted
	clock    clock.Clock // the bound on a void's voided_at
	replays  *prometheus.CounterVec
	dbErrors prometheus.Counter
}

// New wires the POS onto s (built with Options): its routes on s.Router, its metrics on
// s.Registry.
func New(s *kit.Service) (*App, error) {
	if s.Pool == nil || s.Producer == nil {
		return nil, fmt.Errorf("pos: the service needs Postgres (pos.accepted) and a producer; build it with app.Options")
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("pos: catalog: %w", err)
	}
	a := &App{
		log: s.Log, cat: cat, checks: newChecks(cat), producer: s.Producer, pool: s.Pool, recent: events.NewAccepted(100_000), clock: clock.Real(),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pos_replayed_total", Help: "Requests answered from an earlier acceptance of the same id, by kind.",
		}, []string{"kind"}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pos_accepted_db_errors_total", Help: "Failed reads or writes of pos.accepted (the request went on without them).",
		}),
	}
	s.Registry.MustRegister(a.replays, a.dbErrors)
	a.routes(s.Router)
	return a, nil
}

func (a *App) routes(r chi.Router) {
	r.Post("/v1/sales", a.postSale)
	r.Post("/v1/sales/{sale_id}/void", a.postVoid)
	r.Post("/v1/deliveries", a.postDelivery)
	r.Post("/v1/stock-counts", a.postCount)
	r.Get("/v1/stores", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"stores": a.cat.Stores()})
	})
	r.Get("/v1/products", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"products": a.cat.Products()})
	})
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
