package analytics

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDateOfBothSidesOfMidnightUTC(t *testing.T) {
	ny, la, phx, tokyo := mustLoc(t, "America/New_York"), mustLoc(t, "America/Los_Angeles"), mustLoc(t, "America/Phoenix"), mustLoc(t, "Asia/Tokyo")
	for _, tc := range []struct {
		at   string
		loc  *time.Location
		want string
	}{
		{"2026-12-02T04:30:00Z", ny, "2026-12-01"},    // 23:30 EST: the UTC date is already the 2nd
		{"2026-12-02T05:00:00Z", ny, "2026-12-02"},    // midnight EST
		{"2026-12-02T07:59:59Z", la, "2026-12-01"},    // 23:59:59 PST
		{"2026-12-02T08:00:00Z", la, "2026-12-02"},    // midnight PST
		{"2026-07-02T06:59:00Z", la, "2026-07-01"},    // 23:59 PDT
		{"2026-07-02T06:59:00Z", phx, "2026-07-01"},   // 23:59 MST (Phoenix keeps no summer time)
		{"2026-07-02T07:00:00Z", phx, "2026-07-02"},   // midnight MST
		{"2026-12-01T15:00:00Z", tokyo, "2026-12-02"}, // 00:00 JST: ahead of UTC
		{"2026-12-01T14:59:59Z", tokyo, "2026-12-01"},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := DateOf(at, tc.loc).String(); got != tc.want {
			t.Errorf("DateOf(%s, %s) = %s, want %s", tc.at, tc.loc, got, tc.want)
		}
	}
}

func TestDateArithmetic(t *testing.T) {
	d, err := ParseDate("2026-12-01")
	if err != nil {
		t.Fatal(err)
	}
	if d.Key() != 20261201 || d.String() != "2026-12-01" || d.Weekday() != time.Tuesday {
		t.Errorf("2026-12-01: key %d, %s, %s", d.Key(), d, d.Weekday())
	}
	if got := d.AddDays(-1).String(); got != "2026-11-30" {
		t.Errorf("day before = %s", got)
	}
	if got := d.AddDays(-7); got.Weekday() != d.Weekday() || got.String() != "2026-11-24" {
		t.Errorf("week before = %s (%s)", got, got.Weekday())
	}
	if got := NewDate(2026, 13, 1).String(); got != "2027-01-01" {
		t.Errorf("NewDate normalises: %s", got)
	}
	if got := Dates(d, d.AddDays(2)); len(got) != 3 || got[2].String() != "2026-12-03" {
		t.Errorf("Dates = %v", got)
	}
	if len(Dates(d, d.AddDays(-1))) != 0 {
		t.Error("Dates of an empty range is not empty")
	}
	for _, bad := range []string{"", "2026-13-01", "01/12/2026", "2026-12-01T00:00:00Z"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
	if got := DateFromTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); got != d {
		t.Errorf("DateFromTime = %s", got)
	}
}

func TestDayBoundsAcrossDaylightSaving(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	for _, tc := range []struct {
		day   string
		hours float64
	}{{"2026-03-08", 23}, {"2026-11-01", 25}, {"2026-12-01", 24}} {
		d, _ := ParseDate(tc.day)
		start, end := d.Start(ny), d.End(ny)
		if got := end.Sub(start).Hours(); got != tc.hours {
			t.Errorf("%s is %.0f hours long in New York, want %.0f", tc.day, got, tc.hours)
		}
		if DateOf(start, ny) != d || DateOf(end.Add(-time.Nanosecond), ny) != d || DateOf(end, ny) != d.AddDays(1) {
			t.Errorf("%s: [%s, %s) is not the day", tc.day, start, end)
		}
	}
}

func TestClosedDay(t *testing.T) {
	ny, la := mustLoc(t, "America/New_York"), mustLoc(t, "America/Los_Angeles")
	slot := time.Date(2026, 12, 2, 0, 5, 0, 0, ny)
	if got := ClosedDay(slot, ny).String(); got != "2026-12-01" {
		t.Errorf("ClosedDay(00:05 New York) = %s", got)
	}
	// The same instant is still the 1st in Los Angeles (21:05): its closed day is the 30th.
	if got := ClosedDay(slot, la).String(); got != "2026-11-30" {
		t.Errorf("ClosedDay(21:05 Los Angeles) = %s", got)
	}
}

