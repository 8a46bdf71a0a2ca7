package analytics

import (
	"cmp"
	"slices"
	"time"

	"github.com/freshmart/platform/schemas"
)

// StoreDay names one store's business day: the unit the ETL loads.
type StoreDay struct {
	StoreID string
	Date    Date
}

// Line is one sale line as the fact table holds it.
type Line struct {
	SaleID         string
	LineNo         int // position in the sale's lines, from 0
	StoreID        string
	Date           Date // the business day: occurred_at in the store's zone
	OccurredAt     time.Time
	SKU            string
	Qty            int64
	UnitPriceCents int64
	Payment        string // card, cash or mobile
	Voided         bool
}

// GrossCents is the line's amount, voided or not.
func (l Line) GrossCents() int64 { return l.Qty * l.UnitPriceCents }

// NetCents is the line's amount, or 0 when its sale was voided.
func (l Line) NetCents() int64 {
	if l.Voided {
		return 0
	}
	return l.GrossCents()
}

// LinesOf returns the lines of a sale (not voided) whose store is in zone loc.
func LinesOf(s schemas.SaleCompleted, loc *time.Location) []Line {
	day := DateOf(s.OccurredAt, loc)
	out := make([]Line, len(s.Lines))
	for i, sl := range s.Lines {
		out[i] = Line{SaleID: s.SaleID, LineNo: i, StoreID: s.StoreID, Date: day, OccurredAt: s.OccurredAt.UTC(),
			SKU: sl.SKU, Qty: sl.Qty, UnitPriceCents: sl.UnitPriceCents, Payment: s.Payment.Method}
	}
	return out
}

// Ledger is the meaning of the fact table: the lines that a set of sale.completed and
// sale.voided events stand for. The first copy of a sale_id counts, later copies are dropped,
// and a void marks every line of its sale voided whether it is added before or after the sale,
// so the lines do not depend on the order the events are added in.
type Ledger struct {
	zone  func(storeID string) *time.Location
	sales map[string]schemas.SaleCompleted
	voids map[string]bool
}

// NewLedger returns an empty ledger that counts business days in the zone of each store.
func NewLedger(zone func(storeID string) *time.Location) *Ledger {
	return &Ledger{zone: zone, sales: map[string]schemas.SaleCompleted{}, voids: map[string]bool{}}
}

// Sale adds a completed sale; it reports false for a copy of a sale already added.
func (l *Ledger) Sale(s schemas.SaleCompleted) bool {
	if _, ok := l.sales[s.SaleID]; ok {
		return false
	}
	l.sales[s.SaleID] = s
	return true
}

// Void adds a void; it reports false for a sale already voided.
func (l *Ledger) Void(v schemas.SaleVoided) bool {
	if l.voids[v.SaleID] {
		return false
	}
	l.voids[v.SaleID] = true
	return true
}

// Lines returns every line, ordered by store, day, sale and line number.
func (l *Ledger) Lines() []Line {
	var out []Line
	for _, s := range l.sales {
		for _, ln := range LinesOf(s, l.zone(s.StoreID)) {
			ln.Voided = l.voids[s.SaleID]
			out = append(out, ln)
		}
	}
	slices.SortFunc(out, func(a, b Line) int {
		return cmp.Or(cmp.Compare(a.StoreID, b.StoreID), cmp.Compare(a.Date, b.Date),
			cmp.Compare(a.SaleID, b.SaleID), cmp.Compare(a.LineNo, b.LineNo))
	})
	return out
}

// DayTotals are the sums of one store-day's lines.
type DayTotals struct {
	Lines, VoidedLines     int64 // rows, and those voided
	Sales, VoidedSales     int64 // distinct sales, and those voided
	Qty, ItemsSold         int64 // units, and those of sales not voided
	GrossCents, NetCents   int64
	VoidedCents, LateLines int64 // LateLines is left to the caller: the ledger has no notion of loading
}

// Days returns the totals of every store-day that has lines.
func (l *Ledger) Days() map[StoreDay]DayTotals {
	out := map[StoreDay]DayTotals{}
	seen := map[string]bool{}
	for _, ln := range l.Lines() {
		k := StoreDay{ln.StoreID, ln.Date}
		t := out[k]
		t.Lines++
		t.Qty += ln.Qty
		t.GrossCents += ln.GrossCents()
		t.NetCents += ln.NetCents()
		if ln.Voided {
			t.VoidedLines++
			t.VoidedCents += ln.GrossCents()
		} else {
			t.ItemsSold += ln.Qty
		}
		if !seen[ln.SaleID] {
			seen[ln.SaleID] = true
			t.Sales++
			if ln.Voided {
				t.VoidedSales++
			}
		}
		out[k] = t
	}
	return out
}
