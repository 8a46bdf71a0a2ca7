package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
)

// MaxBody is the largest complaint body accepted (64 KiB: the text is at most 4,000
// characters); larger bodies get 413.
const MaxBody = 64 << 10

// Intake bounds on filed_at, against the service's clock.
const (
	maxAhead = 5 * time.Minute
	maxLate  = 24 * time.Hour
)

func (a *App) routes(r chi.Router) {
	r.Post("/v1/complaints", a.postComplaint)
	r.Get("/v1/complaints", a.listComplaints)
	r.Get("/v1/spikes", a.listSpikes)
	r.Get("/v1/chain-spikes", a.listChainSpikes)
}

// postComplaint takes a complaint.filed body: complaint_id is generated when absent, the
// store and SKU must be in the catalog and filed_at within 24 hours back and 5 minutes ahead.
// It answers 202 with the complaint's partition and offset once the broker acknowledged; a
// retry of an id already accepted (by this instance, or consumed by any) is answered with the
// first position and not produced again.
func (a *App) postComplaint(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		httpx.Error(w, r, a.log, fmt.Errorf("%w: the body must be a JSON object", httpx.ErrMalformed))
		return
	}
	if _, ok := fields["complaint_id"]; !ok {
		id, _ := json.Marshal(uuid.NewString())
		fields["complaint_id"] = id
		body, _ = json.Marshal(fields)
	}
	// The schema names every bad field (formats, enums, the text's length, unknown fields); the
	// catalog and the clock name the rest, all in one answer.
	var bad httpx.FieldErrors
	verr := schemas.Validate(schemas.TypeComplaintFiled, body)
	var ve *schemas.ValidationError
	switch {
	case errors.As(verr, &ve):
		for _, f := range ve.Fields {
			bad.Add(f.Field, "%s", f.Message)
		}
	case verr != nil:
		httpx.Error(w, r, a.log, verr)
		return
	}
	var c schemas.ComplaintFiled
	_ = json.Unmarshal(body, &c) // what does not decode was named by the schema
	if c.StoreID != "" && !badField(bad, "store_id") {
		if _, err := a.cat.Store(c.StoreID); err != nil {
			bad.Add("store_id", "unknown store %q", c.StoreID)
		}
	}
	if c.SKU != "" && !badField(bad, "sku") {
		if _, err := a.cat.Product(c.SKU); err != nil {
			bad.Add("sku", "unknown SKU %q", c.SKU)
		}
	}
	now := a.cfg.Clock.Now()
	switch {
	case c.FiledAt.IsZero() || badField(bad, "filed_at"):
	case c.FiledAt.After(now.Add(maxAhead)):
		bad.Add("filed_at", "is more than %s in the future (%s)", maxAhead, c.FiledAt.Format(time.RFC3339))
	case c.FiledAt.Before(now.Add(-maxLate)):
		bad.Add("filed_at", "is more than %s in the past (%s); file it as a new complaint", maxLate, c.FiledAt.Format(time.RFC3339))
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	answer := func(p events.Position) {
		httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"complaint_id": c.ComplaintID, "status": "accepted",
			"partition": p.Partition, "offset": p.Offset})
	}
	if p, ok := a.accepted.Get(c.ComplaintID); ok {
		answer(p)
		return
	}
	if p, ok, err := a.consumed(r.Context(), c.ComplaintID); err != nil {
		a.log.Warn("complaints lookup failed; producing without the check", "complaint_id", c.ComplaintID, "err", err)
	} else if ok {
		a.accepted.Put(c.ComplaintID, p)
		answer(p)
		return
	}
	p, err := a.accepted.Produce(r.Context(), a.producer, c.ComplaintID, events.Out{Topic: schemas.TopicCustomerComplaints,
		Key: c.StoreID, Type: schemas.TypeComplaintFiled, ID: c.ComplaintID, Payload: json.RawMessage(body)}, nil)
	if err != nil {
		if errors.Is(err, events.ErrUnavailable) {
			a.log.Warn("broker did not acknowledge", "complaint_id", c.ComplaintID, "err", err)
		}
		httpx.Error(w, r, a.log, err)
		return
	}
	answer(p)
}

func badField(fe httpx.FieldErrors, name string) bool {
	for _, f := range fe {
		if f.Field == name {
			return true
		}
	}
	return false
}