// randomEvents returns sales (with copies) and voids (some of sales that do not exist) over a
// few stores and days.
func randomEvents(rng *rand.Rand) (sales []schemas.SaleCompleted, voids []schemas.SaleVoided) {
	stores := []string{"S001", "S004", "S005"}
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i := range 40 {
		s := schemas.SaleCompleted{SaleID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), StoreID: stores[rng.IntN(len(stores))],
			Register: "R01", OccurredAt: t0.Add(time.Duration(rng.IntN(72*60)) * time.Minute), Payment: schemas.Payment{Method: "card"}}
		for range 1 + rng.IntN(4) {
			s.Lines = append(s.Lines, schemas.SaleLine{SKU: fmt.Sprintf("PRD-%04d", 1+rng.IntN(9)), Qty: int64(1 + rng.IntN(3)), UnitPriceCents: int64(rng.IntN(900))})
		}
		sales = append(sales, s)
		if rng.IntN(5) == 0 {
			sales = append(sales, s) // a POS retry
		}
		if rng.IntN(4) == 0 {
			voids = append(voids, schemas.SaleVoided{SaleID: s.SaleID, StoreID: s.StoreID, VoidedAt: s.OccurredAt.Add(time.Hour), Reason: "x"})
		}
	}
	voids = append(voids, schemas.SaleVoided{SaleID: "00000000-0000-4000-8000-999999999999", StoreID: "S001", VoidedAt: t0, Reason: "unknown sale"})
	return sales, voids
}

func zones(t testing.TB) func(string) *time.Location {
	m := map[string]*time.Location{"S001": mustLoc(t, "America/New_York"), "S004": mustLoc(t, "America/Los_Angeles"), "S005": mustLoc(t, "America/Phoenix")}
	return func(s string) *time.Location { return m[s] }
}

// TestLedgerOrderIndependence adds the same sales, copies and voids in random orders (voids
// before or after their sales) and requires the same lines and day totals every time.
func TestLedgerOrderIndependence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zone := zones(t)
	for round := range 100 {
		sales, voids := randomEvents(rng)
		type ev struct {
			sale *schemas.SaleCompleted
			void *schemas.SaleVoided
		}
		var evs []ev
		for i := range sales {
			evs = append(evs, ev{sale: &sales[i]})
		}
		for i := range voids {
			evs = append(evs, ev{void: &voids[i]})
		}
		fold := func(order []int) ([]Line, map[StoreDay]DayTotals) {
			l := NewLedger(zone)
			for _, i := range order {
				if e := evs[i]; e.sale != nil {
					l.Sale(*e.sale)
				} else {
					l.Void(*e.void)
				}
			}
			return l.Lines(), l.Days()
		}
		inOrder := make([]int, len(evs))
		for i := range inOrder {
			inOrder[i] = i
		}
		wantLines, wantDays := fold(inOrder)
		for range 5 {
			perm := rng.Perm(len(evs))
			lines, days := fold(perm)
			if !reflect.DeepEqual(lines, wantLines) || !reflect.DeepEqual(days, wantDays) {
				t.Fatalf("round %d: order %v gives other lines or totals than the events' own order", round, perm)
			}
		}
		// The totals are the sums of the lines.
		var rows, net int64
		for _, d := range wantDays {
			rows += d.Lines
			net += d.NetCents
			if d.GrossCents-d.VoidedCents != d.NetCents || d.VoidedSales > d.Sales || d.VoidedLines > d.Lines {
				t.Fatalf("round %d: inconsistent totals %+v", round, d)
			}
		}
		var wantNet int64
		for _, ln := range wantLines {
			wantNet += ln.NetCents()
		}
		if rows != int64(len(wantLines)) || net != wantNet {
			t.Fatalf("round %d: days sum to %d rows and %d net, lines are %d and %d", round, rows, net, len(wantLines), wantNet)
		}
	}
}

