package dashboard

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

func newLive(t *testing.T, now time.Time) (*Live, *catalog.Catalog) {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("load catalog: %v", err)
	}
	l, err := NewLive(cat, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return l, cat
}

func sale(t *testing.T, id, store string, at time.Time, lines ...catalog.Product) *SaleEvent {
	t.Helper()
	body := fmt.Sprintf(`{"sale_id":%q,"store_id":%q,"register":"R01","occurred_at":%q,"lines":[`, id, store, at.Format(time.RFC3339))
	for i, p := range lines {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf(`{"sku":%q,"qty":2,"unit_price_cents":%d}`, p.SKU, p.PriceCents)
	}
	body += `],"payment":{"method":"card"}}`
	v, err := decodeEvent(schemas.TypeSaleCompleted, []byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v.(*SaleEvent)
}

func TestLiveRevenueToday(t *testing.T) {
	// 03:30 UTC on Nov 22 is still Nov 21 in every US store.
	now := time.Date(2026, 11, 22, 3, 30, 0, 0, time.UTC)
	l, cat := newLive(t, now)
	ps := cat.Products()
	st := cat.Stores()[0]
	loc, _ := st.Location()
	p0, p1 := ps[0], ps[len(ps)-1]

	tests := []struct {
		name      string
		sale      *SaleEvent
		counted   bool
		wantTotal int64
	}{
		{"first sale", sale(t, "a", st.StoreID, now.Add(-time.Minute), p0, p1), true, 2*p0.PriceCents + 2*p1.PriceCents},
		{"same sale again", sale(t, "a", st.StoreID, now.Add(-time.Minute), p0, p1), false, 2*p0.PriceCents + 2*p1.PriceCents},
		{"yesterday in the store's zone", sale(t, "b", st.StoreID, time.Date(2026, 11, 20, 23, 0, 0, 0, loc), p0), false, 2*p0.PriceCents + 2*p1.PriceCents},
		{"earlier today", sale(t, "c", st.StoreID, time.Date(2026, 11, 21, 0, 5, 0, 0, loc), p0), true, 4*p0.PriceCents + 2*p1.PriceCents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := l.ApplySale(tt.sale)
			if ok != tt.counted {
				t.Fatalf("counted = %v, want %v", ok, tt.counted)
			}
			if got := l.Revenue(st.StoreID).TotalCents; got != tt.wantTotal {
				t.Fatalf("revenue = %d, want %d", got, tt.wantTotal)
			}
		})
	}
	rev := l.Revenue(st.StoreID)
	if rev.Sales != 2 || rev.Day != "2026-11-21" || rev.AvgCents != rev.TotalCents/2 {
		t.Fatalf("revenue = %+v", rev)
	}
	var deptSum int64
	for _, d := range rev.ByDept {
		deptSum += d.Cents
	}
	if deptSum != rev.TotalCents || len(rev.ByDept) != len(cat.Departments()) {
		t.Fatalf("departments sum to %d over %d rows, want %d over %d", deptSum, len(rev.ByDept), rev.TotalCents, len(cat.Departments()))
	}
	if tk := l.Ticker(st.StoreID); len(tk) != 2 || tk[0].SaleID != "c" {
		t.Fatalf("ticker = %+v, want c then a", tk)
	}

	other := cat.Stores()[1]
	l.ApplySale(sale(t, "d", other.StoreID, now, p1))
	if got, want := l.ChainRevenue().TotalCents, rev.TotalCents+2*p1.PriceCents; got != want {
		t.Fatalf("chain revenue = %d, want %d", got, want)
	}

	if !l.ApplyVoid(&VoidEvent{SaleID: "a", StoreID: st.StoreID}) || l.ApplyVoid(&VoidEvent{SaleID: "a", StoreID: st.StoreID}) {
		t.Fatal("a void must count once")
	}
	if got := l.Revenue(st.StoreID).TotalCents; got != 2*p0.PriceCents {
		t.Fatalf("revenue after void = %d, want %d", got, 2*p0.PriceCents)
	}
}

