package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The pricing part of the dashboard: a store page's price accuracy (the share of the sale
// lines its lanes charged at the price in force, and the SKUs charged otherwise), and the
// chain page's accuracy column (each store's share), read from the pricing service's API
// (PRICING_URL) when the page or its fragment is asked for. When the
// pricing service does not answer, the card says so and the rest of the page is unaffected.

// DefaultPricingURL is where the pricing service answers unless PRICING_URL says otherwise.
const DefaultPricingURL = "http://127.0.0.1:8084"

// pricingClient reads the pricing service's API.
type pricingClient struct {
	base   string
	client *http.Client
}

// apiAccuracy is the pricing API's GET /v1/price-accuracy answer.
type apiAccuracy struct {
	StoreID           string  `json:"store_id"`
	SalesLinesChecked int64   `json:"sales_lines_checked"`
	MismatchedLines   int64   `json:"mismatched_lines"`
	Accuracy          float64 `json:"accuracy"`
	SKUs              []struct {
		SKU               string    `json:"sku"`
		Name              string    `json:"name"`
		Mismatches        int64     `json:"mismatches"`
		LastExpectedCents int64     `json:"last_expected_cents"`
		LastChargedCents  int64     `json:"last_charged_cents"`
		LastAt            time.Time `json:"last_at"`
	} `json:"skus"`
}

func (c *pricingClient) accuracy(ctx context.Context, store string) (apiAccuracy, error) {
	var a apiAccuracy
	err := getJSON(ctx, c.client, "pricing", c.base, "/v1/price-accuracy", url.Values{"store_id": {store}}, &a)
	return a, err
}

// PriceAccuracy is a store's price-accuracy card.
type PriceAccuracy struct {
	// Err says the pricing service could not be asked; the rest is then empty.
	Err        string
	Checked    int64
	Mismatched int64
	// Percent is the accuracy, e.g. "99.95%" ("—" before any line was checked).
	Percent string
	// Good is set when at least 99.5% of the lines were right.
	Good bool
	SKUs []AccuracyRow
}

// AccuracyRow is a SKU of the store charged at another price than the one in force.
type AccuracyRow struct {
	SKU, Name         string
	Mismatches        int64
	Expected, Charged string // the last mismatch's prices, e.g. "$2.49"
	LastAt            time.Time
	LocalTime         string // LastAt in the store's zone
}

// priceAccuracyShown bounds the SKUs the card lists.
const priceAccuracyShown = 15

// priceAccuracy builds the store's price-accuracy card.
func (s *Server) priceAccuracy(ctx context.Context, store string) *PriceAccuracy {
	a, err := s.pricing.accuracy(ctx, store)
	if err != nil {
		return &PriceAccuracy{Err: fmt.Sprintf("Price accuracy is unavailable right now (%v).", err)}
	}
	v := &PriceAccuracy{Checked: a.SalesLinesChecked, Mismatched: a.MismatchedLines, Percent: "—", Good: a.Accuracy >= 0.995}
	if a.SalesLinesChecked > 0 {
		v.Percent = strconv.FormatFloat(100*a.Accuracy, 'f', 2, 64) + "%"
	}
	loc := time.UTC
	if st, err := s.cat.Store(store); err == nil {
		if l, err := st.Location(); err == nil {
			loc = l
		}
	}
	for i, k := range a.SKUs {
		if i == priceAccuracyShown {
			break
		}
		name := k.Name
		if p, err := s.cat.Product(k.SKU); err == nil {
			name = p.Name
		}
		v.SKUs = append(v.SKUs, AccuracyRow{SKU: k.SKU, Name: name, Mismatches: k.Mismatches,
			Expected: money(k.LastExpectedCents), Charged: money(k.LastChargedCents), LastAt: k.LastAt,
			LocalTime: k.LastAt.In(loc).Format("Jan 2, 3:04 PM")})
	}
	return v
}

// priceAccuracyFragment is a store page's price-accuracy card, refreshed by the page.
func (s *Server) priceAccuracyFragment(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("store")
	if _, err := s.cat.Store(id); err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", id))
		return
	}
	s.render(w, "priceaccuracy", page{PriceAccuracy: s.priceAccuracy(r.Context(), id)})
}
