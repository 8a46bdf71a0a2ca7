package simulator

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	posapp "github.com/freshmart/platform/services/pos/app"
	reorderapp "github.com/freshmart/platform/services/reorder/app"
)

func TestPlanMistakes(t *testing.T) {
	o := OpenOrder{PONumber: "PO-S001-V001-00001", Lines: []OrderLine{{SKU: "PRD-0001", Qty: 96, UnitCostCents: 129}, {SKU: "PRD-0003", Qty: 60, UnitCostCents: 324}}}
	rng := rand.New(rand.NewPCG(1, 2))
	var short, over, mis int
	for range 2000 {
		v := Plan(o, rng, 0.1, 0.05, 0.1)
		var d int64
		for i, q := range v.Delivered {
			d += q - o.Lines[i].Qty
		}
		switch {
		case v.Short && d != -12, v.Over && d != 12, !v.Short && !v.Over && d != 0:
			t.Fatalf("plan %+v: delivered %+d", v, d)
		}
		if v.Short {
			short++
		}
		if v.Over {
			over++
		}
		if v.Mispriced {
			mis++
		}
	}
	if short < 140 || short > 260 || over < 60 || over > 140 || mis < 140 || mis > 260 {
		t.Fatalf("of 2000 orders: %d short, %d over, %d mispriced", short, over, mis)
	}
}

