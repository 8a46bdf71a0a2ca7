package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/pricing"
)

// promoRequest is the body of POST /v1/promotions.
type promoRequest struct {
	SKUs            []string        `json:"skus"`
	StoreIDs        json.RawMessage `json:"store_ids"`
	PromoPriceCents *int64          `json:"promo_price_cents"`
	PercentOff      *int            `json:"percent_off"`
	Title           string          `json:"title"`
	StartsAt        string          `json:"starts_at"`
	EndsAt          string          `json:"ends_at"`
	CreatedBy       string          `json:"created_by"`
}

// PromoStore is a promotion's window and state in one store.
type PromoStore struct {
	StoreID  string    `json:"store_id"`
	Timezone string    `json:"timezone"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	// State is "scheduled", "running" or "ended".
	State string `json:"state"`
}

// Promotion is a promotion as the API shows it.
type Promotion struct {
	PromoID         string   `json:"promo_id"`
	Title           string   `json:"title"`
	PromoPriceCents *int64   `json:"promo_price_cents,omitempty"`
	PercentOff      *int     `json:"percent_off,omitempty"`
	SKUs            []string `json:"skus"`
	// AllStores is set when it was asked for every store.
	AllStores bool `json:"all_stores"`
	// StartsAt and EndsAt are as given: a local time (read in each store's zone) or an instant.
	StartsAt  string       `json:"starts_at"`
	EndsAt    string       `json:"ends_at"`
	CreatedBy string       `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
	EndedAt   *time.Time   `json:"ended_at,omitempty"`
	Stores    []PromoStore `json:"stores"`
}

