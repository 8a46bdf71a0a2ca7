package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StockRow is one row of the stock table.
type StockRow struct {
	StoreID    string    `json:"store_id"`
	SKU        string    `json:"sku"`
	Name       string    `json:"name"`
	Department string    `json:"department"`
	DeptName   string    `json:"dept_name"`
	OnHand     int64     `json:"on_hand"`
	Threshold  int64     `json:"threshold"`
	Status     string    `json:"status"` // ok, low or out
	UpdatedAt  time.Time `json:"updated_at"`
	Updated    string    `json:"updated"` // in the store's time zone
}

// AlertRow is one row of an alerts feed.
type AlertRow struct {
	AlertID   string    `json:"alert_id"`
	Type      string    `json:"type"`
	Kind      string    `json:"kind"` // low or restocked
	Label     string    `json:"label"`
	StoreID   string    `json:"store_id"`
	StoreName string    `json:"store_name"`
	SKU       string    `json:"sku"`
	Name      string    `json:"name"`
	OnHand    int64     `json:"on_hand"`
	Threshold int64     `json:"threshold"`
	At        time.Time `json:"at"`
	LocalTime string    `json:"local_time"` // in the store's time zone, e.g. "Nov 22, 3:04 PM EST"
}

// StockQuery filters the stock table.
type StockQuery struct {
	StoreID    string
	Search     string // matches SKU or name
	Department string // department id; empty for all
	LowOnly    bool   // only low and out-of-stock rows
}

// inventoryClient reads the inventory service's API.
type inventoryClient struct {
	base   string
	client *http.Client
}

func (c *inventoryClient) get(ctx context.Context, path string, q url.Values, into any) error {
	return getJSON(ctx, c.client, "inventory", c.base, path, q, into)
}

// getJSON asks service (its name starts the errors) at base for path?q and decodes the JSON
// answer into into; an answer other than 200 is an error quoting the start of its body.
func getJSON(ctx context.Context, client *http.Client, service, base, path string, q url.Values, into any) error {
	u := strings.TrimRight(base, "/") + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return statusError{code: resp.StatusCode,
			msg: fmt.Sprintf("%s: GET %s: %s: %s", service, path, resp.Status, strings.TrimSpace(string(msg)))}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(into); err != nil {
		return fmt.Errorf("%s: GET %s: decode: %w", service, path, err)
	}
	return nil
}

// statusError is a service's answer other than 200.
type statusError struct {
	code int
	msg  string
}

func (e statusError) Error() string { return e.msg }

// stock returns the store's stock, out-of-stock first, then low, then by SKU.
func (c *inventoryClient) stock(ctx context.Context, q StockQuery) ([]StockRow, error) {
	v := url.Values{"store_id": {q.StoreID}}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Department != "" {
		v.Set("department", q.Department)
	}
	if q.LowOnly {
		v.Set("low", "true")
	}
	var body struct {
		Items []StockRow `json:"items"`
	}
	if err := c.get(ctx, "/v1/stock", v, &body); err != nil {
		return nil, err
	}
	rank := map[string]int{"out": 0, "low": 1}
	slices.SortFunc(body.Items, func(a, b StockRow) int {
		ra, ok := rank[a.Status]
		if !ok {
			ra = 2
		}
		rb, ok := rank[b.Status]
		if !ok {
			rb = 2
		}
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a.SKU, b.SKU))
	})
	return body.Items, nil
}

// alerts returns the store's newest alerts.
func (c *inventoryClient) alerts(ctx context.Context, storeID string, limit int) ([]Alert, error) {
	var body struct {
		Alerts []Alert `json:"alerts"`
	}
	err := c.get(ctx, "/v1/alerts", url.Values{"store_id": {storeID}, "limit": {strconv.Itoa(limit)}}, &body)
	return body.Alerts, err
}

// stockStatus is the inventory service's rule: out at zero or below, low below the threshold.
func stockStatus(onHand, threshold int64) string {
	switch {
	case onHand <= 0:
		return "out"
	case onHand < threshold:
		return "low"
	}
	return "ok"
}
