package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/reorder"
)

// MaxBody is the largest request body accepted (256 KiB: an invoice of 1,000 lines).
const MaxBody = 256 << 10

// idNamespace is the UUID namespace of the API's event ids: po.cancelled is named by its order
// ("cancel/<po>"), invoice.received by its invoice ("invoice/<id>"), so a retried request is
// the same event.
var idNamespace = uuid.MustParse("2d7f9c1a-6b3e-4f0d-8a51-9e4c7b2d0f63")

var invoiceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)

func (a *App) routes(r chi.Router) {
	r.Get("/v1/purchase-orders", a.listOrders)
	r.Get("/v1/purchase-orders/{po}", a.getOrder)
	r.Get("/v1/purchase-orders/{po}/email", a.getEmail)
	r.Post("/v1/purchase-orders/{po}/cancel", a.cancelOrder)
	r.Post("/v1/invoices", a.postInvoice)
	r.Get("/v1/invoices", a.listInvoices)
	r.Get("/v1/invoices/{invoice_id}", a.getInvoice)
	r.Get("/v1/deliveries", a.listDeliveries)
}

// PO is a purchase order as the API shows it.
type PO struct {
	PONumber              string         `json:"po_number"`
	StoreID               string         `json:"store_id"`
	VendorID              string         `json:"vendor_id"`
	VendorName            string         `json:"vendor_name"`
	Status                string         `json:"status"`
	Lines                 []reorder.Line `json:"lines"`
	OpenedAt              time.Time      `json:"opened_at"`
	GroupClosesAt         time.Time      `json:"group_closes_at"`
	SealedAt              *time.Time     `json:"sealed_at,omitempty"`
	RequestedDeliveryDate string         `json:"requested_delivery_date"`
	ReceivedAt            *time.Time     `json:"received_at,omitempty"`
	CancelledAt           *time.Time     `json:"cancelled_at,omitempty"`
	CancelReason          string         `json:"cancel_reason,omitempty"`
	EmailSentAt           *time.Time     `json:"email_sent_at,omitempty"`
	EmailSentVia          string         `json:"email_sent_via,omitempty"`
	TotalCents            int64          `json:"total_cents"`
}

var poStatuses = map[string]bool{reorder.StatusOpen: true, reorder.StatusPartlyReceived: true, reorder.StatusReceived: true, reorder.StatusCancelled: true}

// listOrders answers GET /v1/purchase-orders?store_id=&vendor_id=&status=&limit=, the newest
// first (limit 100 by default, at most 1000). status is one of open, partly_received,
// received, cancelled, or several separated by commas.
func (a *App) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad httpx.FieldErrors
	store, vendor := q.Get("store_id"), q.Get("vendor_id")
	if store != "" {
		if _, err := a.cat.Store(store); err != nil {
			bad.Add("store_id", "unknown store %q", store)
		}
	}
	if vendor != "" {
		if _, err := a.folder.vendor(vendor); err != nil {
			bad.Add("vendor_id", "unknown vendor %q", vendor)
		}
	}
	var statuses []string
	for _, s := range splitComma(q.Get("status")) {
		if !poStatuses[s] {
			bad.Add("status", "want open, partly_received, received or cancelled, not %q", s)
		}
		statuses = append(statuses, s)
	}
	limit := parseLimit(q.Get("limit"), 100, &bad)
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	out, err := a.orders(r.Context(), `WHERE ($1 = '' OR o.store_id = $1) AND ($2 = '' OR o.vendor_id = $2)
		AND (coalesce(cardinality($3::text[]), 0) = 0 OR o.status = ANY($3)) ORDER BY o.opened_at DESC, o.po_number LIMIT $4`, store, vendor, statuses, limit)
	if err != nil {
		a.unavailable(w, r, "purchase orders", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"purchase_orders": out})
}

// getOrder answers GET /v1/purchase-orders/{po}.
func (a *App) getOrder(w http.ResponseWriter, r *http.Request) {
	po := chi.URLParam(r, "po")
	out, err := a.orders(r.Context(), `WHERE o.po_number = $1`, po)
	if err != nil {
		a.unavailable(w, r, "purchase orders", err)
		return
	}
	if len(out) == 0 {
		httpx.Error(w, r, a.log, fmt.Errorf("%w: no purchase order %q", httpx.ErrNotFound, po))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out[0])
}

