package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/services/catalog"
	pricingapp "github.com/freshmart/platform/services/pricing/app"
)

// fakePricing answers GET /v1/price-accuracy for S001 with two mismatched SKUs, in the pricing
// service's own answer type, and 422 for any other store.
func fakePricing(t *testing.T) *httptest.Server {
	t.Helper()
	last := time.Date(2026, 12, 5, 15, 4, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/price-accuracy" {
			http.NotFound(w, r)
			return
		}
		store := r.URL.Query().Get("store_id")
		a := pricingapp.Accuracy{StoreID: store, SKUs: []pricingapp.AccuracySKU{}, Accuracy: 1}
		if store == "S001" {
			a = pricingapp.Accuracy{StoreID: store, SalesLinesChecked: 4000, MismatchedLines: 3, Accuracy: 3997.0 / 4000,
				SKUs: []pricingapp.AccuracySKU{
					{SKU: "PRD-0007", Name: "x", Mismatches: 2, LastExpectedCents: 249, LastChargedCents: 199, LastAt: last},
					{SKU: "PRD-0008", Name: "y", Mismatches: 1, LastExpectedCents: 100, LastChargedCents: 110, LastAt: last},
				}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPriceAccuracyCard: the store page shows the store's price accuracy and the SKUs charged
// at another price (their names from the catalog, the last time in the store's zone); a store
// with no mismatch says so; the chain page has each store's accuracy; with the pricing service
// down the card and the column say it is unavailable and the pages still render.
func TestPriceAccuracyCard(t *testing.T) {
	down := closedAddr(t)
	base := map[string]string{"KAFKA_BROKERS": down, "INVENTORY_URL": "http://" + down, "POS_URL": "http://" + down,
		"BROKER_HTTP_URL": "http://" + down, "COMPLAINTS_URL": "http://" + down, "ANALYTICS_URL": "http://" + down}
	serve := func(pricingURL string) string {
		env := map[string]string{"PRICING_URL": pricingURL}
		for k, v := range base {
			env[k] = v
		}
		svc := kittest.Build(t, Options, env)
		if _, err := New(svc); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(svc.Router)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	up := serve(fakePricing(t).URL)
	page := get(t, up+"/stores/S001")
	for _, want := range []string{`id="price-accuracy-body"`, `id="price-accuracy-percent">99.92%`, "4,000 sale lines", `id="price-mismatches">3`,
		`<tr data-sku="PRD-0007"><td class="sku">PRD-0007</td><td>` + mustProduct(t, "PRD-0007") + `</td><td class="num">2</td><td class="num">$2.49</td><td class="num">$1.99</td>`,
		"Dec 5, 10:04 AM", `data-sku="PRD-0008"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the store page lacks %q", want)
		}
	}
	if frag := get(t, up+"/fragments/price-accuracy?store=S002"); !strings.Contains(frag, "Every line was charged at the price in force.") ||
		!strings.Contains(frag, `id="price-accuracy-percent">—`) {
		t.Errorf("S002's card:\n%s", frag)
	}
	if resp, err := http.Get(up + "/fragments/price-accuracy?store=nope"); err != nil || resp.StatusCode != 404 {
		t.Errorf("fragment of an unknown store: %v %v", resp, err)
	}
	// The chain page's stores table has each store's accuracy.
	chain := get(t, up+"/")
	for _, want := range []string{`id="acc-S001"><strong class="up" title="3 of 4,000 lines at another price">99.92%`,
		`id="acc-S002"><strong class="up" title="0 of 0 lines at another price">—`} {
		if !strings.Contains(chain, want) {
			t.Errorf("the chain page lacks %q", want)
		}
	}
	gone := serve("http://" + down)
	if chain := get(t, gone+"/"); !strings.Contains(chain, `id="acc-S001"><span class="hint" title="Price accuracy is unavailable right now (pricing:`) {
		t.Errorf("with pricing down the chain page's accuracy column does not say so")
	}
	page = get(t, gone+"/stores/S001")
	if !strings.Contains(page, `id="price-accuracy-unavailable">Price accuracy is unavailable right now (pricing:`) || !strings.Contains(page, `id="stock-body"`) {
		t.Errorf("with pricing down the store page does not say so:\n%s", page)
	}
	if sys := get(t, gone+"/fragments/system"); !strings.Contains(sys, "<h2>pricing</h2>") {
		t.Errorf("the system page does not list pricing")
	}
}

func mustProduct(t *testing.T, sku string) string {
	t.Helper()
	p, err := catalog.MustLoad().Product(sku)
	if err != nil {
		t.Fatal(err)
	}
	return p.Name
}