func TestLedgerVoidBeforeSaleAndCopies(t *testing.T) {
	l := NewLedger(zones(t))
	s := schemas.SaleCompleted{SaleID: "a", StoreID: "S001", OccurredAt: time.Date(2026, 12, 2, 4, 30, 0, 0, time.UTC),
		Lines: []schemas.SaleLine{{SKU: "PRD-0001", Qty: 2, UnitPriceCents: 150}, {SKU: "PRD-0002", Qty: 1, UnitPriceCents: 99}}}
	if !l.Void(schemas.SaleVoided{SaleID: "a"}) || l.Void(schemas.SaleVoided{SaleID: "a"}) {
		t.Fatal("a second void of a sale is not a copy")
	}
	if !l.Sale(s) || l.Sale(s) {
		t.Fatal("a second copy of a sale is not a copy")
	}
	days := l.Days()
	want := DayTotals{Lines: 2, VoidedLines: 2, Sales: 1, VoidedSales: 1, Qty: 3, GrossCents: 399, VoidedCents: 399}
	if got := days[StoreDay{"S001", NewDate(2026, 12, 1)}]; got != want || len(days) != 1 {
		t.Fatalf("days = %+v, want only 2026-12-01 (23:30 in New York) with %+v", days, want)
	}
}

func TestPercentChange(t *testing.T) {
	for _, tc := range []struct {
		cur, prior int64
		want       string
	}{
		{2500, 1000, "150.0"}, {1000, 1000, "0.0"}, {0, 1000, "-100.0"}, {1000, 0, "null"},
		{1001, 3000, "-66.6"}, {2, 3, "-33.3"}, {1, 3, "-66.7"}, {9999999, 10000000, "0.0"}, {10005, 10000, "0.1"},
	} {
		p := PercentChange(tc.cur, tc.prior)
		got, _ := json.Marshal(p)
		if p != nil {
			got = fmt.Appendf(nil, "%.1f", *p)
		}
		if string(got) != tc.want {
			t.Errorf("PercentChange(%d, %d) = %s, want %s", tc.cur, tc.prior, got, tc.want)
		}
	}
	if p := PercentChange(9999999, 10000000); p == nil || *p != 0 || fmt.Sprint(*p) != "0" {
		t.Errorf("a tiny fall rounds to %v, want 0 (not -0)", p)
	}
}

func TestDollars(t *testing.T) {
	for cents, want := range map[int64]string{0: "0.00", 5: "0.05", 50: "0.50", 123456: "1234.56", -5: "-0.05", -100: "-1.00", 100000000000: "1000000000.00"} {
		if got := Dollars(cents); got != want {
			t.Errorf("Dollars(%d) = %s, want %s", cents, got, want)
		}
	}
}

func fig(sales, voided, items, gross, voidedCents int64) schemas.SalesFigures {
	return schemas.SalesFigures{SalesCount: sales, VoidedCount: voided, ItemsSold: items, GrossCents: gross, VoidedCents: voidedCents, NetCents: gross - voidedCents}
}

func sampleInput() ReportInput {
	d := NewDate(2026, 12, 1)
	return ReportInput{
		ID: "3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41", Date: d, Version: 3, GeneratedAt: time.Date(2026, 12, 2, 8, 5, 0, 0, time.UTC),
		Departments: []string{"produce", "dairy", "bakery"},
		Day: map[string]StoreFigures{
			"S002": {Total: fig(3, 1, 4, 1000, 200), Departments: map[string]schemas.SalesFigures{"produce": fig(2, 1, 3, 700, 200), "dairy": fig(1, 0, 1, 300, 0)}},
			"S001": {Total: fig(1, 0, 2, 500, 0), Departments: map[string]schemas.SalesFigures{"bakery": fig(1, 0, 2, 500, 0)}},
		},
		// The day before: both stores loaded (S001 sold nothing); a week before: only S002.
		PriorDay:  Nets{Date: d.AddDays(-1), Stores: map[string]map[string]int64{"S001": {}, "S002": {"produce": 400, "dairy": 400}}},
		PriorWeek: Nets{Date: d.AddDays(-7), Stores: map[string]map[string]int64{"S002": {"produce": 1000}}},
		Top:       []schemas.TopProduct{{SKU: "PRD-0001", Qty: 3, RevenueCents: 500}},
	}
}