// orders reads the orders a WHERE/ORDER/LIMIT clause picks (on alias o), with their lines.
func (a *App) orders(ctx context.Context, where string, args ...any) ([]PO, error) {
	rows, err := a.pool.Query(ctx, `SELECT o.po_number, o.store_id, o.vendor_id, o.status, o.opened_at, o.closes_at, o.sealed_at,
			o.requested_delivery_date, o.received_at, o.cancelled_at, coalesce(o.cancel_reason, ''), e.sent_at, coalesce(e.sent_via, ''),
			coalesce((SELECT jsonb_agg(jsonb_build_object('sku', l.sku, 'qty', l.qty, 'unit_cost_cents', l.unit_cost_cents,
				'received', l.received, 'invoiced', l.invoiced) ORDER BY l.line_no) FROM reorder.po_lines l WHERE l.po_number = o.po_number), '[]')
		FROM reorder.purchase_orders o LEFT JOIN reorder.emails e USING (po_number) `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (PO, error) {
		var p PO
		var requested time.Time
		var lines []byte
		err := row.Scan(&p.PONumber, &p.StoreID, &p.VendorID, &p.Status, &p.OpenedAt, &p.GroupClosesAt, &p.SealedAt, &requested,
			&p.ReceivedAt, &p.CancelledAt, &p.CancelReason, &p.EmailSentAt, &p.EmailSentVia, &lines)
		if err != nil {
			return p, err
		}
		if err := json.Unmarshal(lines, &p.Lines); err != nil {
			return p, err
		}
		p.RequestedDeliveryDate = requested.Format(time.DateOnly)
		p.OpenedAt, p.GroupClosesAt = p.OpenedAt.UTC(), p.GroupClosesAt.UTC()
		for _, t := range []*time.Time{p.SealedAt, p.ReceivedAt, p.CancelledAt, p.EmailSentAt} {
			if t != nil {
				*t = t.UTC()
			}
		}
		for _, l := range p.Lines {
			p.TotalCents += l.Qty * l.UnitCostCents
		}
		if v, err := a.folder.vendor(p.VendorID); err == nil {
			p.VendorName = v.Name
		}
		return p, nil
	})
}

// getEmail answers GET /v1/purchase-orders/{po}/email with the order's email as composed
// (message/rfc822; text/plain with ?format=text, for a browser); 404 until the order is sealed.
func (a *App) getEmail(w http.ResponseWriter, r *http.Request) {
	po := chi.URLParam(r, "po")
	var msg []byte
	err := a.pool.QueryRow(r.Context(), `SELECT message FROM reorder.emails WHERE po_number = $1`, po).Scan(&msg)
	if errors.Is(err, pgx.ErrNoRows) {
		var closes time.Time
		var cancelled bool
		err := a.pool.QueryRow(r.Context(), `SELECT closes_at, status = 'cancelled' FROM reorder.purchase_orders WHERE po_number = $1`, po).Scan(&closes, &cancelled)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			httpx.Error(w, r, a.log, fmt.Errorf("%w: no purchase order %q", httpx.ErrNotFound, po))
		case err != nil:
			a.unavailable(w, r, "emails", err)
		case cancelled:
			httpx.Error(w, r, a.log, fmt.Errorf("%w: purchase order %s was cancelled before its email was composed", httpx.ErrNotFound, po))
		default:
			httpx.Error(w, r, a.log, fmt.Errorf("%w: the email of %s is composed when its grouping window closes at %s",
				httpx.ErrNotFound, po, closes.UTC().Format(time.RFC3339)))
		}
		return
	}
	if err != nil {
		a.unavailable(w, r, "emails", err)
		return
	}
	ct := "message/rfc822"
	if r.URL.Query().Get("format") == "text" {
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(msg) //nolint:errcheck // the client may be gone
}

