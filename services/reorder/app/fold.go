package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/reorder"
)

// alertSlot is the first slot of an input's position that names the mismatch alerts it causes
// (events.DerivedID); the events themselves use slots from 0.
const alertSlot = 1 << 20

// sealPrefix starts the key of an order's sealing timer: "seal/<po number>".
const sealPrefix = "seal/"

// noDelivery is the delivery_id of a mismatch alert about an invoice whose order has no
// delivery (the field is required by the alert's schema).
const noDelivery = "00000000-0000-0000-0000-000000000000"

// sink is where a fold writes what follows from it: *stream.Tx live, a recorder in the rebuild.
type sink interface {
	EmitFor(ctx context.Context, in events.Event, slot int, o events.Out) (string, error)
	SetTimerFor(ctx context.Context, in events.Event, t stream.Timer) error
	CancelTimerFor(ctx context.Context, in events.Event, key string) error
}

// folder applies the consumed events to the tables of one schema ("reorder", or the rebuild's).
type folder struct {
	cat    *catalog.Catalog
	cfg    Config
	log    *slog.Logger
	m      *metrics
	schema string // sanitized identifier
}

func newFolder(schema string, cat *catalog.Catalog, cfg Config, log *slog.Logger, m *metrics) *folder {
	return &folder{cat: cat, cfg: cfg.withDefaults(), log: log, m: m, schema: pgx.Identifier{schema}.Sanitize()}
}

// t names a table of the folder's schema.
func (f *folder) t(name string) string { return f.schema + "." + name }

// handle is the stream.BatchHandler.
func (f *folder) handle(ctx context.Context, tx *stream.Tx, evs []events.Event) error {
	return f.apply(ctx, tx.Tx, tx, evs)
}

// apply folds a batch, one event at a time in batch order (each partition's order), so any
// batching gives the same view and the same alert ids.
func (f *folder) apply(ctx context.Context, q pgx.Tx, out sink, evs []events.Event) error {
	for _, ev := range evs {
		var err error
		switch {
		case ev.Topic == schemas.TopicStoreAlerts && ev.Type == schemas.TypeAlertLowStock:
			err = f.lowStock(ctx, q, out, ev)
		case ev.Topic == schemas.TopicVendorDeliveries && ev.Type == schemas.TypeDeliveryReceived:
			err = f.delivery(ctx, q, out, ev)
		case ev.Topic == schemas.TopicPurchasing && ev.Type == schemas.TypePOCancelled:
			err = f.cancel(ctx, q, ev)
		case ev.Topic == schemas.TopicPurchasing && ev.Type == schemas.TypeInvoiceReceived:
			err = f.invoice(ctx, q, out, ev)
		default:
			// The other alerts (this service's own mismatches among them) are not ours to fold.
			continue
		}
		if err != nil {
			var bad badInput
			if errors.As(err, &bad) {
				f.m.events.WithLabelValues(ev.Type, "rejected").Inc()
				f.log.Warn("skipping event", "type", ev.Type, "topic", ev.Topic, "partition", ev.Partition, "offset", ev.Offset, "err", err)
				continue
			}
			return err
		}
	}
	return nil
}

// badInput is an event that cannot be folded (invalid, or about what the catalog does not
// know): skipped, counted and logged, never retried.
type badInput struct{ error }

func decode[T any](ev events.Event) (T, error) {
	var v T
	if err := schemas.Validate(ev.Type, ev.Data); err != nil {
		return v, badInput{err}
	}
	v, err := events.Decode[T](ev)
	if err != nil {
		return v, badInput{err}
	}
	return v, nil
}

func (f *folder) count(typ, outcome string) { f.m.events.WithLabelValues(typ, outcome).Inc() }

