package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/services/pricing"
)

// MaxBody is the largest request body accepted (256 KiB: a promotion of 5,000 SKUs fits);
// larger bodies get 413.
const MaxBody = 256 << 10

// maxChangedBy bounds changed_by and created_by.
const maxChangedBy = 100

func (a *App) routes(r chi.Router) {
	r.Put("/v1/prices/{sku}", a.putPrice)
	r.Get("/v1/prices", a.getPrices)
	r.Get("/v1/prices/{sku}/history", a.priceHistory)
	r.Post("/v1/promotions", a.postPromotion)
	r.Get("/v1/promotions", a.listPromotions)
	r.Get("/v1/promotions/{id}", a.getPromotion)
	r.Delete("/v1/promotions/{id}", a.deletePromotion)
	r.Get("/v1/price-accuracy", a.priceAccuracy)
}

// fieldErrors turns the domain's problems into the HTTP layer's 422 error (nil when none).
func fieldErrors(ps pricing.Problems) error {
	var fe httpx.FieldErrors
	for _, p := range ps {
		fe.Add(p.Field, "%s", p.Message)
	}
	return fe.Err()
}

func (a *App) knownStore(ps *pricing.Problems, field, id string) bool {
	if _, err := a.cat.Store(id); err != nil {
		ps.Add(field, "unknown store %q", id)
		return false
	}
	return true
}

func (a *App) knownSKU(ps *pricing.Problems, field, sku string) bool {
	if _, err := a.cat.Product(sku); err != nil {
		ps.Add(field, "unknown SKU %q", sku)
		return false
	}
	return true
}

// priceRequest is the body of PUT /v1/prices/{sku}.
type priceRequest struct {
	PriceCents  *int64 `json:"price_cents"`
	StoreID     string `json:"store_id"`
	Reason      string `json:"reason"`
	EffectiveAt string `json:"effective_at"`
	ChangedBy   string `json:"changed_by"`
}

// ChangeAnswer is the answer to PUT /v1/prices/{sku}.
type ChangeAnswer struct {
	ChangeID    string    `json:"change_id"`
	SKU         string    `json:"sku"`
	StoreID     string    `json:"store_id,omitempty"`
	PriceCents  int64     `json:"price_cents"`
	Reason      string    `json:"reason,omitempty"`
	ChangedBy   string    `json:"changed_by"`
	EffectiveAt time.Time `json:"effective_at"`
	// Status is "applied" (200: in force and announced) or "scheduled" (202).
	Status string `json:"status"`
	// Prices are the stores whose regular price it changed, once applied.
	Prices []StorePrice `json:"prices,omitempty"`
}

