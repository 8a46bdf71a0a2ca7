package analytics

import (
	"math"
	"slices"
	"time"

	"github.com/freshmart/platform/schemas"
)

// Currency is the currency of every amount of the report.
const Currency = "USD"

// StoreFigures are one store's figures of one day, as aggregated from the fact table: the
// store's own (distinct sales over all its lines) and per department (sales with a line in it).
type StoreFigures struct {
	Total       schemas.SalesFigures
	Departments map[string]schemas.SalesFigures
}

// Nets are the net sales of an earlier day per store and department, for the stores loaded on
// that day (a store present with no departments was loaded and sold nothing).
type Nets struct {
	Date   Date
	Stores map[string]map[string]int64
}

// ReportInput is everything a daily report is made of.
type ReportInput struct {
	ID          string
	Date        Date
	Version     int64
	Complete    bool // every store of the catalog is loaded for Date
	GeneratedAt time.Time
	// Departments are the catalog's departments in shelf order: every store and the chain get a
	// row for each, zeros included. Departments of Day that are not listed are appended.
	Departments []string
	// Day has the figures of Date for every store loaded so far.
	Day map[string]StoreFigures
	// PriorDay and PriorWeek are the nets of Date-1 and Date-7.
	PriorDay, PriorWeek Nets
	// Top are the best sellers, best first.
	Top []schemas.TopProduct
}

// BuildReport assembles report.daily_sales: one row per store of Day (by store id), each with
// a row per department, the chain's totals (sums over the stores: a sale belongs to one store)
// and the comparisons with PriorDay and PriorWeek. A store's comparison is null when the store
// was not loaded on the earlier day; the chain's, when any store of the report was not (so that
// a change is never a change in the set of stores).
func BuildReport(in ReportInput) schemas.DailySalesReport {
	depts := slices.Clone(in.Departments)
	for _, sf := range in.Day {
		for d := range sf.Departments {
			if !slices.Contains(depts, d) {
				depts = append(depts, d)
			}
		}
	}
	slices.Sort(depts[len(in.Departments):])
	stores := make([]string, 0, len(in.Day))
	for s := range in.Day {
		stores = append(stores, s)
	}
	slices.Sort(stores)

	r := schemas.DailySalesReport{
		ReportID: in.ID, ReportDate: in.Date.String(), Version: in.Version, Complete: in.Complete,
		GeneratedAt: in.GeneratedAt.UTC(), Currency: Currency, Stores: []schemas.StoreSales{},
		Totals:      schemas.ChainSales{Departments: make([]schemas.DepartmentSales, len(depts))},
		TopProducts: in.Top,
	}
	for i, d := range depts {
		r.Totals.Departments[i].Department = d
	}
	for _, s := range stores {
		sf := in.Day[s]
		row := schemas.StoreSales{StoreID: s, SalesFigures: sf.Total, Departments: make([]schemas.DepartmentSales, len(depts))}
		row.VsPriorDay = storeChange(in.PriorDay, s, "", sf.Total.NetCents)
		row.VsPriorWeek = storeChange(in.PriorWeek, s, "", sf.Total.NetCents)
		for i, d := range depts {
			f := sf.Departments[d]
			row.Departments[i] = schemas.DepartmentSales{Department: d, SalesFigures: f}
			row.Departments[i].VsPriorDay = storeChange(in.PriorDay, s, d, f.NetCents)
			row.Departments[i].VsPriorWeek = storeChange(in.PriorWeek, s, d, f.NetCents)
			r.Totals.Departments[i].SalesFigures = AddFigures(r.Totals.Departments[i].SalesFigures, f)
		}
		r.Totals.SalesFigures = AddFigures(r.Totals.SalesFigures, sf.Total)
		r.Stores = append(r.Stores, row)
	}
	r.Totals.VsPriorDay = chainChange(in.PriorDay, stores, "", r.Totals.NetCents)
	r.Totals.VsPriorWeek = chainChange(in.PriorWeek, stores, "", r.Totals.NetCents)
	for i, d := range depts {
		r.Totals.Departments[i].VsPriorDay = chainChange(in.PriorDay, stores, d, r.Totals.Departments[i].NetCents)
		r.Totals.Departments[i].VsPriorWeek = chainChange(in.PriorWeek, stores, d, r.Totals.Departments[i].NetCents)
	}
	return r
}

// AddFigures returns the sum of a and b.
func AddFigures(a, b schemas.SalesFigures) schemas.SalesFigures {
	return schemas.SalesFigures{
		SalesCount: a.SalesCount + b.SalesCount, VoidedCount: a.VoidedCount + b.VoidedCount,
		ItemsSold: a.ItemsSold + b.ItemsSold, GrossCents: a.GrossCents + b.GrossCents,
		VoidedCents: a.VoidedCents + b.VoidedCents, NetCents: a.NetCents + b.NetCents,
	}
}

// net returns a store's net on the earlier day, in department dept ("" for all of them), and
// whether the store was loaded on it.
func (n Nets) net(store, dept string) (int64, bool) {
	m, ok := n.Stores[store]
	if !ok {
		return 0, false
	}
	if dept != "" {
		return m[dept], true
	}
	var sum int64
	for _, v := range m {
		sum += v
	}
	return sum, true
}

func storeChange(n Nets, store, dept string, cur int64) *schemas.NetChange {
	prior, ok := n.net(store, dept)
	if !ok {
		return nil
	}
	return Change(n.Date, cur, prior)
}

func chainChange(n Nets, stores []string, dept string, cur int64) *schemas.NetChange {
	if len(stores) == 0 {
		return nil
	}
	var sum int64
	for _, s := range stores {
		prior, ok := n.net(s, dept)
		if !ok {
			return nil
		}
		sum += prior
	}
	return Change(n.Date, cur, sum)
}

// Change compares the net cur with the net prior of the day then.
func Change(then Date, cur, prior int64) *schemas.NetChange {
	return &schemas.NetChange{Date: then.String(), NetCents: prior, ChangeCents: cur - prior, ChangePct: PercentChange(cur, prior)}
}

// PercentChange returns (cur-prior)/prior in percent, rounded half away from zero to 0.1, or
// nil when prior is zero (no base to compare with).
func PercentChange(cur, prior int64) *float64 {
	if prior == 0 {
		return nil
	}
	p := math.Round(float64(cur-prior)*1000/float64(prior)) / 10
	if p == 0 {
		p = 0 // not -0
	}
	return &p
}