// TestPurchasingAgainstRealServices: orders the real reorder service made from low-stock
// alerts are delivered through the real POS dock API and invoiced; the reorder service
// receives them and approves the exact invoices and holds the others. Before the reorder
// service is up, Purchasing keeps going and counts the failed polls. The lanes of a generator
// with Config.Purchasing run against the same POS first: they send no delivery of their own,
// so every delivery the reorder service saw names a real order (none unknown_po), and the
// units delivered are added to the generator's shelves through OnDelivered and Restock.
func TestPurchasingAgainstRealServices(t *testing.T) {
	b := brokertest.Start(t)
	vars := func() map[string]string {
		return map[string]string{"KAFKA_BROKERS": b.Addr, "DATABASE_URL": pgtest.New(t)}
	}
	pos := kittest.Start(t, posapp.Options, vars(), func(_ context.Context, s *kit.Service) error { _, err := posapp.New(s); return err })
	// The reorder service's address is reserved first, so Purchasing can be pointed at it
	// while nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cat := catalog.MustLoad()
	simStores, simProducts, err := FromCatalog(cat, []string{"S001", "S002", "S003"})
	if err != nil {
		t.Fatal(err)
	}
	// The simulated clock starts at the latest noon of the first store, within the last day:
	// at night the lanes sell next to nothing (hourCurve), and 2 s of them might sell nothing.
	now := time.Now().In(simStores[0].Location)
	start := now.Add(-time.Duration((now.Hour()-12+24)%24) * time.Hour).UTC()
	gen, err := New(Config{Stores: simStores, Products: simProducts, Seed: 7, Start: start, Rate: 5, Purchasing: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	p := &Purchasing{OnDelivered: gen.Restock, POSURL: kittest.URL(pos), ReorderURL: "http://" + addr, Poll: 50 * time.Millisecond,
		DeliverAfter: 10 * time.Millisecond, InvoiceAfter: 10 * time.Millisecond, ShortShare: 0.3, OverShare: 0.2, PriceShare: 0.3, Seed: 7,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	wg.Go(func() { p.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().PollFailures < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p.Stats().PollFailures < 3 {
		t.Fatal("no failed polls while the reorder service was down")
	}
	rv := vars()
	rv["HTTP_ADDR"] = addr
	reorder := kittest.Start(t, reorderapp.Options, rv, func(_ context.Context, s *kit.Service) error {
		_, err := reorderapp.New(s, reorderapp.Config{SpoolDir: t.TempDir(), Window: time.Second})
		return err
	})
	// A few seconds of the chain's lanes, to the end, before any order is made.
	runner := &Runner{BaseURL: kittest.URL(pos), ReportEvery: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rs, err := runner.Run(ctx, gen, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Sales.Accepted == 0 || rs.Deliveries.Sent != 0 {
		t.Fatalf("the lanes with purchasing: %+v", rs)
	}
	shelf := func(store, sku string) int {
		n, ok := gen.OnHand(store, sku)
		if !ok {
			t.Fatalf("%s/%s unknown to the generator", store, sku)
		}
		return n
	}
	type key struct{ store, sku string }
	before := map[key]int{}
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: []string{b.Addr}, Source: "freshmart/test"})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	skus := []string{"PRD-0001", "PRD-0002", "PRD-0003", "PRD-0004", "PRD-0005", "PRD-0006", "PRD-0007", "PRD-0008"}
	stores := []string{"S001", "S002", "S003"}
	for _, st := range stores {
		for _, sku := range skus {
			before[key{st, sku}] = shelf(st, sku)
			a := schemas.StockAlert{AlertID: uuid.NewString(), StoreID: st, SKU: sku, OnHand: 1, Threshold: 10, At: time.Now().UTC()}
			if _, _, err := prod.Produce(ctx, events.Out{Topic: schemas.TopicStoreAlerts, Key: st, Type: schemas.TypeAlertLowStock, ID: a.AlertID, Payload: a}); err != nil {
				t.Fatal(err)
			}
		}
	}
	type invoice struct {
		InvoiceID string `json:"invoice_id"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
	}
	var invs []invoice
	var orders int
	deadline = time.Now().Add(30 * time.Second)
	for {
		var body struct {
			Invoices []invoice `json:"invoices"`
		}
		resp, err := http.Get(kittest.URL(reorder) + "/v1/invoices?limit=1000")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck // checked by the count
			resp.Body.Close()
		}
		var pos struct {
			PurchaseOrders []json.RawMessage `json:"purchase_orders"`
		}
		if resp, err := http.Get(kittest.URL(reorder) + "/v1/purchase-orders?limit=1000"); err == nil {
			json.NewDecoder(resp.Body).Decode(&pos) //nolint:errcheck // checked by the count
			resp.Body.Close()
		}
		invs, orders = body.Invoices, len(pos.PurchaseOrders)
		decided := 0
		for _, i := range invs {
			if i.Status != "pending" {
				decided++
			}
		}
		if orders > 0 && decided == orders {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d orders, invoices %+v, purchasing %+v", orders, invs, p.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := p.Stats()
	held := map[string]int{}
	approved := 0
	for _, i := range invs {
		if i.Status == "approved" {
			approved++
		} else {
			held[i.Reason]++
		}
	}
	if st.Deliveries != int64(orders) || st.Invoices != int64(orders) || approved == 0 {
		t.Fatalf("%d orders; purchasing %+v; %d approved, held %v", orders, st, approved, held)
	}
	// Every mistake is held for its reason, and only mistakes are: a delivery both short (or
	// over) and mispriced counts by its quantity.
	if held["short_delivery"]+held["over_delivery"]+held["price_mismatch"] != len(invs)-approved ||
		int64(held["short_delivery"]) != st.Short || int64(held["over_delivery"]) != st.Over {
		t.Fatalf("held %v for purchasing %+v", held, st)
	}
	// Every delivery the reorder service has seen is one of its orders', and each added its
	// units to the generator's shelves.
	var dl struct {
		Deliveries []struct {
			StoreID  string            `json:"store_id"`
			PONumber string            `json:"po_number"`
			Reason   string            `json:"reason"`
			Lines    []schemas.QtyLine `json:"lines"`
		} `json:"deliveries"`
	}
	resp, err := http.Get(kittest.URL(reorder) + "/v1/deliveries?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&dl); err != nil {
		t.Fatal(err)
	}
	if int64(len(dl.Deliveries)) != st.Deliveries {
		t.Fatalf("the reorder service saw %d deliveries, purchasing made %d", len(dl.Deliveries), st.Deliveries)
	}
	want := map[key]int{}
	for k, n := range before {
		want[k] = n
	}
	for _, d := range dl.Deliveries {
		if d.PONumber == "" || d.Reason == "unknown_po" {
			t.Fatalf("a delivery of no known order: %+v", d)
		}
		for _, l := range d.Lines {
			want[key{d.StoreID, l.SKU}] += int(l.Qty)
		}
	}
	for k, n := range want {
		if got := shelf(k.store, k.sku); got != n {
			t.Errorf("%s/%s: the generator's shelf has %d, want %d (before the orders) + what was delivered = %d", k.store, k.sku, got, before[k], n)
		}
	}
}