// putPrice changes the base price (no store_id: every store without an override of its own)
// or a store's override, now (no effective_at, or one already past) or at effective_at
// (rounded up to the minute; a local time needs a store_id and is read in its zone). It
// answers 200 once the change and its events are committed, 202 for a scheduled change.
func (a *App) putPrice(w http.ResponseWriter, r *http.Request) {
	sku := chi.URLParam(r, "sku")
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var req priceRequest
	if err := httpx.Decode(body, &req); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	now := a.clk.Now()
	var ps pricing.Problems
	a.knownSKU(&ps, "sku", sku)
	if req.StoreID != "" {
		a.knownStore(&ps, "store_id", req.StoreID)
	}
	if req.PriceCents == nil {
		ps.Add("price_cents", "is required")
	} else {
		pricing.CheckPrice(&ps, "price_cents", *req.PriceCents, 0)
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if len([]rune(req.Reason)) > pricing.MaxReason {
		ps.Add("reason", "must be at most %d characters", pricing.MaxReason)
	}
	req.ChangedBy = strings.TrimSpace(req.ChangedBy)
	if req.ChangedBy == "" {
		req.ChangedBy = "api"
	}
	if len([]rune(req.ChangedBy)) > maxChangedBy {
		ps.Add("changed_by", "must be at most %d characters", maxChangedBy)
	}
	eff := now
	if req.EffectiveAt != "" {
		w0, err := pricing.ParseWhen(req.EffectiveAt)
		switch {
		case err != nil:
			ps.Add("effective_at", "%v", err)
		case w0.Local && req.StoreID == "":
			ps.Add("effective_at", "a local time needs a store_id; give a chain-wide change an offset (RFC 3339)")
		default:
			if t := pricing.CeilMinute(w0.In(a.locs[req.StoreID])).UTC(); t.After(now) {
				eff = t
			}
		}
	}
	if err := fieldErrors(ps); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	c := changeRow{ChangeID: uuid.NewString(), StoreID: req.StoreID, SKU: sku, PriceCents: *req.PriceCents, Reason: req.Reason, EffectiveAt: eff}
	ans := ChangeAnswer{ChangeID: c.ChangeID, SKU: sku, StoreID: req.StoreID, PriceCents: c.PriceCents, Reason: c.Reason,
		ChangedBy: req.ChangedBy, EffectiveAt: eff, Status: "applied"}
	scheduled := eff.After(now)
	if scheduled {
		ans.Status = "scheduled"
	}
	ob := stream.NewOutbox(Schema, a.source)
	err = pgx.BeginFunc(r.Context(), a.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), `INSERT INTO pricing.price_changes
			(change_id, store_id, sku, price_cents, reason, changed_by, requested_at, effective_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			c.ChangeID, c.StoreID, c.SKU, c.PriceCents, c.Reason, req.ChangedBy, now, eff); err != nil {
			return fmt.Errorf("pricing: record change: %w", err)
		}
		if scheduled {
			return nil
		}
		var err error
		if ans.Prices, err = a.applyChange(r.Context(), tx, ob, c, now); err != nil {
			return err
		}
		return ob.Flush(r.Context(), tx)
	})
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	if scheduled {
		httpx.WriteJSON(w, http.StatusAccepted, ans)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, ans)
}

// PromoView is a running promotion as a price shows it.
type PromoView struct {
	PromoID         string    `json:"promo_id"`
	Title           string    `json:"title"`
	PromoPriceCents int64     `json:"promo_price_cents"`
	PercentOff      int       `json:"percent_off,omitempty"`
	StartsAt        time.Time `json:"starts_at"`
	EndsAt          time.Time `json:"ends_at"`
}

// Price is the price in force for a store and SKU.
type Price struct {
	SKU     string `json:"sku"`
	StoreID string `json:"store_id"`
	// PriceCents is what the register charges: the promotion's price while one runs.
	PriceCents int64 `json:"price_cents"`
	// RegularPriceCents is the store's override, else the chain-wide base price.
	RegularPriceCents int64 `json:"regular_price_cents"`
	// Override is set when the store has a price of its own.
	Override bool `json:"override"`
	// Promo is the running promotion, absent when none.
	Promo *PromoView `json:"promo,omitempty"`
}

// PriceList is the answer to GET /v1/prices without a sku: every SKU of the store.
type PriceList struct {
	StoreID string  `json:"store_id"`
	Prices  []Price `json:"prices"`
}

// getPrices answers the price in force now in store_id (required) for sku, or for every SKU.
func (a *App) getPrices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	store, sku := q.Get("store_id"), q.Get("sku")
	var ps pricing.Problems
	if store == "" {
		ps.Add("store_id", "is required")
	} else {
		a.knownStore(&ps, "store_id", store)
	}
	if sku != "" {
		a.knownSKU(&ps, "sku", sku)
	}
	if err := fieldErrors(ps); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	prices, err := a.pricesInForce(r.Context(), store, sku)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the price book", err)
		return
	}
	if sku != "" {
		if len(prices) == 0 {
			httpx.Error(w, r, a.log, fmt.Errorf("%w: no price for %s", httpx.ErrNotFound, sku))
			return
		}
		httpx.WriteJSON(w, http.StatusOK, prices[0])
		return
	}
	httpx.WriteJSON(w, http.StatusOK, PriceList{StoreID: store, Prices: prices})
}

// pricesInForce reads the regular price and the running promotion of sku (every SKU when
// empty) in store, as applied so far.
func (a *App) pricesInForce(ctx context.Context, store, sku string) ([]Price, error) {
	rows, err := a.pool.Query(ctx, `SELECT b.sku, coalesce(o.price_cents, b.price_cents), o.price_cents IS NOT NULL,
		i.promo_id::text, i.starts_at, i.ends_at, p.title, p.promo_price_cents, p.percent_off
	FROM pricing.prices b
	LEFT JOIN pricing.prices o ON o.store_id = $1 AND o.sku = b.sku
	LEFT JOIN pricing.promo_items i ON i.store_id = $1 AND i.sku = b.sku AND i.state = 'running'
	LEFT JOIN pricing.promotions p ON p.promo_id = i.promo_id
	WHERE b.store_id = '' AND ($2 = '' OR b.sku = $2)
	ORDER BY b.sku`, store, sku)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Price, error) {
		p := Price{StoreID: store}
		var promoID, title *string
		var starts, ends *time.Time
		var it promoItem
		if err := row.Scan(&p.SKU, &p.RegularPriceCents, &p.Override, &promoID, &starts, &ends, &title, &it.PromoPrice, &it.PercentOff); err != nil {
			return p, err
		}
		p.PriceCents = p.RegularPriceCents
		if promoID != nil && title != nil && starts != nil && ends != nil {
			it.PromoID, it.Title, it.StartsAt, it.EndsAt = *promoID, *title, *starts, *ends
			rule := it.rule()
			p.PriceCents = rule.Price(p.RegularPriceCents)
			p.Promo = &PromoView{PromoID: it.PromoID, Title: it.Title, PromoPriceCents: p.PriceCents, PercentOff: rule.PercentOff,
				StartsAt: it.StartsAt, EndsAt: it.EndsAt}
		}
		return p, nil
	})
}

// HistoryEntry is one change of a SKU's price.
type HistoryEntry struct {
	ChangeID string `json:"change_id"`
	// StoreID is the store of an override; absent for a chain-wide change.
	StoreID       string     `json:"store_id,omitempty"`
	PriceCents    int64      `json:"price_cents"`
	OldPriceCents *int64     `json:"old_price_cents,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	ChangedBy     string     `json:"changed_by"`
	RequestedAt   time.Time  `json:"requested_at"`
	EffectiveAt   time.Time  `json:"effective_at"`
	AppliedAt     *time.Time `json:"applied_at,omitempty"`
	// Status is "applied" or "scheduled".
	Status string `json:"status"`
}

// History is the answer to GET /v1/prices/{sku}/history.
type History struct {
	SKU     string         `json:"sku"`
	StoreID string         `json:"store_id,omitempty"`
	Changes []HistoryEntry `json:"changes"`
}

// priceHistory lists the changes of a SKU's price, newest first (up to 500): chain-wide and
// every store's, or with store_id the chain-wide ones and that store's.
func (a *App) priceHistory(w http.ResponseWriter, r *http.Request) {
	sku, store := chi.URLParam(r, "sku"), r.URL.Query().Get("store_id")
	var ps pricing.Problems
	a.knownSKU(&ps, "sku", sku)
	if store != "" {
		a.knownStore(&ps, "store_id", store)
	}
	if err := fieldErrors(ps); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT change_id::text, store_id, price_cents, old_price_cents, reason, changed_by,
		requested_at, effective_at, applied_at FROM pricing.price_changes
		WHERE sku = $1 AND ($2 = '' OR store_id IN ('', $2)) ORDER BY effective_at DESC, seq DESC LIMIT 500`, sku, store)
	var out []HistoryEntry
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (HistoryEntry, error) {
			var h HistoryEntry
			err := row.Scan(&h.ChangeID, &h.StoreID, &h.PriceCents, &h.OldPriceCents, &h.Reason, &h.ChangedBy, &h.RequestedAt, &h.EffectiveAt, &h.AppliedAt)
			h.Status = "scheduled"
			if h.AppliedAt != nil {
				h.Status = "applied"
			}
			return h, err
		})
	}
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the price history", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, History{SKU: sku, StoreID: store, Changes: out})
}

// AccuracySKU is a SKU of a store that was charged at a wrong price.
type AccuracySKU struct {
	SKU               string    `json:"sku"`
	Name              string    `json:"name"`
	Mismatches        int64     `json:"mismatches"`
	LastExpectedCents int64     `json:"last_expected_cents"`
	LastChargedCents  int64     `json:"last_charged_cents"`
	LastAt            time.Time `json:"last_at"`
}

// Accuracy is the answer to GET /v1/price-accuracy.
type Accuracy struct {
	StoreID           string        `json:"store_id"`
	SalesLinesChecked int64         `json:"sales_lines_checked"`
	MismatchedLines   int64         `json:"mismatched_lines"`
	Accuracy          float64       `json:"accuracy"`
	SKUs              []AccuracySKU `json:"skus"`
}

// priceAccuracy answers a store's price accuracy: the sale lines checked, those charged at
// another price than the one in force, and the SKUs concerned (most mismatches first).
func (a *App) priceAccuracy(w http.ResponseWriter, r *http.Request) {
	store := r.URL.Query().Get("store_id")
	var ps pricing.Problems
	if store == "" {
		ps.Add("store_id", "is required")
	} else {
		a.knownStore(&ps, "store_id", store)
	}
	if err := fieldErrors(ps); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	acc := Accuracy{StoreID: store, SKUs: []AccuracySKU{}}
	err := a.pool.QueryRow(r.Context(), `SELECT lines_checked, mismatched_lines FROM pricing.accuracy_stores WHERE store_id = $1`, store).
		Scan(&acc.SalesLinesChecked, &acc.MismatchedLines)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the price accuracy", err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT sku, mismatches, last_expected_cents, last_charged_cents, last_at
		FROM pricing.accuracy_skus WHERE store_id = $1 ORDER BY mismatches DESC, last_at DESC, sku LIMIT 200`, store)
	if err == nil {
		acc.SKUs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccuracySKU, error) {
			var s AccuracySKU
			err := row.Scan(&s.SKU, &s.Mismatches, &s.LastExpectedCents, &s.LastChargedCents, &s.LastAt)
			if p, perr := a.cat.Product(s.SKU); perr == nil {
				s.Name = p.Name
			}
			return s, err
		})
	}
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the price accuracy", err)
		return
	}
	acc.Accuracy = pricing.Accuracy(acc.SalesLinesChecked, acc.MismatchedLines)
	httpx.WriteJSON(w, http.StatusOK, acc)
}

// storeList reads store_ids: absent, null or "all" is every store; else an array of ids.
func (a *App) storeList(ps *pricing.Problems, raw json.RawMessage) (ids []string, all bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" || s == `"all"` {
		return a.stores, true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		ps.Add("store_ids", `must be an array of store ids or "all"`)
		return nil, false
	}
	if len(list) == 0 {
		ps.Add("store_ids", `must name at least one store (or be "all")`)
		return nil, false
	}
	for i, id := range list {
		a.knownStore(ps, fmt.Sprintf("store_ids[%d]", i), id)
	}
	list, repeats := pricing.Dedupe(list)
	for _, i := range repeats {
		ps.Add(fmt.Sprintf("store_ids[%d]", i), "repeats a store")
	}
	return list, false
}