func TestBuildReport(t *testing.T) {
	r := BuildReport(sampleInput())
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(schemas.TypeReportDailySales, raw); err != nil {
		t.Fatalf("the report is not a valid report.daily_sales: %v\n%s", err, raw)
	}
	if len(r.Stores) != 2 || r.Stores[0].StoreID != "S001" || r.Stores[1].StoreID != "S002" {
		t.Fatalf("stores %+v, want S001 then S002", r.Stores)
	}
	for _, s := range r.Stores {
		if len(s.Departments) != 3 || s.Departments[0].Department != "produce" || s.Departments[2].Department != "bakery" {
			t.Fatalf("store %s departments %+v, want every department in shelf order", s.StoreID, s.Departments)
		}
	}
	if r.Totals.SalesFigures != fig(4, 1, 6, 1500, 200) {
		t.Errorf("totals %+v", r.Totals.SalesFigures)
	}
	if got := r.Totals.Departments[0].SalesFigures; got != fig(2, 1, 3, 700, 200) {
		t.Errorf("chain produce %+v", got)
	}
	s1, s2 := r.Stores[0], r.Stores[1]
	// S001 was loaded the day before and sold nothing: a change with no percentage.
	if c := s1.VsPriorDay; c == nil || c.NetCents != 0 || c.ChangeCents != 500 || c.ChangePct != nil || c.Date != "2026-11-30" {
		t.Errorf("S001 vs prior day %+v", c)
	}
	if s1.VsPriorWeek != nil || s1.Departments[0].VsPriorWeek != nil {
		t.Errorf("S001 was not loaded a week before: %+v", s1.VsPriorWeek)
	}
	if c := s2.VsPriorDay; c == nil || c.NetCents != 800 || c.ChangeCents != 0 || *c.ChangePct != 0 {
		t.Errorf("S002 vs prior day %+v", c)
	}
	if c := s2.Departments[0].VsPriorWeek; c == nil || c.NetCents != 1000 || c.ChangeCents != -500 || *c.ChangePct != -50 || c.Date != "2026-11-24" {
		t.Errorf("S002 produce vs prior week %+v", c)
	}
	if c := s2.Departments[1].VsPriorWeek; c == nil || c.NetCents != 0 || c.ChangePct != nil {
		t.Errorf("S002 dairy vs prior week (loaded, no dairy sales) %+v", c)
	}
	// The chain: every store loaded the day before; not a week before.
	if c := r.Totals.VsPriorDay; c == nil || c.NetCents != 800 || c.ChangeCents != 500 || *c.ChangePct != 62.5 {
		t.Errorf("chain vs prior day %+v", c)
	}
	if r.Totals.VsPriorWeek != nil || r.Totals.Departments[0].VsPriorWeek != nil {
		t.Errorf("chain vs prior week should be null: %+v", r.Totals.VsPriorWeek)
	}
	// A day with no store yet is still a valid report.
	empty := BuildReport(ReportInput{ID: "3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41", Date: NewDate(2026, 12, 1), Version: 1, Departments: []string{"produce"}})
	raw, _ = json.Marshal(empty)
	if err := schemas.Validate(schemas.TypeReportDailySales, raw); err != nil {
		t.Fatalf("empty report invalid: %v\n%s", err, raw)
	}
}

func TestWriteCSV(t *testing.T) {
	r := BuildReport(sampleInput())
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(recs[0], CSVHeader) {
		t.Fatalf("header %v", recs[0])
	}
	if len(recs) != 1+2*3 {
		t.Fatalf("%d rows, want a header and one per store and department", len(recs))
	}
	byKey := map[string][]string{}
	for _, rec := range recs[1:] {
		if len(rec) != len(CSVHeader) {
			t.Fatalf("row %v has %d cells", rec, len(rec))
		}
		byKey[rec[2]+"/"+rec[3]] = rec
	}
	col := func(name string) int {
		for i, h := range CSVHeader {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	p := byKey["S002/produce"]
	if p[col("net_usd")] != "5.00" || p[col("gross_usd")] != "7.00" || p[col("voided_usd")] != "2.00" || p[col("prior_week_net_usd")] != "10.00" ||
		p[col("change_vs_prior_week_usd")] != "-5.00" || p[col("change_vs_prior_week_pct")] != "-50.0" || p[col("report_date")] != "2026-12-01" {
		t.Errorf("S002/produce row %v", p)
	}
	b := byKey["S001/bakery"]
	if b[col("prior_week")] != "" || b[col("prior_week_net_usd")] != "" || b[col("change_vs_prior_day_pct")] != "" || b[col("change_vs_prior_day_usd")] != "5.00" {
		t.Errorf("S001/bakery row %v", b)
	}
}
