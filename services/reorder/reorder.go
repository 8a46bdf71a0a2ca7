// Package reorder holds the purchasing and accounting rules of FreshMart's reorder service, with
// no database, broker or HTTP in it: which low-stock alert makes a purchase order line and for
// how many units, how lines group into one order, what a PO number is, when an order is due,
// how deliveries move an order's status, the three-way match of order, receipts and invoice,
// and the vendor email (RFC 5322) that sends an order.
//
// # Orders
//
// A low-stock alert for a store and SKU orders the SKU's reorder quantity rounded up to the
// vendor's pack size (catalog.Product.OrderQty), unless a line for that store and SKU is on an
// order that is still open or partly received. Lines for one vendor and store whose alerts fall
// within Window (5 minutes by default) of the alert that opened the order, by the alerts' own
// time, are one order: the first alert opens it, and the order is sealed (its email composed)
// when the window has passed, or earlier when a later alert of the same vendor and store falls
// outside it. PO numbers are PO-<store>-<vendor>-<n>, n counting that store's orders to that
// vendor from 1 in the order the store's alerts were consumed (one partition, so a replay gives
// the same numbers).
//
// The unit cost of a line (the catalog has only retail prices) is CostShare of the retail
// price, rounded to the cent: UnitCost. The requested delivery date is the order's date in the
// store's time zone plus the vendor's lead days.
//
// # Status
//
// open (nothing received), partly_received (some units of some line received), received (every
// line received in full; the order closes), cancelled (through the API; a received order cannot
// be cancelled). Receipts beyond the ordered quantity keep counting.
//
// # The three-way match
//
// Per line of the order, Match compares what was ordered, what the deliveries received so far
// and what the invoice bills: received within QtyTolerance units of ordered (short_delivery,
// over_delivery), the units invoiced (by this and the earlier approved invoices) not above
// received plus QtyTolerance (invoice_above_received), the invoice's unit cost within
// PriceTolerance of the order's (price_mismatch), and no invoiced SKU missing from the order
// (not_ordered). Short deliveries are judged when the invoice is matched: until then more
// deliveries may come, several per order being normal. An invoice that arrives before any
// delivery of its order is pending, and is matched on the next delivery; a held invoice is
// matched again on each later delivery of its order, and approved once it matches. Over
// deliveries and deliveries of SKUs not on the order are known at the dock, and alerted there.
package reorder

import (
	"fmt"
	"math"
	"time"

	"github.com/freshmart/platform/services/catalog"
)

// Order statuses.
const (
	StatusOpen           = "open"
	StatusPartlyReceived = "partly_received"
	StatusReceived       = "received"
	StatusCancelled      = "cancelled"
)

// Invoice statuses.
const (
	InvoicePending  = "pending"  // no delivery of its order yet
	InvoiceApproved = "approved" // matched: approved for payment
	InvoiceHeld     = "held"     // a mismatch; Reason says which
)

// Mismatch reasons (alert.delivery_mismatch reason and lines[].reason).
const (
	ReasonShort         = "short_delivery"
	ReasonOver          = "over_delivery"
	ReasonNotOrdered    = "not_ordered"
	ReasonAboveReceived = "invoice_above_received"
	ReasonPrice         = "price_mismatch"
	ReasonUnknownPO     = "unknown_po"
	ReasonNoPO          = "no_po"
	ReasonCancelledPO   = "po_cancelled"
)

const (
	// DefaultWindow is how long after the alert that opened an order later alerts join it.
	DefaultWindow = 5 * time.Minute
	// CostShare is the share of the retail price an order pays per unit (UnitCost).
	CostShare            = 0.65
	maxRequestedLeadDays = 365
)

// Tolerance is how far a match may be off and still match. The zero value is exact.
type Tolerance struct {
	// Price is the fraction of the order's unit cost an invoice's may differ by (default 0.02).
	Price float64
	// Qty is the units a received or invoiced quantity may differ by (default 0: exact).
	Qty int64
}

// DefaultTolerance is 2% on price, exact quantities.
var DefaultTolerance = Tolerance{Price: 0.02, Qty: 0}

// UnitCost is the cost the order is placed at for one unit of p: CostShare (65%) of its retail
// price, rounded to the nearest cent.
func UnitCost(p catalog.Product) int64 {
	return int64(math.Round(float64(p.PriceCents) * CostShare))
}

// OrderQty is the units a low-stock alert orders of p: its reorder quantity rounded up to the
// vendor's pack size, and at least one pack.
func OrderQty(p catalog.Product) int {
	q := p.ReorderQty
	if q < 1 {
		q = 1
	}
	return p.OrderQty(q)
}

// PONumber is the n-th order of store to vendor: PO-S001-V003-00001.
func PONumber(store, vendor string, n int) string {
	return fmt.Sprintf("PO-%s-%s-%05d", store, vendor, n)
}

// RequestedDelivery is the date an order opened at is wanted by: its date in the store's zone
// plus the vendor's lead days (0 to 365).
func RequestedDelivery(opened time.Time, loc *time.Location, leadDays int) time.Time {
	leadDays = min(max(leadDays, 0), maxRequestedLeadDays)
	d := opened.In(loc)
	return time.Date(d.Year(), d.Month(), d.Day()+leadDays, 0, 0, 0, 0, time.UTC)
}