func TestLiveStartsANewDay(t *testing.T) {
	now := time.Date(2026, 11, 22, 3, 30, 0, 0, time.UTC)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	l, err := NewLive(cat, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	st := cat.Stores()[0]
	l.ApplySale(sale(t, "a", st.StoreID, now, cat.Products()[0]))
	clock = now.Add(24 * time.Hour)
	if rev := l.Revenue(st.StoreID); rev.TotalCents != 0 || rev.Sales != 0 {
		t.Fatalf("a new day starts at zero, got %+v", rev)
	}
	if start := l.DayStart(); !start.Before(clock) || clock.Sub(start) > 24*time.Hour {
		t.Fatalf("DayStart %v is not within the day before %v", start, clock)
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name    string
		ceType  string
		value   string
		wantErr error
		ok      bool
	}{
		{"sale", schemas.TypeSaleCompleted, `{"sale_id":"x","store_id":"S001","occurred_at":"2026-11-22T03:00:00Z","lines":[{"sku":"PRD-0001","qty":1,"unit_price_cents":5}]}`, nil, true},
		{"alert", schemas.TypeAlertLowStock, `{"alert_id":"a","store_id":"S001","sku":"PRD-0001","on_hand":1,"threshold":5,"at":"2026-11-22T03:00:00Z"}`, nil, true},
		{"stock level", schemas.TypeStockLevel, `{"store_id":"S001","sku":"PRD-0001","on_hand":1,"threshold":5,"at":"2026-11-22T03:00:00Z"}`, nil, true},
		{"unknown type", "price.changed", `{}`, ErrUnknownType, false},
		{"not json", schemas.TypeSaleCompleted, `{`, nil, false},
		{"no store", schemas.TypeSaleVoided, `{"sale_id":"x"}`, nil, false},
		{"no sale id", schemas.TypeSaleCompleted, `{"store_id":"S001"}`, nil, false},
		{"negative qty", schemas.TypeSaleCompleted, `{"sale_id":"x","store_id":"S001","lines":[{"sku":"a","qty":-1}]}`, nil, false},
		{"bad time", schemas.TypeStockLevel, `{"store_id":"S001","at":"yesterday"}`, nil, false},
		{"report", schemas.TypeReportDailySales, `{"report_date":"2026-11-20","version":2,"stores":[{"store_id":"S001"}]}`, nil, true},
		{"report without a date", schemas.TypeReportDailySales, `{"version":2}`, nil, false},
		{"report with a bad date", schemas.TypeReportDailySales, `{"report_date":"2026-11-31","version":1}`, nil, false},
		{"report version 0", schemas.TypeReportDailySales, `{"report_date":"2026-11-20","version":0}`, nil, false},
		{"report store without an id", schemas.TypeReportDailySales, `{"report_date":"2026-11-20","version":1,"stores":[{}]}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeEvent(tt.ceType, []byte(tt.value))
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.ok && v == nil {
				t.Fatal("no value")
			}
			if a, isAlert := v.(*Alert); isAlert && a.Type != tt.ceType {
				t.Fatalf("alert type %q, want %q", a.Type, tt.ceType)
			}
		})
	}
}

// FuzzDecodeEvent feeds arbitrary record values to the decoder: it must never panic, and what it
// accepts must be safe to fold into Live, the ComplaintFeed and the ReportFeed.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(schemas.TypeSaleCompleted, []byte(`{"sale_id":"x","store_id":"S001","occurred_at":"2026-11-22T03:00:00Z","lines":[{"sku":"PRD-0001","qty":1,"unit_price_cents":5}]}`))
	f.Add(schemas.TypeSaleVoided, []byte(`{"sale_id":"x","store_id":"S001"}`))
	f.Add(schemas.TypeAlertRestocked, []byte(`{"alert_id":"a","store_id":"S009","sku":"?","on_hand":-4}`))
	f.Add(schemas.TypeStockLevel, []byte(`null`))
	f.Add("x", []byte{0xff})
	f.Add(schemas.TypeAlertComplaintSpikeUpdated, []byte(`{"alert_id":"a","store_id":"S001","sku":"PRD-0001","count":3,"merged_alert_ids":["a","b"]}`))
	f.Add(schemas.TypeAlertComplaintSpikeResolved, []byte(`{"alert_id":"a","store_id":"S999","sku":"?","reason":"merged","merged_into":"a"}`))
	f.Add(schemas.TypeAlertComplaintChainSpike, []byte(`{"alert_id":"c","sku":"PRD-0001","store_ids":["S001","S404"]}`))
	f.Add(schemas.TypeComplaintFiled, []byte(`{"complaint_id":"c","store_id":"S001","text":"éé é"}`))
	f.Add(schemas.TypeReportDailySales, []byte(`{"report_date":"2026-11-20","version":3,"stores":[{"store_id":"S001","departments":[{"department":"produce"}]}]}`))
	cat, err := catalog.Load()
	if err != nil {
		f.Fatal(err)
	}
	l, err := NewLive(cat, nil)
	if err != nil {
		f.Fatal(err)
	}
	feed, err := NewComplaintFeed(cat, nil)
	if err != nil {
		f.Fatal(err)
	}
	reports := NewReportFeed()
	f.Fuzz(func(t *testing.T, ceType string, value []byte) {
		v, err := decodeEvent(ceType, value)
		if err != nil {
			return
		}
		switch e := v.(type) {
		case *SaleEvent:
			l.ApplySale(e)
		case *VoidEvent:
			l.ApplyVoid(e)
		case *Alert:
			l.ApplyAlert(e)
		case *SpikeEvent:
			feed.ApplySpike(e)
		case *ChainSpikeEvent:
			feed.ApplyChainSpike(e)
		case *ComplaintEvent:
			feed.ApplyComplaint(e)
		case *ReportEvent:
			reports.Apply(e)
			reports.Notes(e.ReportDate)
		}
	})
}

func TestMoney(t *testing.T) {
	tests := []struct {
		cents int64
		want  string
	}{
		{0, "$0.00"}, {5, "$0.05"}, {123456, "$1,234.56"}, {100000000, "$1,000,000.00"}, {-2550, "-$25.50"},
	}
	for _, tt := range tests {
		if got := money(tt.cents); got != tt.want {
			t.Errorf("money(%d) = %q, want %q", tt.cents, got, tt.want)
		}
	}
	if got := count(1234567); got != "1,234,567" {
		t.Errorf("count = %q", got)
	}
}

// TestLiveDropsDuplicateSales: a sale read twice (produced twice by two POS instances, or read
// again after a reconnect) moves the revenue and the ticker once; the set of remembered ids is
// bounded per store and day, forgetting the oldest first.
func TestLiveDropsDuplicateSales(t *testing.T) {
	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	l, cat := newLive(t, now)
	l.maxSeen = 3
	st := cat.Stores()[0]
	p := cat.Products()[0]
	each := 2 * p.PriceCents
	steps := []struct {
		id        string
		counted   bool
		wantSales int
	}{
		{"s1", true, 1},
		{"s1", false, 1}, // duplicate
		{"s2", true, 2},
		{"s3", true, 3},
		{"s2", false, 3}, // duplicate, still remembered
		{"s4", true, 4},  // the set is full: s1 is forgotten
		{"s4", false, 4},
		{"s3", false, 4},
		{"s1", true, 5}, // forgotten, so counted again: the documented cost of the bound
	}
	for i, s := range steps {
		_, ok := l.ApplySale(sale(t, s.id, st.StoreID, now.Add(-time.Minute), p))
		if ok != s.counted {
			t.Fatalf("step %d (%s): counted = %v, want %v", i, s.id, ok, s.counted)
		}
		rev := l.Revenue(st.StoreID)
		if rev.Sales != s.wantSales || rev.TotalCents != int64(s.wantSales)*each {
			t.Fatalf("step %d (%s): %d sales, %d cents; want %d, %d", i, s.id, rev.Sales, rev.TotalCents, s.wantSales, int64(s.wantSales)*each)
		}
		if chain := l.ChainRevenue(); chain.TotalCents != rev.TotalCents {
			t.Fatalf("step %d: chain revenue %d, want %d", i, chain.TotalCents, rev.TotalCents)
		}
		l.mu.Lock()
		n, m := len(l.stores[st.StoreID].seen), len(l.stores[st.StoreID].order)
		l.mu.Unlock()
		if n > 3 || n != m {
			t.Fatalf("step %d: %d remembered ids (%d in order), want at most 3", i, n, m)
		}
	}
	tk := l.Ticker(st.StoreID)
	var ids []string
	for _, row := range tk {
		ids = append(ids, row.SaleID)
	}
	if fmt.Sprint(ids) != "[s1 s4 s3 s2 s1]" {
		t.Fatalf("ticker %v, want each counted sale once, newest first", ids)
	}
	if chain := l.Ticker(""); len(chain) != len(tk) {
		t.Fatalf("chain ticker has %d rows, want %d", len(chain), len(tk))
	}
}