// postPromotion creates a promotion on skus in store_ids (absent or "all": every store), at a
// fixed promo_price_cents or percent_off the regular price, from starts_at to ends_at (a
// local time read in each store's zone, or an instant; rounded up to the minute). It must not
// overlap another promotion of the same SKU and store. Stores whose start is past start at
// once, in the request's transaction; it answers 201 with the promotion once committed.
func (a *App) postPromotion(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var req promoRequest
	if err := httpx.Decode(body, &req); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	now := a.clk.Now()
	var ps pricing.Problems
	switch {
	case len(req.SKUs) == 0:
		ps.Add("skus", "must name at least one SKU")
	case len(req.SKUs) > pricing.MaxPromoSKUs:
		ps.Add("skus", "must name at most %d SKUs", pricing.MaxPromoSKUs)
	}
	for i, sku := range req.SKUs {
		a.knownSKU(&ps, fmt.Sprintf("skus[%d]", i), sku)
	}
	skus, repeats := pricing.Dedupe(req.SKUs)
	for _, i := range repeats {
		ps.Add(fmt.Sprintf("skus[%d]", i), "repeats a SKU")
	}
	stores, all := a.storeList(&ps, req.StoreIDs)
	switch {
	case req.PromoPriceCents == nil && req.PercentOff == nil:
		ps.Add("promo_price_cents", "give promo_price_cents or percent_off")
	case req.PromoPriceCents != nil && req.PercentOff != nil:
		ps.Add("percent_off", "give promo_price_cents or percent_off, not both")
	case req.PromoPriceCents != nil:
		pricing.CheckPrice(&ps, "promo_price_cents", *req.PromoPriceCents, 0)
	default:
		pricing.CheckPercent(&ps, "percent_off", *req.PercentOff)
	}
	req.Title = strings.TrimSpace(req.Title)
	switch n := len([]rune(req.Title)); {
	case n == 0:
		ps.Add("title", "is required")
	case n > pricing.MaxTitle:
		ps.Add("title", "must be at most %d characters", pricing.MaxTitle)
	}
	req.CreatedBy = strings.TrimSpace(req.CreatedBy)
	if req.CreatedBy == "" {
		req.CreatedBy = "api"
	}
	if len([]rune(req.CreatedBy)) > maxChangedBy {
		ps.Add("created_by", "must be at most %d characters", maxChangedBy)
	}
	starts, serr := pricing.ParseWhen(req.StartsAt)
	if serr != nil {
		ps.Add("starts_at", "%v", serr)
	}
	ends, eerr := pricing.ParseWhen(req.EndsAt)
	if eerr != nil {
		ps.Add("ends_at", "%v", eerr)
	}
	var windows []pricing.Window
	if serr == nil && eerr == nil && len(stores) > 0 {
		windows = pricing.Windows(&ps, starts, ends, stores, a.locs, now)
	}
	if err := fieldErrors(ps); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	id := uuid.NewString()
	n := len(windows) * len(skus)
	itemStores, itemSKUs := make([]string, 0, n), make([]string, 0, n)
	itemStarts, itemEnds := make([]time.Time, 0, n), make([]time.Time, 0, n)
	skuIndex := map[string]int{}
	for i, s := range req.SKUs {
		if _, ok := skuIndex[s]; !ok {
			skuIndex[s] = i
		}
	}
	for _, win := range windows {
		for _, sku := range skus {
			itemStores, itemSKUs = append(itemStores, win.StoreID), append(itemSKUs, sku)
			itemStarts, itemEnds = append(itemStarts, win.StartsAt), append(itemEnds, win.EndsAt)
		}
	}
	ob := stream.NewOutbox(Schema, a.source)
	var conflicts pricing.Problems
	err = pgx.BeginFunc(r.Context(), a.pool, func(tx pgx.Tx) error {
		// One promotion is created at a time, so two overlapping ones cannot both pass the check.
		if _, err := tx.Exec(r.Context(), `SELECT pg_advisory_xact_lock(hashtext('pricing/promotions'))`); err != nil {
			return fmt.Errorf("pricing: lock promotions: %w", err)
		}
		rows, err := tx.Query(r.Context(), `SELECT DISTINCT ON (u.sku) u.sku, u.store, i.promo_id::text, i.starts_at, i.ends_at
			FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS u(store, sku, s, e)
			JOIN pricing.promo_items i ON i.store_id = u.store AND i.sku = u.sku AND i.starts_at < u.e AND u.s < i.ends_at
			ORDER BY u.sku, u.store LIMIT 20`, itemStores, itemSKUs, itemStarts, itemEnds)
		if err != nil {
			return fmt.Errorf("pricing: check overlaps: %w", err)
		}
		for rows.Next() {
			var sku, store, other string
			var s, e time.Time
			if err := rows.Scan(&sku, &store, &other, &s, &e); err != nil {
				rows.Close()
				return fmt.Errorf("pricing: check overlaps: %w", err)
			}
			loc := a.locs[store]
			conflicts.Add(fmt.Sprintf("skus[%d]", skuIndex[sku]), "overlaps promotion %s of %s in store %s (%s to %s)", other, sku, store,
				s.In(loc).Format("2006-01-02 15:04 MST"), e.In(loc).Format("2006-01-02 15:04 MST"))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pricing: check overlaps: %w", err)
		}
		if len(conflicts) > 0 {
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO pricing.promotions (promo_id, title, promo_price_cents, percent_off, skus, store_ids, all_stores, starts, ends, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			id, req.Title, req.PromoPriceCents, req.PercentOff, skus, stores, all, req.StartsAt, req.EndsAt, req.CreatedBy, now)
		b.Queue(`INSERT INTO pricing.promo_items (promo_id, store_id, sku, starts_at, ends_at, state)
			SELECT $1, store, sku, s, e, 'scheduled' FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(store, sku, s, e)`,
			id, itemStores, itemSKUs, itemStarts, itemEnds)
		if err := tx.SendBatch(r.Context(), b).Close(); err != nil {
			return fmt.Errorf("pricing: create promotion: %w", err)
		}
		if _, err := a.startDue(r.Context(), tx, ob, now, id); err != nil {
			return err
		}
		return ob.Flush(r.Context(), tx)
	})
	if err == nil && len(conflicts) > 0 {
		err = fieldErrors(conflicts)
	}
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	p, err := a.promotion(r.Context(), id)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the promotion just created", err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, p)
}

// promotion reads promotion id with its state in each store; the error wraps
// httpx.ErrNotFound when there is none.
func (a *App) promotion(ctx context.Context, id string) (Promotion, error) {
	ps, err := a.promotions(ctx, `WHERE p.promo_id::text = $1`, id)
	if err != nil {
		return Promotion{}, err
	}
	if len(ps) == 0 {
		return Promotion{}, fmt.Errorf("%w: no promotion %s", httpx.ErrNotFound, id)
	}
	return ps[0], nil
}

// promotions reads the promotions that where (a condition on p, the promotions table) selects,
// newest first, up to 200.
func (a *App) promotions(ctx context.Context, where string, args ...any) ([]Promotion, error) {
	rows, err := a.pool.Query(ctx, `SELECT p.promo_id::text, p.title, p.promo_price_cents, p.percent_off, p.skus, p.all_stores,
		p.starts, p.ends, p.created_by, p.created_at, p.ended_at,
		(SELECT coalesce(json_agg(json_build_object('store_id', s.store_id, 'starts_at', s.starts_at, 'ends_at', s.ends_at, 'state', s.state) ORDER BY s.store_id), '[]')
		 FROM (SELECT store_id, min(starts_at) AS starts_at, max(ends_at) AS ends_at,
		         CASE WHEN bool_or(state = 'running') THEN 'running' WHEN bool_and(state = 'ended') THEN 'ended' ELSE 'scheduled' END AS state
		       FROM pricing.promo_items WHERE promo_id = p.promo_id GROUP BY store_id) s)
	FROM pricing.promotions p `+where+` ORDER BY p.created_at DESC, p.promo_id LIMIT 200`, args...)
	if err != nil {
		return nil, fmt.Errorf("pricing: read promotions: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Promotion, error) {
		var p Promotion
		var stores []byte
		if err := row.Scan(&p.PromoID, &p.Title, &p.PromoPriceCents, &p.PercentOff, &p.SKUs, &p.AllStores, &p.StartsAt, &p.EndsAt,
			&p.CreatedBy, &p.CreatedAt, &p.EndedAt, &stores); err != nil {
			return p, err
		}
		if err := json.Unmarshal(stores, &p.Stores); err != nil {
			return p, err
		}
		for i := range p.Stores {
			if st, err := a.cat.Store(p.Stores[i].StoreID); err == nil {
				p.Stores[i].Timezone = st.Timezone
			}
		}
		return p, nil
	})
}

// PromotionList is the answer to GET /v1/promotions.
type PromotionList struct {
	Promotions []Promotion `json:"promotions"`
}

// listPromotions lists promotions, newest first (up to 200): of store_id when given, and with
// active=true those running now (in that store, or anywhere), active=false the others.
func (a *App) listPromotions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	store := q.Get("store_id")
	var ps pricing.Problems
	if store != "" {
		a.knownStore(&ps, "store_id", store)
	}
	active := ""
	if v := q.Get("active"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			ps.Add("active", "must be true or false")
		}
		active = strconv.FormatBool(b)
	}
	if err := fieldErrors(ps); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	where := `WHERE ($1 = '' OR EXISTS (SELECT 1 FROM pricing.promo_items i WHERE i.promo_id = p.promo_id AND i.store_id = $1))
		AND ($2 = '' OR EXISTS (SELECT 1 FROM pricing.promo_items i WHERE i.promo_id = p.promo_id AND i.state = 'running'
			AND ($1 = '' OR i.store_id = $1)) = ($2 = 'true'))`
	list, err := a.promotions(r.Context(), where, store, active)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the promotions", err)
		return
	}
	if list == nil {
		list = []Promotion{}
	}
	httpx.WriteJSON(w, http.StatusOK, PromotionList{Promotions: list})
}