// lowStock orders the alert's SKU from its vendor unless a line for the store and SKU is on an
// order still open or partly received; the line joins the vendor and store's unsealed order
// when the alert is within its window, and otherwise seals that order and opens the next.
func (f *folder) lowStock(ctx context.Context, q pgx.Tx, out sink, ev events.Event) error {
	a, err := decode[schemas.StockAlert](ev)
	if err != nil {
		return err
	}
	p, err := f.cat.Product(a.SKU)
	if err != nil {
		return badInput{fmt.Errorf("alert %s: unknown SKU %q", a.AlertID, a.SKU)}
	}
	st, err := f.cat.Store(a.StoreID)
	if err != nil {
		return badInput{fmt.Errorf("alert %s: unknown store %q", a.AlertID, a.StoreID)}
	}
	v, err := f.vendor(p.VendorID)
	if err != nil {
		return badInput{fmt.Errorf("alert %s: %w", a.AlertID, err)}
	}
	tag, err := q.Exec(ctx, `INSERT INTO `+f.t("alerts_seen")+` (alert_id) VALUES ($1) ON CONFLICT DO NOTHING`, a.AlertID)
	if err != nil {
		return fmt.Errorf("alert %s: %w", a.AlertID, err)
	}
	if tag.RowsAffected() == 0 {
		f.count(ev.Type, "duplicate")
		return nil
	}
	var open bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+f.t("po_lines")+` l JOIN `+f.t("purchase_orders")+` o USING (po_number)
		WHERE o.store_id = $1 AND l.sku = $2 AND o.status IN ('open', 'partly_received'))`, a.StoreID, a.SKU).Scan(&open); err != nil {
		return fmt.Errorf("alert %s: %w", a.AlertID, err)
	}
	if open {
		f.count(ev.Type, "already_open")
		return nil
	}
	var po string
	var opened, closes time.Time
	err = q.QueryRow(ctx, `SELECT po_number, opened_at, closes_at FROM `+f.t("purchase_orders")+`
		WHERE store_id = $1 AND vendor_id = $2 AND sealed_at IS NULL AND status = 'open' ORDER BY seq DESC LIMIT 1`, a.StoreID, v.VendorID).Scan(&po, &opened, &closes)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		po = ""
	case err != nil:
		return fmt.Errorf("alert %s: %w", a.AlertID, err)
	case !reorder.InWindow(opened, a.At, f.cfg.Window):
		// The window has passed by the alerts' own time: that order is complete.
		if err := f.seal(ctx, q, po, closes); err != nil {
			return err
		}
		if err := out.CancelTimerFor(ctx, ev, sealPrefix+po); err != nil {
			return err
		}
		po = ""
	}
	outcome := "grouped"
	if po == "" {
		outcome = "ordered"
		var seq int
		if err := q.QueryRow(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM `+f.t("purchase_orders")+` WHERE store_id = $1 AND vendor_id = $2`,
			a.StoreID, v.VendorID).Scan(&seq); err != nil {
			return fmt.Errorf("alert %s: %w", a.AlertID, err)
		}
		loc, err := st.Location()
		if err != nil {
			return badInput{err}
		}
		po = reorder.PONumber(a.StoreID, v.VendorID, seq)
		opened = a.At.UTC().Truncate(time.Microsecond)
		closes = opened.Add(f.cfg.Window)
		if _, err := q.Exec(ctx, `INSERT INTO `+f.t("purchase_orders")+` (po_number, store_id, vendor_id, seq, status, opened_at, closes_at,
				requested_delivery_date) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7)`,
			po, a.StoreID, v.VendorID, seq, opened, closes, reorder.RequestedDelivery(opened, loc, v.LeadDays)); err != nil {
			return fmt.Errorf("alert %s: open %s: %w", a.AlertID, po, err)
		}
		if err := out.SetTimerFor(ctx, ev, stream.Timer{Key: sealPrefix + po, At: closes}); err != nil {
			return err
		}
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+f.t("po_lines")+` (po_number, sku, line_no, qty, unit_cost_cents, alert_id)
		SELECT $1, $2, coalesce(max(line_no), 0) + 1, $3, $4, $5 FROM `+f.t("po_lines")+` WHERE po_number = $1`,
		po, a.SKU, reorder.OrderQty(p), reorder.UnitCost(p), a.AlertID); err != nil {
		return fmt.Errorf("alert %s: line of %s: %w", a.AlertID, po, err)
	}
	f.count(ev.Type, outcome)
	return nil
}

func (f *folder) vendor(id string) (catalog.Vendor, error) {
	for _, v := range f.cat.Vendors() {
		if v.VendorID == id {
			return v, nil
		}
	}
	return catalog.Vendor{}, fmt.Errorf("unknown vendor %q", id)
}

// fire is the stream.TimerHandler: an order's grouping window has passed.
func (f *folder) fire(ctx context.Context, tx *stream.Tx, t stream.Timer) error {
	po, ok := strings.CutPrefix(t.Key, sealPrefix)
	if !ok {
		f.log.Warn("dropping a timer of an unknown kind", "key", t.Key)
		return nil
	}
	return f.seal(ctx, tx.Tx, po, t.At)
}

// seal closes an order to new lines at `at` and, unless it was cancelled meanwhile, composes
// its email into the emails table (Date: at). Sealing a sealed order does nothing.
func (f *folder) seal(ctx context.Context, q pgx.Tx, po string, at time.Time) error {
	var store, vendor, status string
	var opened, requested time.Time
	err := q.QueryRow(ctx, `UPDATE `+f.t("purchase_orders")+` SET sealed_at = $2 WHERE po_number = $1 AND sealed_at IS NULL
		RETURNING store_id, vendor_id, status, opened_at, requested_delivery_date`, po, at).Scan(&store, &vendor, &status, &opened, &requested)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("seal %s: %w", po, err)
	}
	if status == reorder.StatusCancelled {
		return nil
	}
	st, err := f.cat.Store(store)
	if err != nil {
		return fmt.Errorf("seal %s: %w", po, err)
	}
	v, err := f.vendor(vendor)
	if err != nil {
		return fmt.Errorf("seal %s: %w", po, err)
	}
	lines, err := f.lines(ctx, q, po)
	if err != nil {
		return err
	}
	o := reorder.Order{Number: po, Store: st, Vendor: v, OpenedAt: opened, SentAt: at, Requested: requested}
	for _, l := range lines {
		p, _ := f.cat.Product(l.SKU)
		o.Lines = append(o.Lines, reorder.EmailLine{SKU: l.SKU, Name: p.Name, Unit: p.Unit, Qty: l.Qty, PackSize: p.PackSize, UnitCostCents: l.UnitCostCents})
	}
	msg, err := reorder.Message(o)
	if err != nil {
		return fmt.Errorf("seal %s: %w", po, err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+f.t("emails")+` (po_number, recipient, message, queued_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (po_number) DO NOTHING`, po, o.Recipient(), msg, at); err != nil {
		return fmt.Errorf("seal %s: queue email: %w", po, err)
	}
	return nil
}

// lines reads an order's lines in line order.
func (f *folder) lines(ctx context.Context, q pgx.Tx, po string) ([]reorder.Line, error) {
	rows, err := q.Query(ctx, `SELECT sku, qty, unit_cost_cents, received, invoiced FROM `+f.t("po_lines")+` WHERE po_number = $1 ORDER BY line_no`, po)
	if err != nil {
		return nil, fmt.Errorf("lines of %s: %w", po, err)
	}
	ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (reorder.Line, error) {
		var l reorder.Line
		err := r.Scan(&l.SKU, &l.Qty, &l.UnitCostCents, &l.Received, &l.Invoiced)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("lines of %s: %w", po, err)
	}
	return ls, nil
}

// order is the part of a purchase order the matching needs.
type order struct {
	number, store, vendor, status string
}

// lockOrder reads an order for update; ok is false when there is none.
func (f *folder) lockOrder(ctx context.Context, q pgx.Tx, po string) (order, bool, error) {
	o := order{number: po}
	if po == "" {
		return o, false, nil
	}
	err := q.QueryRow(ctx, `SELECT store_id, vendor_id, status FROM `+f.t("purchase_orders")+` WHERE po_number = $1 FOR UPDATE`, po).
		Scan(&o.store, &o.vendor, &o.status)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("order %s: %w", po, err)
	}
	return o, true, nil
}

// delivery matches a delivery to its order: receipts go on the lines, the status follows, what
// the dock can already tell is wrong is alerted, and the order's pending and held invoices are
// matched again.
func (f *folder) delivery(ctx context.Context, q pgx.Tx, out sink, ev events.Event) error {
	d, err := decode[schemas.DeliveryReceived](ev)
	if err != nil {
		return err
	}
	o, known, err := f.lockOrder(ctx, q, d.PONumber)
	if err != nil {
		return err
	}
	known = known && o.store == d.StoreID && o.vendor == d.VendorID
	reason := ""
	switch {
	case d.PONumber == "":
		reason = reorder.ReasonNoPO
	case !known:
		reason = reorder.ReasonUnknownPO
	case o.status == reorder.StatusCancelled:
		reason = reorder.ReasonCancelledPO
	}
	lines, _ := json.Marshal(d.Lines)
	tag, err := q.Exec(ctx, `INSERT INTO `+f.t("deliveries")+` (delivery_id, store_id, vendor_id, po_number, matched, received_at, lines, reason)
		VALUES ($1, $2, $3, nullif($4, ''), $5, $6, $7, nullif($8, '')) ON CONFLICT DO NOTHING`,
		d.DeliveryID, d.StoreID, d.VendorID, d.PONumber, known, d.ReceivedAt, lines, reason)
	if err != nil {
		return fmt.Errorf("delivery %s: %w", d.DeliveryID, err)
	}
	if tag.RowsAffected() == 0 {
		f.count(ev.Type, "duplicate")
		return nil
	}
	alert := schemas.DeliveryMismatchAlert{StoreID: d.StoreID, DeliveryID: d.DeliveryID, VendorID: d.VendorID, PONumber: d.PONumber, At: d.ReceivedAt.UTC()}
	if !known {
		for _, l := range d.Lines {
			alert.Lines = append(alert.Lines, schemas.MismatchLine{SKU: l.SKU, Received: l.Qty, Reason: reason})
		}
		f.count(ev.Type, reason)
		return f.emitAlert(ctx, out, ev, 0, alert, reason)
	}
	cur, err := f.lines(ctx, q, o.number)
	if err != nil {
		return err
	}
	got := make([]reorder.Qty, len(d.Lines))
	for i, l := range d.Lines {
		got[i] = reorder.Qty{SKU: l.SKU, Qty: l.Qty}
	}
	next, diffs := reorder.Receive(cur, got, f.cfg.Tolerance)
	for _, l := range next {
		if _, err := q.Exec(ctx, `UPDATE `+f.t("po_lines")+` SET received = $3 WHERE po_number = $1 AND sku = $2`, o.number, l.SKU, l.Received); err != nil {
			return fmt.Errorf("delivery %s: %w", d.DeliveryID, err)
		}
	}
	if o.status != reorder.StatusCancelled {
		o.status = reorder.Status(next)
		if _, err := q.Exec(ctx, `UPDATE `+f.t("purchase_orders")+` SET status = $2,
				received_at = CASE WHEN $2 = 'received' THEN coalesce(received_at, $3) END WHERE po_number = $1`,
			o.number, o.status, d.ReceivedAt); err != nil {
			return fmt.Errorf("delivery %s: %w", d.DeliveryID, err)
		}
	}
	if reason == reorder.ReasonCancelledPO {
		for _, l := range next {
			diffs = append(diffs, reorder.Diff{SKU: l.SKU, Ordered: l.Qty, Received: l.Received, Reason: reason})
		}
	}
	if len(diffs) > 0 {
		alert.Lines = mismatchLines(diffs)
		if err := f.emitAlert(ctx, out, ev, 0, alert, reorder.Reason(diffs)); err != nil {
			return err
		}
	}
	f.count(ev.Type, "matched")
	return f.rematch(ctx, q, out, ev, o, d.DeliveryID, d.ReceivedAt)
}

// rematch matches the order's pending and held invoices again after a delivery, oldest first:
// a match approves one; a pending invoice that does not match is held and alerted; a held one
// that still does not match stays held with the new reason (alerted once, when it was held).
func (f *folder) rematch(ctx context.Context, q pgx.Tx, out sink, ev events.Event, o order, delivery string, at time.Time) error {
	rows, err := q.Query(ctx, `SELECT invoice_id, status, lines FROM `+f.t("invoices")+`
		WHERE po_number = $1 AND status IN ('pending', 'held') ORDER BY received_at, invoice_id`, o.number)
	if err != nil {
		return fmt.Errorf("invoices of %s: %w", o.number, err)
	}
	type inv struct {
		id, status string
		lines      []schemas.InvoiceLine
	}
	invs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inv, error) {
		var i inv
		var raw []byte
		if err := r.Scan(&i.id, &i.status, &raw); err != nil {
			return i, err
		}
		return i, json.Unmarshal(raw, &i.lines)
	})
	if err != nil {
		return fmt.Errorf("invoices of %s: %w", o.number, err)
	}
	for n, i := range invs {
		if err := f.decide(ctx, q, out, ev, 1+n, o, i.id, i.status, i.lines, delivery, at); err != nil {
			return err
		}
	}
	return nil
}

// decide runs the three-way match of one invoice against its order as it stands and records
// the outcome; slot names the alert a new hold emits.
func (f *folder) decide(ctx context.Context, q pgx.Tx, out sink, ev events.Event, slot int, o order, id, was string,
	lines []schemas.InvoiceLine, delivery string, at time.Time) error {
	cur, err := f.lines(ctx, q, o.number)
	if err != nil {
		return err
	}
	inv := reorder.Invoice{}
	for _, l := range lines {
		inv.Lines = append(inv.Lines, reorder.InvoiceLine{SKU: l.SKU, Qty: l.Qty, UnitCostCents: l.UnitCostCents})
	}
	var diffs []reorder.Diff
	if o.status == reorder.StatusCancelled {
		for _, l := range cur {
			diffs = append(diffs, reorder.Diff{SKU: l.SKU, Ordered: l.Qty, Received: l.Received, Reason: reorder.ReasonCancelledPO})
		}
	} else {
		diffs = reorder.Match(cur, inv, f.cfg.Tolerance)
	}
	if len(diffs) == 0 {
		for _, l := range reorder.Apply(cur, inv) {
			if _, err := q.Exec(ctx, `UPDATE `+f.t("po_lines")+` SET invoiced = $3 WHERE po_number = $1 AND sku = $2`, o.number, l.SKU, l.Invoiced); err != nil {
				return fmt.Errorf("invoice %s: %w", id, err)
			}
		}
		if _, err := q.Exec(ctx, `UPDATE `+f.t("invoices")+` SET status = 'approved', reason = NULL, diffs = NULL, decided_at = $2
			WHERE invoice_id = $1`, id, at); err != nil {
			return fmt.Errorf("invoice %s: %w", id, err)
		}
		f.count(schemas.TypeInvoiceReceived, reorder.InvoiceApproved)
		return nil
	}
	reason := reorder.Reason(diffs)
	ml := mismatchLines(diffs)
	raw, _ := json.Marshal(ml)
	if _, err := q.Exec(ctx, `UPDATE `+f.t("invoices")+` SET status = 'held', reason = $2, diffs = $3, decided_at = $4 WHERE invoice_id = $1`,
		id, reason, raw, at); err != nil {
		return fmt.Errorf("invoice %s: %w", id, err)
	}
	f.count(schemas.TypeInvoiceReceived, reorder.InvoiceHeld)
	if was == reorder.InvoiceHeld {
		return nil
	}
	return f.emitAlert(ctx, out, ev, slot, schemas.DeliveryMismatchAlert{StoreID: o.store, DeliveryID: delivery, VendorID: o.vendor,
		PONumber: o.number, InvoiceID: id, Lines: ml, At: at.UTC()}, reason)
}

// invoice records an invoice and matches it: against no known order (held, unknown_po), an
// order without deliveries yet (pending), or the order's lines (approved or held).
func (f *folder) invoice(ctx context.Context, q pgx.Tx, out sink, ev events.Event) error {
	in, err := decode[schemas.InvoiceReceived](ev)
	if err != nil {
		return err
	}
	o, known, err := f.lockOrder(ctx, q, in.PONumber)
	if err != nil {
		return err
	}
	known = known && o.vendor == in.VendorID && o.store == in.StoreID
	lines, _ := json.Marshal(in.Lines)
	tag, err := q.Exec(ctx, `INSERT INTO `+f.t("invoices")+` (invoice_id, vendor_id, po_number, store_id, lines, status, received_at, partition, "offset")
		VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8) ON CONFLICT DO NOTHING`,
		in.InvoiceID, in.VendorID, in.PONumber, in.StoreID, lines, in.ReceivedAt, ev.Partition, ev.Offset)
	if err != nil {
		return fmt.Errorf("invoice %s: %w", in.InvoiceID, err)
	}
	if tag.RowsAffected() == 0 {
		f.count(ev.Type, "duplicate")
		return nil
	}
	if !known {
		var ml []schemas.MismatchLine
		for _, l := range in.Lines {
			q, c := l.Qty, l.UnitCostCents
			ml = append(ml, schemas.MismatchLine{SKU: l.SKU, Invoiced: &q, InvoicedUnitCostCents: &c, Reason: reorder.ReasonUnknownPO})
		}
		raw, _ := json.Marshal(ml)
		if _, err := q.Exec(ctx, `UPDATE `+f.t("invoices")+` SET status = 'held', reason = $2, diffs = $3, decided_at = $4 WHERE invoice_id = $1`,
			in.InvoiceID, reorder.ReasonUnknownPO, raw, in.ReceivedAt); err != nil {
			return fmt.Errorf("invoice %s: %w", in.InvoiceID, err)
		}
		f.count(ev.Type, reorder.InvoiceHeld)
		return f.emitAlert(ctx, out, ev, 0, schemas.DeliveryMismatchAlert{StoreID: in.StoreID, DeliveryID: noDelivery, VendorID: in.VendorID,
			PONumber: in.PONumber, InvoiceID: in.InvoiceID, Lines: ml, At: in.ReceivedAt.UTC()}, reorder.ReasonUnknownPO)
	}
	var delivery string
	err = q.QueryRow(ctx, `SELECT delivery_id::text FROM `+f.t("deliveries")+` WHERE po_number = $1 AND matched
		ORDER BY received_at DESC, delivery_id DESC LIMIT 1`, o.number).Scan(&delivery)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && o.status != reorder.StatusCancelled:
		f.count(ev.Type, reorder.InvoicePending)
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		delivery = noDelivery
	case err != nil:
		return fmt.Errorf("invoice %s: %w", in.InvoiceID, err)
	}
	return f.decide(ctx, q, out, ev, 0, o, in.InvoiceID, reorder.InvoicePending, in.Lines, delivery, in.ReceivedAt)
}

// cancel cancels an order that is open or partly received; a received, cancelled or unknown
// order is left as it is (the API refuses those; a copy of the event lands here).
func (f *folder) cancel(ctx context.Context, q pgx.Tx, ev events.Event) error {
	c, err := decode[schemas.POCancelled](ev)
	if err != nil {
		return err
	}
	tag, err := q.Exec(ctx, `UPDATE `+f.t("purchase_orders")+` SET status = 'cancelled', cancelled_at = $2, cancel_reason = nullif($3, '')
		WHERE po_number = $1 AND store_id = $4 AND status IN ('open', 'partly_received')`, c.PONumber, c.CancelledAt, c.Reason, c.StoreID)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", c.PONumber, err)
	}
	if tag.RowsAffected() == 0 {
		f.count(ev.Type, "ignored")
		return nil
	}
	f.count(ev.Type, "cancelled")
	return nil
}

// mismatchLines turns diffs into the alert's lines.
func mismatchLines(diffs []reorder.Diff) []schemas.MismatchLine {
	out := make([]schemas.MismatchLine, len(diffs))
	for i, d := range diffs {
		out[i] = schemas.MismatchLine{SKU: d.SKU, Ordered: d.Ordered, Received: d.Received, Invoiced: d.Invoiced,
			POUnitCostCents: d.POUnitCost, InvoicedUnitCostCents: d.InvCost, Reason: d.Reason}
	}
	return out
}

// emitAlert emits an alert.delivery_mismatch on store-alerts, its id derived from the input's
// position and slot.
func (f *folder) emitAlert(ctx context.Context, out sink, ev events.Event, slot int, a schemas.DeliveryMismatchAlert, reason string) error {
	a.AlertID = events.DerivedID(ev.Topic, ev.Partition, ev.Offset, alertSlot+slot)
	a.Reason = reason
	if _, err := out.EmitFor(ctx, ev, slot, events.Out{Topic: schemas.TopicStoreAlerts, Key: a.StoreID, Type: schemas.TypeAlertDeliveryMismatch, Payload: a}); err != nil {
		return fmt.Errorf("mismatch alert: %w", err)
	}
	f.m.alerts.WithLabelValues(reason).Inc()
	return nil
}