// InWindow reports whether an alert at joins the order opened at opened: within window after
// it (an alert a little older than the opening, as a later-consumed one may be, joins too).
func InWindow(opened, at time.Time, window time.Duration) bool {
	return at.Sub(opened) < window
}

// Line is one SKU of an order with what happened to it.
type Line struct {
	SKU           string `json:"sku"`
	Qty           int64  `json:"qty"`
	UnitCostCents int64  `json:"unit_cost_cents"`
	Received      int64  `json:"received"`
	Invoiced      int64  `json:"invoiced"`
}

// Status is the status of an order with lines that is not cancelled: open, partly_received or
// received.
func Status(lines []Line) string {
	some, all := false, len(lines) > 0
	for _, l := range lines {
		if l.Received > 0 {
			some = true
		}
		if l.Received < l.Qty {
			all = false
		}
	}
	switch {
	case all:
		return StatusReceived
	case some:
		return StatusPartlyReceived
	}
	return StatusOpen
}

// Qty is a number of units of a SKU, as a delivery or invoice line has.
type Qty struct {
	SKU string
	Qty int64
}

// Diff is one line that does not match, as alert.delivery_mismatch reports it.
type Diff struct {
	SKU                 string
	Ordered, Received   int64
	Invoiced            *int64
	POUnitCost, InvCost *int64
	Reason              string
}

// Receive adds a delivery's units to the order's lines (a copy is returned) and returns what the
// dock can already tell is wrong: lines received beyond ordered plus tol.Qty (over_delivery)
// and SKUs not on the order (not_ordered). A short delivery is not judged here (more may come).
func Receive(lines []Line, got []Qty, tol Tolerance) ([]Line, []Diff) {
	out := append([]Line(nil), lines...)
	idx := map[string]int{}
	for i, l := range out {
		idx[l.SKU] = i
	}
	var diffs []Diff
	over := map[string]bool{}
	for _, g := range got {
		i, ok := idx[g.SKU]
		if !ok {
			diffs = append(diffs, Diff{SKU: g.SKU, Received: g.Qty, Reason: ReasonNotOrdered})
			continue
		}
		out[i].Received += g.Qty
		if out[i].Received > out[i].Qty+tol.Qty {
			over[g.SKU] = true
		}
	}
	for _, l := range out {
		if over[l.SKU] {
			diffs = append(diffs, Diff{SKU: l.SKU, Ordered: l.Qty, Received: l.Received, Reason: ReasonOver})
		}
	}
	return out, diffs
}

// Invoice is a vendor's invoice line by line.
type Invoice struct {
	Lines []InvoiceLine
}

// InvoiceLine is one billed SKU.
type InvoiceLine struct {
	SKU           string
	Qty           int64
	UnitCostCents int64
}

// Match is the three-way match of an order's lines (with what was received and invoiced by
// earlier approved invoices) and an invoice. It returns the lines that do not match, in the
// order's line order then the invoice's; none means the invoice is approved.
func Match(lines []Line, inv Invoice, tol Tolerance) []Diff {
	billed := map[string]InvoiceLine{}
	for _, l := range inv.Lines {
		b := billed[l.SKU]
		b.SKU, b.Qty, b.UnitCostCents = l.SKU, b.Qty+l.Qty, l.UnitCostCents
		billed[l.SKU] = b
	}
	onOrder := map[string]bool{}
	var diffs []Diff
	for _, l := range lines {
		onOrder[l.SKU] = true
		b, billedHere := billed[l.SKU]
		d := Diff{SKU: l.SKU, Ordered: l.Qty, Received: l.Received}
		invoiced := l.Invoiced + b.Qty
		switch {
		case l.Received < l.Qty-tol.Qty:
			d.Reason = ReasonShort
		case l.Received > l.Qty+tol.Qty:
			d.Reason = ReasonOver
		case billedHere && invoiced > l.Received+tol.Qty:
			d.Reason = ReasonAboveReceived
		case billedHere && !priceWithin(l.UnitCostCents, b.UnitCostCents, tol.Price):
			d.Reason = ReasonPrice
		default:
			continue
		}
		if billedHere {
			d.Invoiced = &invoiced
			po, ic := l.UnitCostCents, b.UnitCostCents
			d.POUnitCost, d.InvCost = &po, &ic
		}
		diffs = append(diffs, d)
	}
	for _, l := range inv.Lines {
		if !onOrder[l.SKU] {
			q, ic := l.Qty, l.UnitCostCents
			diffs = append(diffs, Diff{SKU: l.SKU, Invoiced: &q, InvCost: &ic, Reason: ReasonNotOrdered})
			onOrder[l.SKU] = true
		}
	}
	return diffs
}

// Apply adds an approved invoice's units to the order's lines (a copy is returned).
func Apply(lines []Line, inv Invoice) []Line {
	out := append([]Line(nil), lines...)
	for _, b := range inv.Lines {
		for i := range out {
			if out[i].SKU == b.SKU {
				out[i].Invoiced += b.Qty
			}
		}
	}
	return out
}

// priceWithin reports whether got is within tol (a fraction) of want.
func priceWithin(want, got int64, tol float64) bool {
	return math.Abs(float64(got-want)) <= float64(want)*tol+1e-9
}

// Reason is the reason of a mismatch: its first line's.
func Reason(diffs []Diff) string {
	if len(diffs) == 0 {
		return ""
	}
	return diffs[0].Reason
}