func (a *App) getPromotion(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := uuid.Parse(id); err != nil {
		httpx.Error(w, r, a.log, fmt.Errorf("%w: no promotion %q", httpx.ErrNotFound, id))
		return
	}
	p, err := a.promotion(r.Context(), id)
	if err != nil && !errors.Is(err, httpx.ErrNotFound) {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the promotion", err)
		return
	}
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

// deletePromotion ends a promotion now: where it runs it ends (promo.ended), where it has not
// started it never will. Ending one that already ended changes nothing. It answers 200 with
// the promotion.
func (a *App) deletePromotion(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := uuid.Parse(id); err != nil {
		httpx.Error(w, r, a.log, fmt.Errorf("%w: no promotion %q", httpx.ErrNotFound, id))
		return
	}
	now := a.clk.Now()
	ob := stream.NewOutbox(Schema, a.source)
	err := pgx.BeginFunc(r.Context(), a.pool, func(tx pgx.Tx) error {
		var ended *time.Time
		err := tx.QueryRow(r.Context(), `SELECT ended_at FROM pricing.promotions WHERE promo_id = $1 FOR UPDATE`, id).Scan(&ended)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: no promotion %s", httpx.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("pricing: lock promotion: %w", err)
		}
		rows, err := tx.Query(r.Context(), `UPDATE pricing.promo_items SET state = 'ended', ended_at = $2, ends_at = $2
			WHERE promo_id = $1 AND state = 'running' RETURNING store_id, sku`, id, now)
		if err != nil {
			return fmt.Errorf("pricing: end promotion: %w", err)
		}
		items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (schemas.PromoEnded, error) {
			e := schemas.PromoEnded{PromoID: id, EndedAt: now}
			return e, row.Scan(&e.StoreID, &e.SKU)
		})
		if err != nil {
			return fmt.Errorf("pricing: end promotion: %w", err)
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE pricing.promo_items SET state = 'ended', ended_at = $2, ends_at = starts_at WHERE promo_id = $1 AND state = 'scheduled'`, id, now)
		b.Queue(`UPDATE pricing.promotions SET ended_at = coalesce(ended_at, $2) WHERE promo_id = $1`, id, now)
		if err := tx.SendBatch(r.Context(), b).Close(); err != nil {
			return fmt.Errorf("pricing: end promotion: %w", err)
		}
		for _, e := range items {
			if err := addEnded(ob, e); err != nil {
				return err
			}
		}
		return ob.Flush(r.Context(), tx)
	})
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	p, err := a.promotion(r.Context(), id)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Price book unavailable", "the promotion", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}
