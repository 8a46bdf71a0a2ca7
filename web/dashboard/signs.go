package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/freshmart/platform/services/catalog"
)

// The shelf signs part of the dashboard: a store page's signs panel (every sign of the store
// with a token: connected or not, out of date, its last acknowledgement), read from the
// pricing service's GET /v1/signs (PRICING_URL) and read again by the page every 5 seconds
// (/fragments/signs), and the sign page, /signs/{store}/{sign},
// which a browser standing in for a shelf label opens. The sign page's websocket goes straight
// to the pricing service (its address derived from PRICING_URL; the hub allows the dashboard's
// origin, SIGNS_ALLOWED_ORIGINS), so the dashboard carries no sign traffic.

// SignRow is one sign as the store page lists it (the pricing service's GET /v1/signs).
type SignRow struct {
	Sign           string     `json:"sign"`
	StoreID        string     `json:"store_id"`
	SKUs           []string   `json:"skus"`
	Connected      bool       `json:"connected"`
	LastAckVersion int64      `json:"last_ack_version"`
	LastAckAt      *time.Time `json:"last_ack_at"`
	LastSeenAt     *time.Time `json:"last_seen_at"`
	Behind         int64      `json:"behind"`
	OutOfDate      bool       `json:"out_of_date"`
	// LastAck is LastAckAt in the store's zone ("" when never acknowledged).
	LastAck string `json:"-"`
	// Page is the sign page of the sign, without its token.
	Page string `json:"-"`
}

// SignsPanel is a store page's signs card.
type SignsPanel struct {
	StoreID   string
	Signs     []SignRow
	Connected int
	OutOfDate int
	// Err says the pricing service could not be asked.
	Err string
	// Demo is a sign page of the store's produce aisle (a token must be added).
	Demo string
}

// signs reads the pricing service's GET /v1/signs for a store.
func (c *pricingClient) signs(ctx context.Context, store string) ([]SignRow, error) {
	var out struct {
		Signs []SignRow `json:"signs"`
	}
	err := getJSON(ctx, c.client, "pricing", c.base, "/v1/signs", url.Values{"store_id": {store}}, &out)
	return out.Signs, err
}

// wsURL is the signs hub's websocket endpoint as a browser reaches it.
func (c *pricingClient) wsURL() string {
	u := c.base
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return strings.TrimSuffix(u, "/") + "/v1/signs/ws"
}

func (s *Server) signsPanel(ctx context.Context, store string) *SignsPanel {
	p := &SignsPanel{StoreID: store, Demo: "/signs/" + store + "/demo?aisle=produce"}
	rows, err := s.pricing.signs(ctx, store)
	if err != nil {
		p.Err = fmt.Sprintf("Sign status is unavailable right now (%v).", err)
		return p
	}
	loc := s.location(store)
	for i := range rows {
		r := &rows[i]
		if r.Connected {
			p.Connected++
		}
		if r.OutOfDate {
			p.OutOfDate++
		}
		if r.LastAckAt != nil {
			r.LastAck = r.LastAckAt.In(loc).Format("Jan 2, 3:04:05 PM")
		}
		q := url.Values{}
		if len(r.SKUs) > 0 {
			q.Set("skus", strings.Join(r.SKUs, ","))
		} else {
			q.Set("aisle", "produce")
		}
		r.Page = "/signs/" + url.PathEscape(store) + "/" + url.PathEscape(r.Sign) + "?" + q.Encode()
	}
	p.Signs = rows
	return p
}

// signsFragment is a store page's signs panel, which the page reads again every few seconds.
func (s *Server) signsFragment(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("store")
	if _, err := s.cat.Store(id); err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", id))
		return
	}
	s.render(w, "signs", s.signsPanel(r.Context(), id))
}

// signPageView is what the sign page template receives.
type signPageView struct {
	Store       catalog.Store
	Sign        string
	SKUs, Aisle string
	WS          string
}

// signPage is /signs/{store}/{sign}?token=&skus= (or &aisle=): a shelf label in the browser.
func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	st, err := s.cat.Store(chi.URLParam(r, "store"))
	if err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", chi.URLParam(r, "store")))
		return
	}
	v := signPageView{Store: st, Sign: chi.URLParam(r, "sign"), SKUs: r.URL.Query().Get("skus"), Aisle: r.URL.Query().Get("aisle"),
		WS: s.pricing.wsURL()}
	if v.SKUs == "" && v.Aisle == "" {
		v.Aisle = "produce"
	}
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL carries the sign's token
	s.render(w, "signpage", v)
}
