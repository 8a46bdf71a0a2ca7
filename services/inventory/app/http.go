package app

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/inventory"
)

// StockItem is one row of GET /v1/stock.
type StockItem struct {
	StoreID    string     `json:"store_id"`
	SKU        string     `json:"sku"`
	Name       string     `json:"name"`
	Department string     `json:"department"`
	OnHand     int64      `json:"on_hand"`
	Threshold  int64      `json:"threshold"`
	Status     string     `json:"status"`
	UpdatedAt  *time.Time `json:"updated_at"`
}

// AlertItem is one row of GET /v1/alerts: the alert.low_stock or alert.restocked payload with
// its type and the product's name.
type AlertItem struct {
	schemas.StockAlert
	// Type is the event type, schemas.TypeAlertLowStock or "alert.restocked".
	Type string `json:"type"`
	// Name is the product's catalog name.
	Name string `json:"name"`
}

// unavailable answers 503 (with Retry-After) when the stock database cannot be read; the cause
// is logged, not shown.
func (a *App) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	httpx.Unavailable(w, r, a.log, "Stock database unavailable", what, err)
}

func (a *App) routes(r chi.Router) {
	r.Get("/v1/stock", a.getStock)
	r.Get("/v1/alerts", a.getAlerts)
}

func (a *App) getStock(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	store := q.Get("store_id")
	var bad httpx.FieldErrors
	switch {
	case store == "":
		bad.Add("store_id", "is required")
	case !a.ref.HasStore(store):
		bad.Add("store_id", "unknown store %q", store)
	}
	sku := q.Get("sku")
	if _, ok := a.ref.Product(sku); sku != "" && !ok {
		bad.Add("sku", "unknown SKU %q", sku)
	}
	lowOnly := false
	if v := q.Get("low"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad.Add("low", "must be true or false")
		}
		lowOnly = b
	}
	dept := q.Get("department")
	if dept != "" && !a.ref.HasDepartment(dept) {
		bad.Add("department", "unknown department %q", dept)
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	items, err := a.stock(r.Context(), store, sku)
	if err != nil {
		a.unavailable(w, r, "stock", err)
		return
	}
	search := strings.ToLower(q.Get("q"))
	out := make([]StockItem, 0, len(items))
	for _, it := range items {
		if lowOnly && it.Status == string(inventory.StatusOK) {
			continue
		}
		if dept != "" && it.Department != dept {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(it.Name), search) && !strings.Contains(strings.ToLower(it.SKU), search) {
			continue
		}
		out = append(out, it)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
}

// stock returns every catalog SKU of a store (or just one), with its stored level or, for SKUs
// no event has touched, the catalog's initial stock.
func (a *App) stock(ctx context.Context, store, sku string) ([]StockItem, error) {
	rows, err := a.pool.Query(ctx, `SELECT sku, on_hand, threshold, updated_at FROM inventory.stock
		WHERE store_id = $1 AND ($2 = '' OR sku = $2)`, store, sku)
	if err != nil {
		return nil, fmt.Errorf("query stock: %w", err)
	}
	type level struct {
		onHand, threshold int64
		at                time.Time
	}
	stored := map[string]level{}
	for rows.Next() {
		var s string
		var l level
		if err := rows.Scan(&s, &l.onHand, &l.threshold, &l.at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan stock: %w", err)
		}
		stored[s] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query stock: %w", err)
	}
	var out []StockItem
	for _, p := range a.ref.Products() {
		if sku != "" && p.SKU != sku {
			continue
		}
		it := StockItem{StoreID: store, SKU: p.SKU, Name: p.Name, Department: p.Department, OnHand: p.InitialStock, Threshold: p.Threshold}
		if l, ok := stored[p.SKU]; ok {
			at := l.at.UTC()
			it.OnHand, it.Threshold, it.UpdatedAt = l.onHand, l.threshold, &at
		}
		it.Status = string(inventory.StatusOf(it.OnHand, it.Threshold))
		out = append(out, it)
	}
	return out, nil
}

func (a *App) getAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	store := q.Get("store_id")
	var bad httpx.FieldErrors
	switch {
	case store == "":
		bad.Add("store_id", "is required")
	case !a.ref.HasStore(store):
		bad.Add("store_id", "unknown store %q", store)
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad.Add("limit", "must be an integer from 1 to 1000")
		}
		limit = n
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT alert_id::text, type, store_id, sku, on_hand, threshold, at
		FROM inventory.alerts WHERE store_id = $1 ORDER BY seq DESC LIMIT $2`, store, limit)
	if err != nil {
		a.unavailable(w, r, "alerts", err)
		return
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AlertItem, error) {
		var it AlertItem
		err := row.Scan(&it.AlertID, &it.Type, &it.StoreID, &it.SKU, &it.OnHand, &it.Threshold, &it.At)
		it.At = it.At.UTC()
		if p, ok := a.ref.Product(it.SKU); ok {
			it.Name = p.Name
		}
		return it, err
	})
	if err != nil {
		a.unavailable(w, r, "alerts", err)
		return
	}
	if out == nil {
		out = []AlertItem{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"alerts": out})
}
