// Package app wires the inventory service: the exactly-once consumer (internal/stream)
// that folds pos-sales, vendor-deliveries and the counts in inventory-updates into stock tables
// in Postgres, the outbox relay that produces stock.level, alert.low_stock / alert.restocked and
// stock.badge,
// the HTTP API (GET /v1/stock, GET /v1/alerts; /healthz, /readyz and /metrics come from the
// service kit) and the rebuild command. The stock rules themselves live in package inventory.
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
// A sale.voided (the POS's POST /v1/sales/{sale_id}/void) puts its sale's units back: the fold
// records the lines of every sale it folds (inventory.sale_lines) and applies a void as those
// lines' units coming back at the void's time (inventory.Void, inventory.VoidAt), a movement
// like a delivery's, so a count taken after it already includes them and the rebuild equals the
// live view. A void applies once per sale (inventory.processed: ('void', sale_id)); a second one
// is a duplicate, and a void of a sale the service never folded (in that store) changes nothing
// and is counted as unmatched in inventory_events_total. A restocked crossing caused by a void
// alerts as a delivery's does, and its stock.level names the cause {"type": "void", "id":
// sale_id}.
package app

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// Options is what the inventory asks of the service kit: Postgres and the producer (for the
// outbox relay), answering on 127.0.0.1:8082 unless HTTP_ADDR says otherwise.
var Options = kit.Options{Name: "inventory", Addr: "127.0.0.1:8082", Database: true, Producer: true}

// RebuildOptions is what `inventory rebuild` asks of the kit: Postgres only.
var RebuildOptions = kit.Options{Name: "inventory", Database: true}

// App is the inventory wired onto a kit.Service.
type App struct {
	log      *slog.Logger
	ref      Reference
	pool     *pgxpool.Pool
	folder   *Folder
	events   *prometheus.CounterVec
	consumer *stream.Consumer
}

// New wires the inventory onto s (built with Options): the consumer folding the three input
// topics, the outbox relay, the API routes and the service's metrics.
func New(s *kit.Service) (*App, error) {
	ref, err := LoadReference()
	if err != nil {
		return nil, err
	}
	a := &App{log: s.Log, ref: ref, pool: s.Pool, folder: NewFolder(ref, s.Name), events: newEventsCounter(s.Registry)}
	a.consumer, err = s.Consumer(stream.Config{
		Group:        Group,
		Topics:       []string{schemas.TopicPOSSales, schemas.TopicVendorDeliveries, schemas.TopicInventoryUpdates},
		Schema:       "inventory",
		BatchHandler: a.handle,
		// Big batches: each costs a handful of round trips whatever its size.
		MaxPollRecords: 5000,
		// A killed instance's partitions move to the others after this long.
		ClientOpts: []kgo.Opt{kgo.SessionTimeout(10 * time.Second)},
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.Relay("inventory"); err != nil {
		return nil, err
	}
	a.routes(s.Router)
	return a, nil
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