// cancelOrder answers POST /v1/purchase-orders/{po}/cancel (body optional: {"reason"}): 202
// once po.cancelled is acknowledged by the broker (the view follows when it is consumed), 200
// when the order is already cancelled, 409 when it was received, 404 when there is none.
func (a *App) cancelOrder(w http.ResponseWriter, r *http.Request) {
	po := chi.URLParam(r, "po")
	var body struct {
		Reason *string `json:"reason"`
	}
	if r.ContentLength != 0 {
		raw, err := httpx.ReadBody(w, r, MaxBody)
		if err != nil {
			httpx.Error(w, r, a.log, err)
			return
		}
		if len(raw) > 0 {
			if err := httpx.Decode(raw, &body); err != nil {
				httpx.Error(w, r, a.log, err)
				return
			}
		}
	}
	c := schemas.POCancelled{PONumber: po, CancelledAt: a.cfg.Clock.Now().UTC().Truncate(time.Millisecond)}
	if body.Reason != nil {
		if len(*body.Reason) > 500 {
			httpx.Error(w, r, a.log, &httpx.FieldErrors{{Field: "reason", Message: "is longer than 500 characters"}})
			return
		}
		c.Reason = *body.Reason
	}
	var status string
	err := a.pool.QueryRow(r.Context(), `SELECT store_id, vendor_id, status FROM reorder.purchase_orders WHERE po_number = $1`, po).
		Scan(&c.StoreID, &c.VendorID, &status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		httpx.Error(w, r, a.log, fmt.Errorf("%w: no purchase order %q", httpx.ErrNotFound, po))
		return
	case err != nil:
		a.unavailable(w, r, "purchase orders", err)
		return
	case status == reorder.StatusReceived:
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusConflict, Title: "Already received",
			Detail: fmt.Sprintf("purchase order %s was received in full and cannot be cancelled", po)})
		return
	case status == reorder.StatusCancelled:
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"po_number": po, "status": status})
		return
	}
	key := "cancel/" + po
	p, err := a.accepted.Produce(r.Context(), a.producer, key, events.Out{Topic: schemas.TopicPurchasing, Key: c.StoreID,
		Type: schemas.TypePOCancelled, ID: uuid.NewSHA1(idNamespace, []byte(key)).String(), Payload: c}, nil)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"po_number": po, "status": "cancel_requested", "partition": p.Partition, "offset": p.Offset})
}

// invoiceBody is the body of POST /v1/invoices.
type invoiceBody struct {
	InvoiceID *string `json:"invoice_id"`
	VendorID  *string `json:"vendor_id"`
	PONumber  *string `json:"po_number"`
	Lines     []struct {
		SKU           *string `json:"sku"`
		Qty           *int64  `json:"qty"`
		UnitCostCents *int64  `json:"unit_cost_cents"`
	} `json:"lines"`
}

// postInvoice answers POST /v1/invoices {"invoice_id","vendor_id","po_number","lines":[{"sku",
// "qty","unit_cost_cents"}]}: 202 once invoice.received is acknowledged by the broker (matched
// when consumed: GET /v1/invoices/{id}); 200 with the invoice as it stands when its id was
// recorded before. The order must exist and be the vendor's.
func (a *App) postInvoice(w http.ResponseWriter, r *http.Request) {
	raw, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var b invoiceBody
	if err := httpx.Decode(raw, &b); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var bad httpx.FieldErrors
	in := schemas.InvoiceReceived{ReceivedAt: a.cfg.Clock.Now().UTC().Truncate(time.Millisecond)}
	switch {
	case b.InvoiceID == nil:
		bad.Add("invoice_id", "is required")
	case !invoiceIDPattern.MatchString(*b.InvoiceID):
		bad.Add("invoice_id", "want 1 to 64 letters, digits and . _ / - (starting with a letter or digit)")
	default:
		in.InvoiceID = *b.InvoiceID
	}
	if b.VendorID == nil {
		bad.Add("vendor_id", "is required")
	} else if _, err := a.folder.vendor(*b.VendorID); err != nil {
		bad.Add("vendor_id", "unknown vendor %q", *b.VendorID)
	} else {
		in.VendorID = *b.VendorID
	}
	var status, vendor string
	switch {
	case b.PONumber == nil:
		bad.Add("po_number", "is required")
	default:
		in.PONumber = *b.PONumber
		err := a.pool.QueryRow(r.Context(), `SELECT store_id, vendor_id, status FROM reorder.purchase_orders WHERE po_number = $1`, in.PONumber).
			Scan(&in.StoreID, &vendor, &status)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			bad.Add("po_number", "unknown purchase order %q", in.PONumber)
		case err != nil:
			a.unavailable(w, r, "purchase orders", err)
			return
		case in.VendorID != "" && vendor != in.VendorID:
			bad.Add("vendor_id", "purchase order %s is to vendor %s, not %s", in.PONumber, vendor, in.VendorID)
		}
	}
	switch {
	case b.Lines == nil:
		bad.Add("lines", "is required")
	case len(b.Lines) == 0 || len(b.Lines) > 1000:
		bad.Add("lines", "want 1 to 1000 lines")
	}
	seen := map[string]bool{}
	for i, l := range b.Lines {
		f := func(name string) string { return fmt.Sprintf("lines[%d].%s", i, name) }
		var line schemas.InvoiceLine
		switch {
		case l.SKU == nil:
			bad.Add(f("sku"), "is required")
		case seen[*l.SKU]:
			bad.Add(f("sku"), "%s is on an earlier line", *l.SKU)
		default:
			if _, err := a.cat.Product(*l.SKU); err != nil {
				bad.Add(f("sku"), "unknown SKU %q", *l.SKU)
			}
			seen[*l.SKU] = true
			line.SKU = *l.SKU
		}
		switch {
		case l.Qty == nil:
			bad.Add(f("qty"), "is required")
		case *l.Qty < 1 || *l.Qty > 1_000_000:
			bad.Add(f("qty"), "want 1 to 1000000 units")
		default:
			line.Qty = *l.Qty
		}
		switch {
		case l.UnitCostCents == nil:
			bad.Add(f("unit_cost_cents"), "is required")
		case *l.UnitCostCents < 0 || *l.UnitCostCents > 100_000_000:
			bad.Add(f("unit_cost_cents"), "want 0 to 100000000 cents")
		default:
			line.UnitCostCents = *l.UnitCostCents
		}
		in.Lines = append(in.Lines, line)
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	if inv, ok, err := a.invoice(r.Context(), in.InvoiceID); err != nil {
		a.unavailable(w, r, "invoices", err)
		return
	} else if ok {
		httpx.WriteJSON(w, http.StatusOK, inv)
		return
	}
	key := "invoice/" + in.InvoiceID
	p, err := a.accepted.Produce(r.Context(), a.producer, key, events.Out{Topic: schemas.TopicPurchasing, Key: in.StoreID,
		Type: schemas.TypeInvoiceReceived, ID: uuid.NewSHA1(idNamespace, []byte(key)).String(), Payload: in}, nil)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"invoice_id": in.InvoiceID, "po_number": in.PONumber, "status": "received",
		"partition": p.Partition, "offset": p.Offset})
}