// consumed returns the position of the first copy of complaint id, once the consumer stored it.
func (a *App) consumed(ctx context.Context, id string) (events.Position, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var p events.Position
	err := a.pool.QueryRow(ctx, `SELECT partition, "offset" FROM complaints.complaints WHERE complaint_id = $1`, id).
		Scan(&p.Partition, &p.Offset)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

// Complaint is one row of GET /v1/complaints: the complaint as filed, with the product's name.
type Complaint struct {
	schemas.ComplaintFiled
	// ProductName is the catalog name of SKU, when there is one.
	ProductName string `json:"product_name,omitempty"`
}

// listComplaints answers GET /v1/complaints?store_id=&sku=&since=&limit=, newest first
// (limit 50 by default, at most 500).
func (a *App) listComplaints(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad httpx.FieldErrors
	store, sku := q.Get("store_id"), q.Get("sku")
	if store != "" {
		if _, err := a.cat.Store(store); err != nil {
			bad.Add("store_id", "unknown store %q", store)
		}
	}
	if sku != "" {
		if _, err := a.cat.Product(sku); err != nil {
			bad.Add("sku", "unknown SKU %q", sku)
		}
	}
	var since *time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad.Add("since", "want an RFC 3339 time such as 2026-12-01T10:00:00Z")
		}
		since = &t
	}
	limit := parseLimit(q.Get("limit"), &bad)
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT complaint_id::text, store_id, coalesce(sku, ''), filed_at, channel, category,
			coalesce(severity, 0), coalesce(loyalty_id, ''), text
		FROM complaints.complaints
		WHERE ($1 = '' OR store_id = $1) AND ($2 = '' OR sku = $2) AND ($3::timestamptz IS NULL OR filed_at >= $3)
		ORDER BY filed_at DESC, complaint_id LIMIT $4`, store, sku, since, limit)
	if err != nil {
		a.unavailable(w, r, "complaints", err)
		return
	}
	out := []Complaint{}
	for rows.Next() {
		var c Complaint
		if err := rows.Scan(&c.ComplaintID, &c.StoreID, &c.SKU, &c.FiledAt, &c.Channel, &c.Category, &c.Severity, &c.LoyaltyID, &c.Text); err != nil {
			rows.Close()
			a.unavailable(w, r, "complaints", err)
			return
		}
		c.FiledAt = c.FiledAt.UTC()
		c.ProductName = a.productName(c.SKU)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		a.unavailable(w, r, "complaints", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"complaints": out})
}

// Spike is one row of GET /v1/spikes: an episode as it stands.
type Spike struct {
	schemas.ComplaintSpike
	// Status is "active", "resolved" or "merged".
	Status string `json:"status"`
	// ProductName is the catalog name of the SKU.
	ProductName string `json:"product_name"`
	// ResolvedAt is when it ended, once resolved.
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// listSpikes answers GET /v1/spikes?store_id=&status=active|resolved|all&limit=, the latest
// opened first (merged episodes left out).
func (a *App) listSpikes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad httpx.FieldErrors
	store := q.Get("store_id")
	if store != "" {
		if _, err := a.cat.Store(store); err != nil {
			bad.Add("store_id", "unknown store %q", store)
		}
	}
	status := q.Get("status")
	switch status {
	case "":
		status = "all"
	case "active", "resolved", "all":
	default:
		bad.Add("status", "want active, resolved or all")
	}
	limit := parseLimit(q.Get("limit"), &bad)
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT alert_id::text, store_id, sku, complaint_ids::text[], opened_at, first_filed_at,
			last_filed_at, ends_at, status, resolved_at
		FROM complaints.episodes
		WHERE status <> 'merged' AND ($1 = '' OR store_id = $1) AND ($2 = 'all' OR status = $2)
		ORDER BY opened_at DESC, alert_id LIMIT $3`, store, status, limit)
	if err != nil {
		a.unavailable(w, r, "spikes", err)
		return
	}
	out := []Spike{}
	for rows.Next() {
		var s Spike
		if err := rows.Scan(&s.AlertID, &s.StoreID, &s.SKU, &s.ComplaintIDs, &s.OpenedAt, &s.FirstFiledAt, &s.LastFiledAt,
			&s.EndsAt, &s.Status, &s.ResolvedAt); err != nil {
			rows.Close()
			a.unavailable(w, r, "spikes", err)
			return
		}
		s.Count = int64(len(s.ComplaintIDs))
		s.WindowMinutes, s.Threshold = int64(a.cfg.Rule.Window/time.Minute), int64(a.cfg.Rule.Threshold)
		s.OpenedAt, s.FirstFiledAt, s.LastFiledAt, s.EndsAt = s.OpenedAt.UTC(), s.FirstFiledAt.UTC(), s.LastFiledAt.UTC(), s.EndsAt.UTC()
		s.At = s.LastFiledAt
		s.ProductName = a.productName(s.SKU)
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		a.unavailable(w, r, "spikes", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"spikes": out})
}

// ChainSpike is one row of GET /v1/chain-spikes.
type ChainSpike struct {
	schemas.ComplaintChainSpike
	// ProductName is the catalog name of the SKU.
	ProductName string `json:"product_name"`
}

// listChainSpikes answers GET /v1/chain-spikes?limit=, the latest first.
func (a *App) listChainSpikes(w http.ResponseWriter, r *http.Request) {
	var bad httpx.FieldErrors
	limit := parseLimit(r.URL.Query().Get("limit"), &bad)
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT alert_id::text, sku, vendor_id, store_ids, spike_alert_ids::text[], first_opened_at, at
		FROM complaints.chain_spikes ORDER BY first_opened_at DESC, alert_id LIMIT $1`, limit)
	if err != nil {
		a.unavailable(w, r, "chain spikes", err)
		return
	}
	out := []ChainSpike{}
	for rows.Next() {
		var c ChainSpike
		if err := rows.Scan(&c.AlertID, &c.SKU, &c.VendorID, &c.StoreIDs, &c.SpikeAlertIDs, &c.FirstOpenedAt, &c.At); err != nil {
			rows.Close()
			a.unavailable(w, r, "chain spikes", err)
			return
		}
		c.FirstOpenedAt, c.At = c.FirstOpenedAt.UTC(), c.At.UTC()
		c.WindowHours = int64(a.cfg.ChainWindow / time.Hour)
		c.ProductName = a.productName(c.SKU)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		a.unavailable(w, r, "chain spikes", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"chain_spikes": out})
}

func parseLimit(v string, bad *httpx.FieldErrors) int {
	if v == "" {
		return 50
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		bad.Add("limit", "want a whole number from 1 to 500")
	}
	return n
}

func (a *App) productName(sku string) string {
	if sku == "" {
		return ""
	}
	if p, err := a.cat.Product(sku); err == nil {
		return p.Name
	}
	return ""
}

// unavailable answers 503 (with Retry-After) when the complaints database cannot be read; the
// cause is logged, not shown.
func (a *App) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	httpx.Unavailable(w, r, a.log, "Complaints database unavailable", what, err)
}
