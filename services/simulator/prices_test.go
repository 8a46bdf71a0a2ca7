package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	pricingapp "github.com/freshmart/platform/services/pricing/app"
)

// recordSales is a stand-in POS that answers 202 and keeps the sales posted to it.
func recordSales(t *testing.T) (string, func() []schemas.SaleCompleted) {
	t.Helper()
	var mu sync.Mutex
	var sales []schemas.SaleCompleted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/sales" {
			var s schemas.SaleCompleted
			if err := json.Unmarshal(body, &s); err == nil {
				mu.Lock()
				sales = append(sales, s)
				mu.Unlock()
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []schemas.SaleCompleted {
		mu.Lock()
		defer mu.Unlock()
		return append([]schemas.SaleCompleted(nil), sales...)
	}
}

func send(t *testing.T, method, url string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
}

// TestChargesPricesInForce runs the simulator against the real pricing service (the POS is a
// stand-in): after a price change in S001 and a promotion in S002, every line is charged the
// price in force in its store, the promotion's included, and totals add up.
func TestChargesPricesInForce(t *testing.T) {
	b := brokertest.Start(t)
	svc := kittest.Start(t, pricingapp.Options, map[string]string{"KAFKA_BROKERS": b.Addr, "DATABASE_URL": pgtest.New(t)},
		func(_ context.Context, s *kit.Service) error {
			_, err := pricingapp.New(s, pricingapp.Config{})
			return err
		})
	pricing := kittest.URL(svc)
	cat := catalog.MustLoad()
	stores, products, err := FromCatalog(cat, []string{"S001", "S002"})
	if err != nil {
		t.Fatal(err)
	}
	// Every product 1 cent dearer in S001; everything at 50% off in S002.
	for _, p := range products {
		send(t, "PUT", pricing+"/v1/prices/"+p.SKU, map[string]any{"price_cents": p.PriceCents + 1, "store_id": "S001"})
	}
	var skus []string
	for _, p := range products {
		skus = append(skus, p.SKU)
	}
	now := time.Now().UTC()
	send(t, "POST", pricing+"/v1/promotions", map[string]any{"skus": skus, "store_ids": []string{"S002"}, "percent_off": 50,
		"title": "Half price", "starts_at": now.Add(-time.Hour).Format(time.RFC3339), "ends_at": now.Add(time.Hour).Format(time.RFC3339)})

	pos, posted := recordSales(t)
	prices := &Prices{URL: pricing, Stores: []string{"S001", "S002"}, StaleEvery: -1, Logger: slog.New(slog.DiscardHandler)}
	if err := prices.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Stores: stores, Products: products, Seed: 3, Start: now, Rate: 100, SalesPerMinute: 50, CountsPerMinute: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{BaseURL: pos, ReportEvery: -1, Logger: slog.New(slog.DiscardHandler), Charge: prices.Charge}
	if _, err := r.Run(context.Background(), g, 4*time.Second); err != nil {
		t.Fatal(err)
	}
	sales := posted()
	if len(sales) < 20 {
		t.Fatalf("only %d sales posted", len(sales))
	}
	byStore := map[string]int{}
	for _, s := range sales {
		var total int64
		for _, l := range s.Lines {
			p, _ := cat.Product(l.SKU)
			want := p.PriceCents + 1
			if s.StoreID == "S002" {
				want = (p.PriceCents + 1) / 2 // 50% off, halves rounded up
			}
			if l.UnitPriceCents != want {
				t.Fatalf("%s %s charged %d, want %d (catalog %d)", s.StoreID, l.SKU, l.UnitPriceCents, want, p.PriceCents)
			}
			total += l.Qty * l.UnitPriceCents
		}
		if s.TotalCents != total || s.Payment.AmountCents != total {
			t.Fatalf("sale total %d, paid %d, lines add up to %d", s.TotalCents, s.Payment.AmountCents, total)
		}
		byStore[s.StoreID]++
	}
	if byStore["S001"] == 0 || byStore["S002"] == 0 {
		t.Fatalf("sales per store %v", byStore)
	}
}

// TestPricesFallBack: with the pricing service unreachable the lines keep the catalog's prices;
// a stale line is never the price in force.
func TestPricesFallBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	p := &Prices{URL: dead, Stores: []string{"S001"}, Logger: slog.New(slog.DiscardHandler), Client: &http.Client{Timeout: time.Second}}
	if err := p.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh against a closed port succeeded")
	}
	s := &schemas.SaleCompleted{StoreID: "S001", Lines: []schemas.SaleLine{{SKU: "PRD-0001", Qty: 2, UnitPriceCents: 150}}, TotalCents: 300}
	p.Charge(s)
	if s.Lines[0].UnitPriceCents != 150 || s.TotalCents != 300 {
		t.Fatalf("charged %+v without a price book, want the catalog's", s)
	}

	// With prices and every line stale: never the price in force.
	st := &Prices{StaleEvery: 1, Logger: slog.New(slog.DiscardHandler)}
	st.defaults()
	st.now = map[priceKey]priceInForce{{"S001", "PRD-0001"}: {price: 120, regular: 150}, {"S001", "PRD-0002"}: {price: 99, regular: 99}}
	s = &schemas.SaleCompleted{StoreID: "S001", Lines: []schemas.SaleLine{{SKU: "PRD-0001", Qty: 1, UnitPriceCents: 150}, {SKU: "PRD-0002", Qty: 1, UnitPriceCents: 99}}}
	st.Charge(s)
	if s.Lines[0].UnitPriceCents != 150 || s.Lines[1].UnitPriceCents != 109 || s.TotalCents != 259 {
		t.Fatalf("stale lines %+v", s.Lines)
	}
	if n, stale := st.Stale(); n != 2 || stale != 2 {
		t.Fatalf("Stale() = %d, %d", n, stale)
	}
}