// Invoice is an invoice as the API shows it.
type Invoice struct {
	InvoiceID  string                 `json:"invoice_id"`
	VendorID   string                 `json:"vendor_id"`
	PONumber   string                 `json:"po_number"`
	StoreID    string                 `json:"store_id"`
	Status     string                 `json:"status"`
	Reason     string                 `json:"reason,omitempty"`
	Lines      []schemas.InvoiceLine  `json:"lines"`
	Diffs      []schemas.MismatchLine `json:"diffs,omitempty"`
	TotalCents int64                  `json:"total_cents"`
	ReceivedAt time.Time              `json:"received_at"`
	DecidedAt  *time.Time             `json:"decided_at,omitempty"`
}

const invoiceColumns = `invoice_id, vendor_id, po_number, store_id, status, coalesce(reason, ''), lines, diffs, received_at, decided_at`

func scanInvoice(row pgx.CollectableRow) (Invoice, error) {
	var i Invoice
	var lines, diffs []byte
	if err := row.Scan(&i.InvoiceID, &i.VendorID, &i.PONumber, &i.StoreID, &i.Status, &i.Reason, &lines, &diffs, &i.ReceivedAt, &i.DecidedAt); err != nil {
		return i, err
	}
	if err := json.Unmarshal(lines, &i.Lines); err != nil {
		return i, err
	}
	if diffs != nil {
		if err := json.Unmarshal(diffs, &i.Diffs); err != nil {
			return i, err
		}
	}
	for _, l := range i.Lines {
		i.TotalCents += l.Qty * l.UnitCostCents
	}
	i.ReceivedAt = i.ReceivedAt.UTC()
	if i.DecidedAt != nil {
		*i.DecidedAt = i.DecidedAt.UTC()
	}
	return i, nil
}

func (a *App) invoice(ctx context.Context, id string) (Invoice, bool, error) {
	rows, err := a.pool.Query(ctx, `SELECT `+invoiceColumns+` FROM reorder.invoices WHERE invoice_id = $1`, id)
	if err != nil {
		return Invoice{}, false, err
	}
	i, err := pgx.CollectExactlyOneRow(rows, scanInvoice)
	if errors.Is(err, pgx.ErrNoRows) {
		return i, false, nil
	}
	return i, err == nil, err
}

