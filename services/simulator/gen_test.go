package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// testCatalog is a small made-up catalog: 4 departments, 3 vendors, 40 SKUs.
func testCatalog(t *testing.T) ([]Store, []Product) {
	t.Helper()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("load time zone: %v", err)
	}
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatalf("load time zone: %v", err)
	}
	stores := []Store{{ID: "S001", Location: ny}, {ID: "S002", Location: la}}
	depts := []string{"produce", "dairy", "bakery", "household"}
	var products []Product
	for i := range 40 {
		products = append(products, Product{
			SKU:          fmt.Sprintf("PRD-%04d", i+1),
			Department:   depts[i%len(depts)],
			PriceCents:   int64(99 + 37*i),
			Threshold:    10,
			ReorderQty:   12,
			VendorID:     fmt.Sprintf("V%03d", i%3+1),
			InitialStock: 400,
		})
	}
	return stores, products
}

func generate(t *testing.T, cfg Config, n int) []Event {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = g.Next()
	}
	return evs
}

func TestSameSeedSameStream(t *testing.T) {
	stores, products := testCatalog(t)
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	cfg := Config{Stores: stores, Products: products, Seed: 42, Start: start, Rate: 100}
	a := generate(t, cfg, 3000)
	// The same catalog listed in another order must not change the stream.
	rev := append([]Product(nil), products...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	cfg.Products = rev
	b := generate(t, cfg, 3000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed produced two different streams")
	}
	cfg.Seed = 43
	c := generate(t, cfg, 3000)
	if reflect.DeepEqual(a[0].Body(), c[0].Body()) {
		t.Fatal("seeds 42 and 43 produced the same first event")
	}
}

func TestStreamShape(t *testing.T) {
	stores, products := testCatalog(t)
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	g, err := New(Config{Stores: stores, Products: products, Seed: 7, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	var kinds [3]int
	perHour := map[string]map[int]int{} // store -> local hour -> sales
	ids := map[string]bool{}
	var last time.Time
	for {
		ev := g.Next()
		if ev.At.Sub(start) >= 24*time.Hour {
			break
		}
		if ev.At.Before(last) {
			t.Fatalf("event at %v after one at %v", ev.At, last)
		}
		last = ev.At
		if ids[ev.ID()] {
			t.Fatalf("id %s used twice", ev.ID())
		}
		ids[ev.ID()] = true
		kinds[ev.Kind]++
		switch ev.Kind {
		case KindSale:
			s := ev.Sale
			if len(s.Lines) == 0 || s.Payment.AmountCents != s.TotalCents || s.TotalCents <= 0 {
				t.Fatalf("bad sale %+v", s)
			}
			for _, l := range s.Lines {
				if l.Qty < 1 {
					t.Fatalf("line qty %d in %+v", l.Qty, s)
				}
			}
			if s.OccurredAt.IsZero() || s.OccurredAt.Location() != time.UTC {
				t.Fatalf("occurred_at %v is not a UTC time", s.OccurredAt)
			}
			var loc *time.Location
			for _, st := range stores {
				if st.ID == s.StoreID {
					loc = st.Location
				}
			}
			if perHour[s.StoreID] == nil {
				perHour[s.StoreID] = map[int]int{}
			}
			perHour[s.StoreID][ev.At.In(loc).Hour()]++
		case KindCount:
			for _, l := range ev.Count.Lines {
				if l.Qty < 0 {
					t.Fatalf("negative count %+v", ev.Count)
				}
			}
		case KindDelivery:
			if len(ev.Delivery.Lines) == 0 || ev.Delivery.VendorID == "" {
				t.Fatalf("empty delivery %+v", ev.Delivery)
			}
			for _, l := range ev.Delivery.Lines {
				if l.Qty < 12 || l.Qty%12 != 0 {
					t.Fatalf("delivery qty %d is not whole packs of 12", l.Qty)
				}
			}
		}
	}
	// A day at rate 1 for two stores: about 2*50*1440 sales, 2*20*1440 counts, 2*5*24 deliveries.
	checks := []struct {
		name      string
		got       int
		want      float64
		tolerance float64
	}{
		{"sales", kinds[KindSale], 2 * 50 * 1440, 0.15},
		{"counts", kinds[KindCount], 2 * 20 * 1440, 0.05},
		{"deliveries", kinds[KindDelivery], 2 * 5 * 24, 0.3},
	}
	for _, c := range checks {
		if float64(c.got) < c.want*(1-c.tolerance) || float64(c.got) > c.want*(1+c.tolerance) {
			t.Errorf("%s per day = %d, want about %.0f", c.name, c.got, c.want)
		}
	}
	for store, hours := range perHour {
		if hours[18] < 3*hours[3] || hours[12] < 3*hours[3] {
			t.Errorf("store %s: sales at 12h=%d, 18h=%d, 3h=%d: peaks missing", store, hours[12], hours[18], hours[3])
		}
	}
	for _, st := range stores {
		for _, p := range products {
			if n, ok := g.OnHand(st.ID, p.SKU); !ok || n < 0 {
				t.Fatalf("model stock %s/%s = %d, %v", st.ID, p.SKU, n, ok)
			}
		}
	}
}

func TestBodiesMatchTheContract(t *testing.T) {
	stores, products := testCatalog(t)
	evs := generate(t, Config{Stores: stores, Products: products, Seed: 1, Start: time.Unix(1_800_000_000, 0), Rate: 500}, 2000)
	want := map[Kind][]string{
		KindSale:     {"sale_id", "store_id", "register", "occurred_at", "lines", "payment"},
		KindCount:    {"count_id", "store_id", "counted_at", "lines"},
		KindDelivery: {"delivery_id", "store_id", "vendor_id", "received_at", "lines"},
	}
	seen := map[Kind]bool{}
	for _, ev := range evs {
		b, err := json.Marshal(ev.Body())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range want[ev.Kind] {
			if _, ok := m[f]; !ok {
				t.Fatalf("%s body %s lacks %q", ev.Kind, b, f)
			}
		}
		// The body is the event's payload as the POS produces it, so it satisfies the schema.
		typ := map[Kind]string{KindSale: "sale.completed", KindCount: "stock.counted", KindDelivery: "delivery.received"}[ev.Kind]
		if err := schemas.Validate(typ, b); err != nil {
			t.Fatalf("%s body %s: %v", ev.Kind, b, err)
		}
		seen[ev.Kind] = true
	}
	if len(seen) != 3 {
		t.Fatalf("saw kinds %v, want all three", seen)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	stores, products := testCatalog(t)
	start := time.Now()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no stores", Config{Products: products, Start: start}},
		{"no products", Config{Stores: stores, Start: start}},
		{"no start", Config{Stores: stores, Products: products}},
		{"negative rate", Config{Stores: stores, Products: products, Start: start, Rate: -1}},
		{"negative complaints", Config{Stores: stores, Products: products, Start: start, Complaints: true, ComplaintsPerMinute: -1}},
		{"void share above 1", Config{Stores: stores, Products: products, Start: start, Voids: true, VoidShare: 1.5}},
		{"negative void share", Config{Stores: stores, Products: products, Start: start, Voids: true, VoidShare: -0.1}},
		{"NaN void share", Config{Stores: stores, Products: products, Start: start, Voids: true, VoidShare: math.NaN()}},
		{"negative void delay", Config{Stores: stores, Products: products, Start: start, Voids: true, VoidDelay: -time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

// TestSameSeedSameSalesFromTheCatalog runs the generator twice over the chain's real catalog at a
// fixed seed and compares the sales as the POS would receive them, byte for byte.
func TestSameSeedSameSalesFromTheCatalog(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	stores, products, err := FromCatalog(cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func() []string {
		g, err := New(Config{Stores: stores, Products: products, Seed: 2026, Start: time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC), Rate: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for len(out) < 2000 {
			if ev := g.Next(); ev.Kind == KindSale {
				b, err := json.Marshal(ev.Sale)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(b))
			}
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("sale %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
	if _, _, err := FromCatalog(cat, []string{"S999"}); err == nil {
		t.Fatal("an unknown store was accepted")
	}
}

// TestFromCatalogPicksOnlyTheStoresNamed: naming two stores simulates those two, not every
// store after them.
func TestFromCatalogPicksOnlyTheStoresNamed(t *testing.T) {
	stores, _, err := FromCatalog(catalog.MustLoad(), []string{"S001", "S002"})
	if err != nil || len(stores) != 2 || stores[0].ID != "S001" || stores[1].ID != "S002" {
		t.Fatalf("FromCatalog(S001,S002) = %v, %v", stores, err)
	}
	if _, _, err := FromCatalog(catalog.MustLoad(), []string{"S001", "S999"}); err == nil {
		t.Fatal("an unknown store was accepted")
	}
}
