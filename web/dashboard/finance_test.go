package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics"
	"github.com/freshmart/platform/services/catalog"
	"github.com/twmb/franz-go/pkg/kgo"
)

func ptr[T any](v T) *T { return &v }

func TestPctText(t *testing.T) {
	for _, tt := range []struct {
		in   *float64
		want string
	}{
		{nil, "—"}, {ptr(12.3), "+12.3%"}, {ptr(-4.0), "-4.0%"}, {ptr(0.0), "0.0%"}, {ptr(-0.04), "0.0%"},
		{ptr(0.05), "+0.1%"}, {ptr(1234.56), "+1234.6%"}, {ptr(-100.0), "-100.0%"}, {ptr(math.NaN()), "—"}, {ptr(math.Inf(1)), "—"},
	} {
		if got := pctText(tt.in); got != tt.want {
			t.Errorf("pctText(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   int64
		want string
	}{{0, "$0.00"}, {5, "+$0.05"}, {-75, "-$0.75"}, {123456, "+$1,234.56"}, {-100000000, "-$1,000,000.00"}} {
		if got := signedMoney(tt.in); got != tt.want {
			t.Errorf("signedMoney(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChangeOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   *schemas.NetChange
		want Change
	}{
		{"no data", nil, Change{Text: "—", Class: "none", Title: "no data for yesterday"}},
		{"up", &schemas.NetChange{Date: "2026-11-19", NetCents: 10000, ChangeCents: 2500, ChangePct: ptr(25.0)},
			Change{Text: "+25.0%", Class: "up", Amount: "+$25.00", Cents: 2500, Known: true, Title: "vs Thu, Nov 19, 2026: $100.00 (+$25.00)"}},
		{"down", &schemas.NetChange{Date: "2026-11-19", NetCents: 6000, ChangeCents: -1000, ChangePct: ptr(-16.7)},
			Change{Text: "-16.7%", Class: "down", Amount: "-$10.00", Cents: -1000, Known: true, Title: "vs Thu, Nov 19, 2026: $60.00 (-$10.00)"}},
		{"flat", &schemas.NetChange{Date: "2026-11-13", NetCents: 500, ChangePct: ptr(0.0)},
			Change{Text: "0.0%", Class: "flat", Amount: "$0.00", Known: true, Title: "vs Fri, Nov 13, 2026: $5.00 ($0.00)"}},
		{"nothing sold then", &schemas.NetChange{Date: "2026-11-19", ChangeCents: 700},
			Change{Text: "—", Class: "up", Amount: "+$7.00", Cents: 700, Known: true, Title: "vs Thu, Nov 19, 2026: $0.00 (+$7.00); nothing sold then, so no percentage"}},
	} {
		if got := changeOf(tt.in, "yesterday"); got != tt.want {
			t.Errorf("%s: changeOf = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestDays(t *testing.T) {
	for _, bad := range []string{"", "2026-11-31", "2026-1-05", "20261105", " 2026-11-05", "1999-12-31", "2101-01-01", "2026-11-05T00:00:00Z"} {
		if _, err := parseDay(bad); err == nil {
			t.Errorf("parseDay(%q) accepted", bad)
		}
	}
	if _, err := parseDay("2026-11-05"); err != nil {
		t.Error(err)
	}
	if got := addDays("2026-03-01", -1); got != "2026-02-28" {
		t.Errorf("addDays = %s", got)
	}
	if got := addDays("2026-11-20", -13); got != "2026-11-07" {
		t.Errorf("addDays = %s", got)
	}
	if got := dayLabel("2026-11-20"); got != "Fri, Nov 20, 2026" {
		t.Errorf("dayLabel = %s", got)
	}
	for sec, want := range map[float64]string{0.0849: "85 ms", 2.44: "2.4 s", 185.2: "3m 05s", -1: "–"} {
		if got := durationText(sec); got != want {
			t.Errorf("durationText(%v) = %q, want %q", sec, got, want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for _, tt := range []struct{ top, want int64 }{
		{100, 25}, {38200, 10000}, {40000, 10000}, {40001, 20000}, {123456789, 50000000}, {1, 1}, {0, 1}, {9, 3}, {1000, 250},
	} {
		got := niceStep(tt.top, 4)
		if got != tt.want || got*4 < tt.top {
			t.Errorf("niceStep(%d) = %d, want %d", tt.top, got, tt.want)
		}
	}
	if axisMoney(250000) != "$2,500" || axisMoney(25) != "$0.25" || axisMoney(0) != "$0" {
		t.Errorf("axisMoney: %s %s %s", axisMoney(250000), axisMoney(25), axisMoney(0))
	}
}

// svgNode is enough of the chart's markup to check it.
type svgNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []svgNode  `xml:",any"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n svgNode) all(local string, out *[]svgNode) {
	if n.XMLName.Local == local {
		*out = append(*out, n)
	}
	for _, c := range n.Children {
		c.all(local, out)
	}
}

func TestLineChart(t *testing.T) {
	days := []string{"2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"}
	in := lineChartInput{Days: days, Labels: []string{"Nov 18", "Nov 19", "Nov 20", "Nov 21"}, Current: 3, Aria: `Net <sales> & "more"`,
		Series: []lineSeries{
			{Key: "S001", Name: "S001 <Brooklyn> & co", Class: "series-0", Values: []*int64{ptr[int64](1000), nil, ptr[int64](3000), ptr[int64](38200)}},
			{Key: "S002", Name: "S002 Chicago", Class: "series-1", Values: []*int64{nil, nil, nil, nil}},
			{Key: "S003", Name: "S003 Denver", Class: "series-2", Values: []*int64{nil, ptr[int64](0), nil, nil}},
		}}
	out := string(lineChart(in))
	var root svgNode
	if err := xml.Unmarshal([]byte(out), &root); err != nil {
		t.Fatalf("the chart is not well-formed: %v\n%s", err, out)
	}
	if root.XMLName.Local != "svg" || root.attr("aria-label") != `Net <sales> & "more"` || root.attr("data-axis-top") != "40000" {
		t.Fatalf("root %v %v", root.XMLName, root.Attrs)
	}
	if strings.Contains(out, "<Brooklyn>") || strings.Contains(out, "<sales>") {
		t.Error("text is not escaped")
	}
	var groups []svgNode
	root.all("g", &groups)
	series := map[string]svgNode{}
	for _, g := range groups {
		if k := g.attr("data-key"); k != "" {
			series[k] = g
		}
	}
	if len(series) != 3 {
		t.Fatalf("%d series groups, want 3", len(series))
	}
	// S001: a gap on Nov 19 splits its line in two; a dot per value, with its figure.
	var path, dots []svgNode
	series["S001"].all("path", &path)
	series["S001"].all("circle", &dots)
	d := path[0].attr("d")
	if strings.Count(d, "M") != 2 || strings.Count(d, "L") != 1 {
		t.Errorf("S001's path %q: want a move, then a move and a line (a gap on the second day)", d)
	}
	if len(dots) != 3 || dots[0].attr("data-day") != days[0] || dots[2].attr("data-net") != "38200" || dots[1].attr("data-day") != days[2] {
		t.Errorf("S001's dots %+v", dots)
	}
	var title []svgNode
	dots[2].all("title", &title)
	if len(title) != 1 || title[0].Text != "S001 <Brooklyn> & co · Nov 21: $382.00" {
		t.Errorf("S001's last dot's title %+v", title)
	}
	// The top value sits at the top of the axis ($400 for $382), zero on the floor.
	if cy := dots[2].attr("cy"); cy != fmt.Sprintf("%.1f", trendTop+(trendH-trendTop-trendBottom)*(1-38200.0/40000)) {
		t.Errorf("S001's $382 at cy %s", cy)
	}
	var s3 []svgNode
	series["S003"].all("circle", &s3)
	if len(s3) != 1 || s3[0].attr("cy") != fmt.Sprintf("%.1f", trendH-trendBottom) {
		t.Errorf("S003's zero %+v", s3)
	}
	var s2 []svgNode
	series["S002"].all("circle", &s2)
	if len(s2) != 0 {
		t.Errorf("S002 has no value but %d dots", len(s2))
	}
	var texts []svgNode
	root.all("text", &texts)
	var labels []string
	for _, x := range texts {
		labels = append(labels, x.Text)
	}
	for _, want := range []string{"$0", "$100", "$200", "$300", "$400", "Nov 18", "Nov 21"} {
		if !slices.Contains(labels, want) {
			t.Errorf("no label %q in %q", want, labels)
		}
	}
	if !strings.Contains(out, `class="xlab current"`) {
		t.Error("the current day is not emphasised")
	}
	if got := lineChart(lineChartInput{Days: days, Series: []lineSeries{{Values: make([]*int64, 4)}}}); got != "" {
		t.Errorf("a chart without values: %q", got)
	}
	// One day alone sits in the middle.
	one := string(lineChart(lineChartInput{Days: days[:1], Series: []lineSeries{{Key: "a", Values: []*int64{ptr[int64](5)}}}}))
	if !strings.Contains(one, fmt.Sprintf(`cx="%.1f"`, trendLeft+(trendW-trendLeft-trendRight)/2)) {
		t.Errorf("a one-day chart: %s", one)
	}
}

func TestReportFeed(t *testing.T) {
	f := NewReportFeed()
	rep := func(date string, v int64, stores ...string) *ReportEvent {
		r := &ReportEvent{ReportDate: date, Version: v}
		for _, s := range stores {
			r.Stores = append(r.Stores, schemas.StoreSales{StoreID: s})
		}
		return r
	}
	if n, ok := f.Apply(rep("2026-11-20", 2, "S001")); !ok || n.Version != 2 || !slices.Equal(n.StoreIDs, []string{"S001"}) {
		t.Fatalf("first: %+v %v", n, ok)
	}
	if _, ok := f.Apply(rep("2026-11-20", 2, "S001")); ok {
		t.Error("a copy is news")
	}
	if n, ok := f.Apply(rep("2026-11-20", 1)); ok || n.Version != 2 {
		t.Errorf("an older version: %+v %v", n, ok)
	}
	if _, ok := f.Apply(rep("2026-11-20", 3, "S001", "S002")); !ok {
		t.Error("a newer version is not news")
	}
	f.Apply(rep("2026-11-21", 1, "S002"))
	f.Apply(rep("2026-11-19", 1, "S001"))
	dates := func(ns []ReportNote) (out []string) {
		for _, n := range ns {
			out = append(out, fmt.Sprintf("%s/%d", n.Date, n.Version))
		}
		return out
	}
	if got := dates(f.Notes("")); !slices.Equal(got, []string{"2026-11-21/1", "2026-11-20/3", "2026-11-19/1"}) {
		t.Errorf("notes %v", got)
	}
	if got := dates(f.Notes("S001")); !slices.Equal(got, []string{"2026-11-20/3", "2026-11-19/1"}) {
		t.Errorf("S001's notes %v", got)
	}
	// It forgets the oldest dates first.
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxReportNotes + 10 {
		f.Apply(rep(start.AddDate(0, 0, i).Format(time.DateOnly), 1))
	}
	all := f.Notes("")
	if len(all) != maxReportNotes || all[len(all)-1].Date != start.AddDate(0, 0, 13).Format(time.DateOnly) {
		t.Errorf("%d notes, oldest %s", len(all), all[len(all)-1].Date)
	}
}

// The fixture: a report of 2026-11-20 (version 2) with S001, whose day before and week before
// were loaded, and S002, loaded the week before only; 2026-11-19 with S001; 2026-11-13 with both.
const fixDay = "2026-11-20"

var (
	fixS001 = map[string]int64{"produce": 12500, "dairy": 5000, "bakery": 700, "meat_seafood": 20000}
	fixS002 = map[string]int64{"produce": 3000}
	// S001's bakery had a $3.00 sale voided.
	fixVoided = map[string]map[string]int64{"S001": {"bakery": 300}}
	fixPrior  = map[string]map[string]int64{"S001": {"produce": 10000, "dairy": 6000, "meat_seafood": 21000}}
	fixWeek   = map[string]map[string]int64{"S001": {"produce": 12500, "dairy": 5000, "bakery": 700, "meat_seafood": 20000},
		"S002": {"produce": 2000}}
)

func netChange(date string, prior, now int64) *schemas.NetChange {
	c := &schemas.NetChange{Date: date, NetCents: prior, ChangeCents: now - prior}
	if prior != 0 {
		c.ChangePct = ptr(math.Round(float64(now-prior)*1000/float64(prior)) / 10)
	}
	return c
}

func figures(net, voided int64) schemas.SalesFigures {
	f := schemas.SalesFigures{NetCents: net, VoidedCents: voided, GrossCents: net + voided, ItemsSold: net / 250}
	if net > 0 {
		f.SalesCount = net/1000 + 1
	}
	if voided > 0 {
		f.SalesCount++
		f.VoidedCount = 1
	}
	return f
}

func add(a *schemas.SalesFigures, b schemas.SalesFigures) {
	a.SalesCount += b.SalesCount
	a.VoidedCount += b.VoidedCount
	a.ItemsSold += b.ItemsSold
	a.GrossCents += b.GrossCents
	a.VoidedCents += b.VoidedCents
	a.NetCents += b.NetCents
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// buildReport makes a schema-valid report of date from each store's net per department (and
// voided amounts), with the comparisons against the stores' nets of the day and the week
// before (nil: not loaded then), as the analytics service computes them.
func buildReport(t *testing.T, date string, version int64, day map[string]map[string]int64, voided, prior, week map[string]map[string]int64) schemas.DailySalesReport {
	t.Helper()
	cat := catalog.MustLoad()
	r := schemas.DailySalesReport{ReportID: "0b7c3f4e-0d1e-4f2a-9b3c-4d5e6f7a8b9c", ReportDate: date, Version: version,
		GeneratedAt: time.Date(2026, 11, 21, 5, 10, 0, 0, time.UTC), Currency: "USD", Stores: []schemas.StoreSales{}}
	dayBefore, weekBefore := addDays(date, -1), addDays(date, -7)
	var ids []string
	for s := range day {
		ids = append(ids, s)
	}
	slices.Sort(ids)
	r.Complete = len(ids) == len(cat.Stores())
	chainPrior, chainWeek := map[string]int64{}, map[string]int64{}
	allPrior, allWeek := true, true
	for _, d := range cat.Departments() {
		r.Totals.Departments = append(r.Totals.Departments, schemas.DepartmentSales{Department: d.ID})
	}
	for _, s := range ids {
		row := schemas.StoreSales{StoreID: s}
		for i, d := range cat.Departments() {
			f := figures(day[s][d.ID], voided[s][d.ID])
			ds := schemas.DepartmentSales{Department: d.ID, SalesFigures: f}
			if p, ok := prior[s]; ok {
				ds.VsPriorDay = netChange(dayBefore, p[d.ID], f.NetCents)
				chainPrior[d.ID] += p[d.ID]
			}
			if w, ok := week[s]; ok {
				ds.VsPriorWeek = netChange(weekBefore, w[d.ID], f.NetCents)
				chainWeek[d.ID] += w[d.ID]
			}
			row.Departments = append(row.Departments, ds)
			add(&row.SalesFigures, f)
			add(&r.Totals.Departments[i].SalesFigures, f)
		}
		if p, ok := prior[s]; ok {
			row.VsPriorDay = netChange(dayBefore, sum(p), row.NetCents)
		} else {
			allPrior = false
		}
		if w, ok := week[s]; ok {
			row.VsPriorWeek = netChange(weekBefore, sum(w), row.NetCents)
		} else {
			allWeek = false
		}
		add(&r.Totals.SalesFigures, row.SalesFigures)
		r.Stores = append(r.Stores, row)
	}
	for i := range r.Totals.Departments {
		d := &r.Totals.Departments[i]
		if allPrior && len(ids) > 0 {
			d.VsPriorDay = netChange(dayBefore, chainPrior[d.Department], d.NetCents)
		}
		if allWeek && len(ids) > 0 {
			d.VsPriorWeek = netChange(weekBefore, chainWeek[d.Department], d.NetCents)
		}
	}
	if allPrior && len(ids) > 0 {
		r.Totals.VsPriorDay = netChange(dayBefore, sum(chainPrior), r.Totals.NetCents)
	}
	if allWeek && len(ids) > 0 {
		r.Totals.VsPriorWeek = netChange(weekBefore, sum(chainWeek), r.Totals.NetCents)
	}
	if r.Totals.NetCents > 0 {
		r.TopProducts = []schemas.TopProduct{{SKU: "PRD-0001", Qty: 40, RevenueCents: 7960}, {SKU: "PRD-0002", Qty: 10, RevenueCents: 3490}}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(schemas.TypeReportDailySales, b); err != nil {
		t.Fatalf("the fixture is not a valid report.daily_sales: %v", err)
	}
	return r
}

// fakeAnalytics is an analytics API answering from fixed reports and runs, recording the dates
// it was asked for.
type fakeAnalytics struct {
	*httptest.Server
	mu      sync.Mutex
	reports map[string]schemas.DailySalesReport
	fail    map[string]bool // dates answered 503
	runs    []ETLRun
	asked   []string // "json 2026-11-20", "csv 2026-11-20"
}

func newFakeAnalytics(t *testing.T, reports ...schemas.DailySalesReport) *fakeAnalytics {
	t.Helper()
	f := &fakeAnalytics{reports: map[string]schemas.DailySalesReport{}, fail: map[string]bool{}}
	for _, r := range reports {
		f.reports[r.ReportDate] = r
	}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.URL.Path {
		case "/v1/reports/daily":
			date, format := q.Get("date"), q.Get("format")
			f.asked = append(f.asked, orDefault(format, "json")+" "+date)
			rep, ok := f.reports[date]
			switch {
			case f.fail[date]:
				writeProblem(w, http.StatusServiceUnavailable, "Warehouse unavailable", "the daily report cannot be read right now")
			case !ok:
				writeProblem(w, http.StatusNotFound, "No report", "no report for "+date+" yet")
			case format == "csv":
				w.Header().Set("Content-Type", "text/csv; charset=utf-8")
				w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="daily-sales-%s-v%d.csv"`, date, rep.Version))
				_ = analytics.WriteCSV(w, rep)
			default:
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(rep)
			}
		case "/v1/etl-runs":
			runs := []ETLRun{}
			for _, run := range f.runs {
				if (q.Get("store_id") == "" || q.Get("store_id") == run.StoreID) && (q.Get("status") == "" || q.Get("status") == run.Status) {
					runs = append(runs, run)
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"runs": runs})
		case "/healthz":
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (f *fakeAnalytics) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

func fixture(t *testing.T) *fakeAnalytics {
	t.Helper()
	api := newFakeAnalytics(t,
		buildReport(t, fixDay, 2, map[string]map[string]int64{"S001": fixS001, "S002": fixS002}, fixVoided, fixPrior, fixWeek),
		buildReport(t, "2026-11-19", 1, fixPrior, nil, nil, nil),
		buildReport(t, "2026-11-13", 1, fixWeek, nil, nil, nil))
	started := time.Date(2026, 11, 21, 5, 5, 0, 0, time.UTC)
	finished := started.Add(2400 * time.Millisecond)
	api.runs = []ETLRun{
		{RunID: 9, StoreID: "S003", BusinessDate: "2026-11-21", Trigger: "schedule", Status: "failed", StartedAt: started,
			FinishedAt: &finished, Seconds: ptr(2.4), Error: "load: <deadlock> detected"},
		{RunID: 8, StoreID: "S002", BusinessDate: fixDay, Trigger: "catch_up", Status: "ok", StartedAt: started, FinishedAt: &finished,
			Seconds: ptr(0.0849), StagedLines: ptr[int64](3), Inserted: ptr[int64](3), Updated: ptr[int64](0), LateRows: ptr[int64](1), ReportVersion: ptr[int64](2)},
		{RunID: 7, StoreID: "S001", BusinessDate: fixDay, Trigger: "manual", Status: "ok", StartedAt: started, FinishedAt: &finished,
			Seconds: ptr(2.4), StagedLines: ptr[int64](1234), Inserted: ptr[int64](1234), Updated: ptr[int64](2), LateRows: ptr[int64](0), ReportVersion: ptr[int64](1)},
		{RunID: 6, StoreID: "S001", BusinessDate: "2026-11-13", Trigger: "manual", Status: "running", StartedAt: started},
	}
	return api
}

// financeServer is a dashboard with the analytics API at api (the rest down) whose clock says now.
func financeServer(t *testing.T, api string, now time.Time) (*Server, string) {
	t.Helper()
	down := closedAddr(t)
	svc := kittest.Build(t, Options, map[string]string{"KAFKA_BROKERS": down, "INVENTORY_URL": "http://" + down,
		"POS_URL": "http://" + down, "BROKER_HTTP_URL": "http://" + down, "COMPLAINTS_URL": "http://" + down, "ANALYTICS_URL": api})
	s, err := New(svc)
	if err != nil {
		t.Fatal(err)
	}
	s.live.now = func() time.Time { return now }
	srv := httptest.NewServer(svc.Router)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// getPage is get with the "+" html/template writes as "&#43;" put back.
func getPage(t *testing.T, url string) string {
	t.Helper()
	return strings.ReplaceAll(get(t, url), "&#43;", "+")
}

// cell returns the text of the first element matching the attributes, in html.
func cell(t *testing.T, html, tag, attrs string) string {
	t.Helper()
	re := regexp.MustCompile(`<` + tag + `[^>]*` + regexp.QuoteMeta(attrs) + `[^>]*>([^<]*)<`)
	m := re.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no <%s %s> in the page", tag, attrs)
	}
	return m[1]
}

// rowOf returns the <tr> of a table holding attrs, in html.
func rowOf(t *testing.T, html, table, attrs string) string {
	t.Helper()
	start := strings.Index(html, `id="`+table+`"`)
	if start < 0 {
		t.Fatalf("no table %s", table)
	}
	rest := html[start:]
	rest = rest[:strings.Index(rest, "</table>")]
	i := strings.Index(rest, "<tr "+attrs)
	if i < 0 {
		t.Fatalf("no row %s in %s", attrs, table)
	}
	return rest[i : i+strings.Index(rest[i:], "</tr>")]
}

// TestFinancePage renders /finance of the fixture's day against a fake analytics API: every
// store's and department's figures, the changes (— where there is no data), the chain's
// totals, the best sellers, the CSV link through the dashboard and the chart of the 14 days
// (three with a report, the rest gaps).
func TestFinancePage(t *testing.T) {
	api := fixture(t)
	_, base := financeServer(t, api.URL, time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC))
	page := getPage(t, base+"/finance?date="+fixDay)
	for _, want := range []string{`<a href="/finance" class="active">Finance</a>`, `id="day-picker"`, `value="2026-11-20"`, `max="2026-11-21"`,
		"Fri, Nov 20, 2026", `data-date="2026-11-20" data-from="2026-11-07" data-version="2"`, "Report version <strong id=\"report-version\">2</strong>",
		"2 of 6 stores loaded", `href="/finance/daily.csv?date=2026-11-20"`, `href="/finance?date=2026-11-19"`, `href="/finance?date=2026-11-21"`,
		`<td colspan="8" class="empty">Not loaded for this day yet.</td>`, "PRD-0001</span> Bananas", "$79.60", "Produce", "Dairy &amp; Eggs"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "unavailable") || strings.Contains(page, "No report for that day yet") {
		t.Error("the page says the report is unavailable or missing")
	}
	// The stores: S001's net $382.00, +3.2% on $370.00 the day before, 0.0% on the week before;
	// S002's $30.00, no day before, +50.0% on the week before; the chain $412.00.
	s1 := rowOf(t, page, "fin-stores", `data-store="S001"`)
	for _, want := range []string{`<td class="num net">$382.00</td>`, `<td class="num gross">$385.00</td>`, `<td class="num voided">$3.00</td>`,
		`<td class="num voided-count">1</td>`, `<td class="num chg up" title="vs Thu, Nov 19, 2026: $370.00 (+$12.00)">+3.2%</td>`,
		`<td class="num chg flat" title="vs Fri, Nov 13, 2026: $382.00 ($0.00)">0.0%</td>`} {
		if !strings.Contains(s1, want) {
			t.Errorf("S001's row lacks %q:\n%s", want, s1)
		}
	}
	s2 := rowOf(t, page, "fin-stores", `data-store="S002"`)
	for _, want := range []string{`<td class="num net">$30.00</td>`, `<td class="num chg none" title="no data for the day before">—</td>`, `>+50.0%</td>`} {
		if !strings.Contains(s2, want) {
			t.Errorf("S002's row lacks %q:\n%s", want, s2)
		}
	}
	chain := rowOf(t, page, "fin-stores", `class="total" data-store="chain"`)
	if !strings.Contains(chain, `<td class="num net">$412.00</td>`) || strings.Count(chain, ">—<") != 1 || !strings.Contains(chain, ">+2.5%<") {
		t.Errorf("the chain's row (no day before: S002 was not loaded; the week before $402.00): %s", chain)
	}
	// The matrix: each store's net per department and the chain's per department.
	m1 := rowOf(t, page, "fin-matrix", `data-store="S001"`)
	for dept, net := range fixS001 {
		if got := cell(t, m1, "td", `data-dept="`+dept+`"`); got != money(net) {
			t.Errorf("S001 %s: %s, want %s", dept, got, money(net))
		}
	}
	if got := cell(t, m1, "td", `data-dept="frozen"`); got != "$0.00" {
		t.Errorf("S001 frozen: %s", got)
	}
	mc := rowOf(t, page, "fin-matrix", `class="total" data-store="chain"`)
	if got := cell(t, mc, "td", `data-dept="produce"`); got != "$155.00" {
		t.Errorf("the chain's produce: %s", got)
	}
	matrix := page[strings.Index(page, `id="fin-matrix"`):]
	if matrix = matrix[:strings.Index(matrix, "</table>")]; strings.Contains(matrix, `data-store="S003"`) {
		t.Error("the matrix lists a store not loaded")
	}
	// The departments (all stores): produce +25.0% cannot be said of the chain (S002 not loaded the day before).
	dp := rowOf(t, page, "fin-depts", `data-dept="produce"`)
	if !strings.Contains(dp, `<td class="num net">$155.00</td>`) || !strings.Contains(dp, ">—<") {
		t.Errorf("the chain's produce row: %s", dp)
	}
	// S001 by department.
	if !strings.Contains(page, `<details class="store-depts" data-store="S001"><summary><strong>S001 · Brooklyn</strong> · net $382.00`) {
		t.Error("no department breakdown of S001")
	}
	// The chart: S001 on the 13th, 19th and 20th; S002 on the 13th and 20th; 11 days missing.
	for _, want := range []string{`id="net-chart"`, `data-key="S001"`, `data-day="2026-11-19" data-net="37000"`, `data-day="2026-11-20" data-net="38200"`,
		`data-day="2026-11-13" data-net="2000"`, "11 of the 14 days have no report yet; they show as gaps.", `class="series-1"><span class="swatch"></span>S002 Chicago`} {
		if !strings.Contains(page, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	if n := strings.Count(page, "<circle "); n != 5 {
		t.Errorf("%d dots, want 5", n)
	}
	if want := `data-versions="{&#34;2026-11-13&#34;:1,&#34;2026-11-19&#34;:1,&#34;2026-11-20&#34;:2}"`; !strings.Contains(page, want) {
		t.Errorf("the page lacks the versions %s", want)
	}
	var jsonAsks int
	for _, q := range api.questions() {
		if strings.HasPrefix(q, "json ") {
			jsonAsks++
		}
	}
	if jsonAsks != chartDays {
		t.Errorf("the page asked for %d reports, want %d: %v", jsonAsks, chartDays, api.questions())
	}

	// The fragment the page swaps in is the same body.
	frag := getPage(t, base+"/fragments/finance?date="+fixDay)
	if !strings.HasPrefix(strings.TrimSpace(frag), `<div id="finance-body" data-date="2026-11-20"`) || !strings.Contains(frag, "$412.00") || strings.Contains(frag, "<html") {
		t.Errorf("the fragment: %.300s", frag)
	}

	// A day without a report says so, and still draws the days before it.
	none := getPage(t, base+"/finance?date=2026-11-21")
	for _, want := range []string{"No report for that day yet.", `data-version="0"`, `data-day="2026-11-20" data-net="38200"`} {
		if !strings.Contains(none, want) {
			t.Errorf("the page of a day without a report lacks %q", want)
		}
	}
	if strings.Contains(none, `id="csv-link"`) || strings.Contains(none, `id="fin-stores"`) {
		t.Error("the page of a day without a report offers its CSV or tables")
	}
	// A day the warehouse cannot read is a gap, said so.
	api.mu.Lock()
	api.fail["2026-11-19"] = true
	api.mu.Unlock()
	if p := getPage(t, base+"/finance?date="+fixDay); !strings.Contains(p, "1 of the 14 days could not be fetched") || strings.Contains(p, `data-net="37000"`) {
		t.Error("a day that failed is not a gap with a note")
	}
	if p := getPage(t, base+"/finance?date=2026-11-19"); !strings.Contains(p, "Reports are unavailable right now (analytics: GET /v1/reports/daily: 503") {
		t.Errorf("the page of a day that failed: %.3000s", p)
	}
}

// TestFinanceDefaultDay: without a date the page shows yesterday in the first store's zone,
// or, when that day has no report yet, the newest day the ETL loaded, saying so.
func TestFinanceDefaultDay(t *testing.T) {
	api := fixture(t)
	// 03:00 UTC on Nov 21 is still Nov 20 in New York: yesterday there is the 19th.
	_, base := financeServer(t, api.URL, time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC))
	if p := getPage(t, base+"/finance"); !strings.Contains(p, `data-date="2026-11-19"`) || strings.Contains(p, `id="finance-notice"`) {
		t.Errorf("the default day is not the 19th: %.200s", p[strings.Index(p, `id="finance-body"`):])
	}
	// On the 23rd yesterday has no report: the newest loaded day (the ETL's newest successful
	// run: the 20th; the failed run of the 21st does not count) is shown instead.
	_, base = financeServer(t, api.URL, time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC))
	p := getPage(t, base+"/finance")
	if !strings.Contains(p, `data-date="2026-11-20"`) || !strings.Contains(p, "No report for Sun, Nov 22, 2026 yet; showing Fri, Nov 20, 2026, the newest.") {
		t.Errorf("the default day falls back to the newest: %.400s", p[strings.Index(p, `id="finance-body"`):])
	}
	if resp, err := http.Get(base + "/finance?date=2026-02-30"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad date: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// TestFinanceCSV: /finance/daily.csv passes the analytics API's CSV on (its bytes, type and file
// name), says when there is no report or the service is down, and checks the date first.
func TestFinanceCSV(t *testing.T) {
	api := fixture(t)
	_, base := financeServer(t, api.URL, time.Now())
	resp, err := http.Get(base + "/finance/daily.csv?date=" + fixDay)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="daily-sales-2026-11-20-v2.csv"` || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	var want bytes.Buffer
	if err := analytics.WriteCSV(&want, api.reports[fixDay]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want.Bytes()) {
		t.Fatalf("the CSV differs from the API's:\n%s\nwant\n%s", body, want.Bytes())
	}
	if !strings.Contains(string(body), "2026-11-20,2,S001,produce,") {
		t.Errorf("the CSV: %s", body)
	}
	if q := api.questions(); !slices.Contains(q, "csv "+fixDay) {
		t.Errorf("the API was asked %v", q)
	}
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/finance/daily.csv?date=2026-11-21", 404, "No report for 2026-11-21 yet."},
		{"/finance/daily.csv?date=2026-11-20&version=x", 400, "version"},
		{"/finance/daily.csv?date=20261120", 400, "not a date"},
		{"/finance/daily.csv", 400, "date is required"},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: %s %s %s", tt.path, resp.Status, resp.Header.Get("Content-Type"), b)
		}
	}
	api.mu.Lock()
	api.fail[fixDay] = true
	api.mu.Unlock()
	resp, err = http.Get(base + "/finance/daily.csv?date=" + fixDay)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "503") {
		t.Errorf("a failing warehouse: %s %s", resp.Status, b)
	}
}

// TestHeadline: a store's headline is its net against the day and week before and its three
// department changes biggest in dollars, against the day before, or the week before when the
// day before was not loaded; the store page and its fragment show it.
func TestHeadline(t *testing.T) {
	api := fixture(t)
	s, base := financeServer(t, api.URL, time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC))
	rep := api.reports[fixDay]
	h := s.buildHeadline(&rep, "S001", headlineDepts)
	var got []string
	for _, d := range h.Depts {
		got = append(got, d.Name+" "+d.Change.Text+" "+d.Against+" "+d.Change.Amount)
	}
	// Produce +$25, then dairy and meat -$10 each (by id on a tie); the bakery's +$7 is fourth.
	if want := []string{"Produce +25.0% vs yesterday +$25.00", "Dairy & Eggs -16.7% vs yesterday -$10.00",
		"Meat & Seafood -4.8% vs yesterday -$10.00"}; !slices.Equal(got, want) {
		t.Errorf("S001's headline %q, want %q", got, want)
	}
	if all := s.buildHeadline(&rep, "S001", 10); len(all.Depts) != 4 || all.Depts[3].Name != "Bakery" || all.Depts[3].Lead != "+$7.00" ||
		all.Depts[3].Note != "nothing sold then" || all.Depts[0].Lead != "+25.0%" || all.Depts[0].Note != "+$25.00" {
		t.Errorf("S001's changed departments %+v", all.Depts)
	}
	if h.Net != 38200 || h.VsDay.Text != "+3.2%" || h.VsWeek.Text != "0.0%" || h.Date != fixDay || h.Version != 2 {
		t.Errorf("S001's headline %+v", h)
	}
	h2 := s.buildHeadline(&rep, "S002", headlineDepts)
	if len(h2.Depts) != 1 || h2.Depts[0].Against != "vs last week" || h2.Depts[0].Change.Text != "+50.0%" || h2.VsDay.Text != "—" {
		t.Errorf("S002's headline %+v", h2)
	}
	if h3 := s.buildHeadline(&rep, "S003", headlineDepts); !h3.Missing {
		t.Errorf("S003 is not in the report but has a headline %+v", h3)
	}

	store := getPage(t, base+"/stores/S001")
	for _, want := range []string{`<div class="headline" data-date="2026-11-20" data-version="2">`, "Fri, Nov 20, 2026, version 2",
		`<strong id="head-net">$382.00</strong>`, `id="head-vs-day" title="vs Thu, Nov 19, 2026: $370.00 (+$12.00)">+3.2%</span> vs yesterday (+$12.00)`,
		`<strong>Produce</strong> <span class="chg up">+25.0%</span> vs yesterday <span class="amt">(+$25.00)</span>`, `href="/finance?date=2026-11-20"`} {
		if !strings.Contains(store, want) {
			t.Errorf("the store page lacks %q", want)
		}
	}
	// S003's newest successful load is none (its run of the 21st failed): no headline yet.
	if p := getPage(t, base+"/fragments/headline?store=S003"); !strings.Contains(p, "No daily report for this store yet.") {
		t.Errorf("S003's headline: %s", p)
	}
	if p := getPage(t, base+"/fragments/headline?store=S002"); !strings.Contains(p, `<li data-dept="produce"`) || !strings.Contains(p, "vs last week") {
		t.Errorf("S002's headline: %s", p)
	}
}

// TestSystemPageETLRuns: the system page lists the ETL's runs newest first with their rows,
// late rows, duration and error, and analytics among the health targets.
func TestSystemPageETLRuns(t *testing.T) {
	api := fixture(t)
	_, base := financeServer(t, api.URL, time.Now())
	sys := getPage(t, base+"/fragments/system")
	if !strings.Contains(sys, "<h2>analytics</h2><p class=\"big\">Up</p>") {
		t.Error("the system page does not show analytics up")
	}
	i9, i8, i7 := strings.Index(sys, `data-run="9"`), strings.Index(sys, `data-run="8"`), strings.Index(sys, `data-run="7"`)
	if i9 < 0 || i8 < i9 || i7 < i8 {
		t.Fatalf("the runs are not listed newest first: %d %d %d", i9, i8, i7)
	}
	for _, want := range []string{
		`<tr data-run="9" data-store="S003" data-date="2026-11-21" data-status="failed">`, "load: &lt;deadlock&gt; detected", `<span class="badge out">failed</span>`,
		`<td>catch up</td>`, `<td class="num late">1</td>`, `<td class="num duration">85 ms</td>`,
		`<td class="num staged">1,234</td>`, `<td class="num duration">2.4 s</td>`, `<td>S001 · Brooklyn</td>`,
		`<tr data-run="6" data-store="S001" data-date="2026-11-13" data-status="running">`, `<td class="num duration">running</td>`, "Nov 21 05:05:00 UTC",
	} {
		if !strings.Contains(sys, want) {
			t.Errorf("the system page lacks %q", want)
		}
	}
}

// TestReportMessages feeds report.daily_sales records to the consumer: the finance page and
// the pages of the report's stores hear of a new version (not the chain view, not another
// store, not of a copy), and a page connecting later gets the versions in its snapshot.
func TestReportMessages(t *testing.T) {
	api := fixture(t)
	s, base := financeServer(t, api.URL, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fin := dialWS(t, ctx, base, "?view=finance")
	s1 := dialWS(t, ctx, base, "?store=S001")
	s3 := dialWS(t, ctx, base, "?store=S003")
	chain := dialWS(t, ctx, base, "")
	if _, m := readMessage(t, ctx, fin); m.Type != "snapshot" || len(m.Reports) != 0 || m.Chain != nil {
		t.Fatalf("the finance page's snapshot %+v", m)
	}
	for _, c := range []*websocket.Conn{s1, s3, chain} {
		readMessage(t, ctx, c)
	}
	b, _ := json.Marshal(api.reports[fixDay])
	record := &kgo.Record{Topic: schemas.TopicDailySalesReport, Value: b, Headers: []kgo.RecordHeader{{Key: "ce_type", Value: []byte(schemas.TypeReportDailySales)}}}
	s.cons.handle(record)
	s.cons.handle(record) // a copy: nothing new
	s.cons.handle(&kgo.Record{Value: []byte(`{"report_date":"2026-11-20"}`), Headers: record.Headers})
	for name, c := range map[string]*websocket.Conn{"finance": fin, "S001": s1} {
		_, m := readMessage(t, ctx, c)
		if m.Type != "report" || m.Report == nil || m.Report.Date != fixDay || m.Report.Version != 2 || !slices.Equal(m.Report.StoreIDs, []string{"S001", "S002"}) {
			t.Fatalf("%s: %+v", name, m)
		}
	}
	// What each gets next is a marker sent after: the copy, S003 and the chain heard nothing.
	s.hub.PublishTo(Message{Type: "marker"}, financeTopic, "S001", "S003", "")
	for name, c := range map[string]*websocket.Conn{"finance": fin, "S001": s1, "S003": s3, "chain": chain} {
		if _, m := readMessage(t, ctx, c); m.Type != "marker" {
			t.Errorf("%s got %+v before the marker", name, m)
		}
	}
	if n := s.cons.bad.Load(); n != 1 {
		t.Errorf("%d invalid records, want 1", n)
	}
	if _, m := readMessage(t, ctx, dialWS(t, ctx, base, "?view=finance")); m.Type != "snapshot" || len(m.Reports) != 1 || m.Reports[0].Version != 2 {
		t.Errorf("a later finance snapshot %+v", m)
	}
	if _, m := readMessage(t, ctx, dialWS(t, ctx, base, "?store=S002")); len(m.Reports) != 1 || m.Reports[0].Date != fixDay {
		t.Errorf("a later S002 snapshot %+v", m)
	}
	if _, m := readMessage(t, ctx, dialWS(t, ctx, base, "?store=S003")); len(m.Reports) != 0 {
		t.Errorf("a later S003 snapshot %+v", m)
	}
}