// getInvoice answers GET /v1/invoices/{invoice_id}.
func (a *App) getInvoice(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "invoice_id")
	i, ok, err := a.invoice(r.Context(), id)
	switch {
	case err != nil:
		a.unavailable(w, r, "invoices", err)
	case !ok:
		httpx.Error(w, r, a.log, fmt.Errorf("%w: no invoice %q (recorded invoices appear once consumed)", httpx.ErrNotFound, id))
	default:
		httpx.WriteJSON(w, http.StatusOK, i)
	}
}

// listInvoices answers GET /v1/invoices?status=pending|approved|held&store_id=&po_number=&limit=,
// the newest first.
func (a *App) listInvoices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad httpx.FieldErrors
	status, store := q.Get("status"), q.Get("store_id")
	switch status {
	case "", reorder.InvoicePending, reorder.InvoiceApproved, reorder.InvoiceHeld:
	default:
		bad.Add("status", "want pending, approved or held")
	}
	if store != "" {
		if _, err := a.cat.Store(store); err != nil {
			bad.Add("store_id", "unknown store %q", store)
		}
	}
	limit := parseLimit(q.Get("limit"), 100, &bad)
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT `+invoiceColumns+` FROM reorder.invoices
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR store_id = $2) AND ($3 = '' OR po_number = $3)
		ORDER BY received_at DESC, invoice_id LIMIT $4`, status, store, q.Get("po_number"), limit)
	if err != nil {
		a.unavailable(w, r, "invoices", err)
		return
	}
	out, err := pgx.CollectRows(rows, scanInvoice)
	if err != nil {
		a.unavailable(w, r, "invoices", err)
		return
	}
	if out == nil {
		out = []Invoice{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"invoices": out})
}

// Delivery is a consumed delivery as the API shows it.
type Delivery struct {
	DeliveryID      string            `json:"delivery_id"`
	StoreID         string            `json:"store_id"`
	VendorID        string            `json:"vendor_id"`
	PONumber        string            `json:"po_number,omitempty"`
	Matched         bool              `json:"matched"`
	Reason          string            `json:"reason,omitempty"`
	ReceivedAt      time.Time         `json:"received_at"`
	Lines           []schemas.QtyLine `json:"lines"`
	AwaitingInvoice bool              `json:"awaiting_invoice"`
}

// listDeliveries answers GET /v1/deliveries?store_id=&awaiting_invoice=true&limit=, the newest
// first; awaiting_invoice keeps the deliveries of known orders that no invoice names yet.
func (a *App) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad httpx.FieldErrors
	store := q.Get("store_id")
	if store != "" {
		if _, err := a.cat.Store(store); err != nil {
			bad.Add("store_id", "unknown store %q", store)
		}
	}
	awaiting := false
	if v := q.Get("awaiting_invoice"); v != "" {
		var err error
		if awaiting, err = strconv.ParseBool(v); err != nil {
			bad.Add("awaiting_invoice", "want true or false")
		}
	}
	limit := parseLimit(q.Get("limit"), 100, &bad)
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT d.delivery_id::text, d.store_id, d.vendor_id, coalesce(d.po_number, ''), d.matched,
			coalesce(d.reason, ''), d.received_at, d.lines,
			d.matched AND NOT EXISTS (SELECT 1 FROM reorder.invoices i WHERE i.po_number = d.po_number) AS awaiting
		FROM reorder.deliveries d
		WHERE ($1 = '' OR d.store_id = $1)
			AND (NOT $2 OR (d.matched AND NOT EXISTS (SELECT 1 FROM reorder.invoices i WHERE i.po_number = d.po_number)))
		ORDER BY d.received_at DESC, d.delivery_id LIMIT $3`, store, awaiting, limit)
	if err != nil {
		a.unavailable(w, r, "deliveries", err)
		return
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var lines []byte
		if err := row.Scan(&d.DeliveryID, &d.StoreID, &d.VendorID, &d.PONumber, &d.Matched, &d.Reason, &d.ReceivedAt, &lines, &d.AwaitingInvoice); err != nil {
			return d, err
		}
		d.ReceivedAt = d.ReceivedAt.UTC()
		return d, json.Unmarshal(lines, &d.Lines)
	})
	if err != nil {
		a.unavailable(w, r, "deliveries", err)
		return
	}
	if out == nil {
		out = []Delivery{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

func splitComma(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' })
}

func parseLimit(v string, def int, bad *httpx.FieldErrors) int {
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		bad.Add("limit", "want a whole number from 1 to 1000")
	}
	return n
}

// unavailable answers 503 when the reorder database cannot be read.
func (a *App) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	httpx.Unavailable(w, r, a.log, "Reorder database unavailable", what, err)
}
