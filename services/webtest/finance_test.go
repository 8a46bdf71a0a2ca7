package webtest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/services/catalog"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// line is one line of a sale the finance test posts.
type line struct {
	p   catalog.Product
	qty int64
}

// postSaleAt posts a sale of lines at store, occurred at at (the POS takes a past occurred_at,
// as a register that was offline sends it), to the POS and returns its id.
func postSaleAt(t *testing.T, posURL, store string, at time.Time, lines ...line) string {
	t.Helper()
	id := uuid.NewString()
	var ls []map[string]any
	var total int64
	for _, l := range lines {
		ls = append(ls, map[string]any{"sku": l.p.SKU, "qty": l.qty, "unit_price_cents": l.p.PriceCents})
		total += l.qty * l.p.PriceCents
	}
	body, _ := json.Marshal(map[string]any{"sale_id": id, "store_id": store, "register": "R02",
		"occurred_at": at.UTC().Format(time.RFC3339), "lines": ls, "payment": map[string]any{"method": "cash", "amount_cents": total}})
	resp, err := http.Post(posURL+"/v1/sales", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post sale: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("post sale at %s: %s: %s", at.Format(time.RFC3339), resp.Status, b.String())
	}
	return id
}

// voidSale voids a sale the POS accepted, at at, retrying while the POS does not know it yet.
func voidSale(t *testing.T, posURL, saleID string, at time.Time) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"reason": "customer changed their mind", "voided_at": at.UTC().Format(time.RFC3339)})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Post(posURL+"/v1/sales/"+saleID+"/void", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("void sale: %v", err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			return
		}
		if resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("void sale %s: %s: %s", saleID, resp.Status, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStaged waits until the analytics service has staged every line of the sales and the
// voids of voided of them.
func waitStaged(t *testing.T, dsn string, lines int, ids []string, voided ...string) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	deadline := time.Now().Add(60 * time.Second)
	var n int
	for time.Now().Before(deadline) {
		var v int
		err = pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM analytics.staged_lines WHERE sale_id::text = ANY($1)),
			(SELECT count(*) FROM analytics.staged_voids WHERE sale_id::text = ANY($2))`, ids, voided).Scan(&n, &v)
		if err == nil && n == lines && v == len(voided) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%d of the %d lines (and the %d voids) staged within a minute (last error: %v)", n, lines, len(voided), err)
}

// localNoon is noon of date in loc.
func localNoon(t *testing.T, date string, loc *time.Location) time.Time {
	t.Helper()
	d, err := time.ParseInLocation(time.DateOnly, date, loc)
	if err != nil {
		t.Fatal(err)
	}
	return d.Add(12 * time.Hour)
}

func cents(c int64) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }

// usd is c as the analytics CSV writes it.
func usd(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// TestFinance drives the finance page through a real browser against the running platform with
// the analytics service: sales posted through the POS for a known past day (ten days ago in
// S001's zone), its day before and the same weekday a week before are staged by the
// service; the day before and the week before are loaded with `analytics etl` first, so the
// finance page of the day says it has no report yet and draws those days; then the day is
// loaded and the page, without a reload, shows each store's and department's net as posted,
// the changes against the day before, the voided sale in gross and voided but not in net, the
// chain's total and the best sellers; the CSV link
// downloads the report as CSV through the dashboard; a late sale loaded again brings version
// 2 live; the store page's headline and the system page's ETL runs follow.
func TestFinance(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	p := startPlatform(t, dsn)
	ctx, problems := browser(t)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	locs := map[string]*time.Location{}
	for _, id := range []string{"S001", "S002"} {
		st, err := cat.Store(id)
		if err != nil {
			t.Fatal(err)
		}
		if locs[id], err = st.Location(); err != nil {
			t.Fatal(err)
		}
	}
	first := map[string]catalog.Product{}
	for _, pr := range cat.Products() {
		if _, ok := first[pr.Department]; !ok && pr.PriceCents > 0 {
			first[pr.Department] = pr
		}
	}
	produce, dairy, bakery := first["produce"], first["dairy"], first["bakery"]
	if produce.SKU == "" || dairy.SKU == "" || bakery.SKU == "" {
		t.Fatal("the catalog lacks a produce, dairy or bakery product")
	}
	day := time.Now().In(locs["S001"]).AddDate(0, 0, -10).Format(time.DateOnly)
	parsed, _ := time.Parse(time.DateOnly, day)
	dayBefore, weekBefore := parsed.AddDate(0, 0, -1).Format(time.DateOnly), parsed.AddDate(0, 0, -7).Format(time.DateOnly)

	// The sales, each at noon in its store's zone.
	type posted struct {
		store, date string
		lines       []line
	}
	sales := []posted{
		{"S001", day, []line{{produce, 3}, {dairy, 2}}},
		{"S001", day, []line{{bakery, 1}}},
		{"S002", day, []line{{produce, 5}}},
		{"S001", dayBefore, []line{{produce, 2}}},
		{"S002", dayBefore, []line{{produce, 1}}},
		{"S001", weekBefore, []line{{dairy, 4}}},
	}
	var ids []string
	nLines := 0
	for _, s := range sales {
		ids = append(ids, postSaleAt(t, p.POS, s.store, localNoon(t, s.date, locs[s.store]), s.lines...))
		nLines += len(s.lines)
	}
	// And a sale of the day at S001 voided ten minutes later: in its gross and voided, not its net.
	noon := localNoon(t, day, locs["S001"])
	voided := postSaleAt(t, p.POS, "S001", noon.Add(time.Hour), line{dairy, 1})
	voidSale(t, p.POS, voided, noon.Add(time.Hour+10*time.Minute))
	ids = append(ids, voided)
	waitStaged(t, dsn, nLines+1, ids, voided)
	t.Logf("etl:\n%s%s", p.etl(t, "--date", weekBefore), p.etl(t, "--date", dayBefore))

	// Before the day is loaded: no report, the days before drawn.
	navigate(t, ctx, p.Web+"/finance?date="+day)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__noReload = 42`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "no report yet", `!!document.querySelector('#no-report') && document.querySelector('#no-report').textContent.includes('No report for that day yet.')`)
	waitJS(t, ctx, "the day before in the chart", fmt.Sprintf(`!!document.querySelector('#net-chart g[data-key="S001"] circle[data-day=%q][data-net="%d"]')`,
		dayBefore, 2*produce.PriceCents))
	if s := text(t, ctx, "#finance-body"); strings.Contains(s, "unavailable") {
		t.Fatalf("the finance page says analytics is unavailable: %s", s)
	}

	// The day is loaded: the page shows its report without a reload.
	out := p.etl(t, "--date", day)
	loaded := time.Now()
	t.Logf("etl:\n%s", out)
	waitJS(t, ctx, "the report shown live", `(document.querySelector('#report-version') || {}).textContent === '1'`)
	t.Logf("the report appeared %v after the ETL exited", time.Since(loaded).Round(time.Millisecond))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__noReload`)); err != nil || n != 42 {
		t.Fatalf("the page reloaded (marker %d, %v)", n, err)
	}
	s1Produce, s1Dairy, s1Bakery := 3*produce.PriceCents, 2*dairy.PriceCents, bakery.PriceCents
	s1, s2 := s1Produce+s1Dairy+s1Bakery, 5*produce.PriceCents
	cellText := func(sel string) string { return text(t, ctx, sel) }
	for sel, want := range map[string]int64{
		`#fin-matrix tr[data-store="S001"] td[data-dept="produce"]`:  s1Produce,
		`#fin-matrix tr[data-store="S001"] td[data-dept="dairy"]`:    s1Dairy,
		`#fin-matrix tr[data-store="S001"] td[data-dept="bakery"]`:   s1Bakery,
		`#fin-matrix tr[data-store="S001"] td[data-dept="frozen"]`:   0,
		`#fin-matrix tr[data-store="S002"] td[data-dept="produce"]`:  s2,
		`#fin-matrix tr[data-store="S002"] td[data-dept="dairy"]`:    0,
		`#fin-matrix tr[data-store="S001"] td.total`:                 s1,
		`#fin-matrix tr[data-store="S002"] td.total`:                 s2,
		`#fin-matrix tr[data-store="chain"] td[data-dept="produce"]`: s1Produce + s2,
		`#fin-matrix tr[data-store="chain"] td.total`:                s1 + s2,
		`#fin-stores tr[data-store="S001"] td.net`:                   s1,
		`#fin-stores tr[data-store="S001"] td.gross`:                 s1 + dairy.PriceCents,
		`#fin-stores tr[data-store="S001"] td.voided`:                dairy.PriceCents,
		`#fin-stores tr[data-store="chain"] td.voided`:               dairy.PriceCents,
		`#fin-voided`: dairy.PriceCents,
		`details[data-store="S001"] tr[data-dept="dairy"] td.gross`:  3 * dairy.PriceCents,
		`details[data-store="S001"] tr[data-dept="dairy"] td.voided`: dairy.PriceCents,
		`#fin-stores tr[data-store="S003"] td.net`:                   0,
		`#fin-stores tr[data-store="chain"] td.net`:                  s1 + s2,
		`#fin-depts tr[data-dept="produce"] td.net`:                  s1Produce + s2,
		`#fin-top tr[data-sku="` + produce.SKU + `"] td.revenue`:     s1Produce + s2,
		`details[data-store="S001"] tr[data-dept="dairy"] td.net`:    s1Dairy,
	} {
		if got := dollars(t, cellText(sel)); got != want {
			t.Errorf("%s shows %s, want %s", sel, cellText(sel), cents(want))
		}
	}
	for sel, want := range map[string]string{
		`#fin-stores tr[data-store="S001"] td.sales`:                   "3", // the voided one included
		`#fin-stores tr[data-store="S001"] td.voided-count`:            "1",
		`#fin-stores tr[data-store="S001"] td.items`:                   "6", // the voided one left out
		`#fin-stores tr[data-store="S002"] td.sales`:                   "1",
		`#fin-stores tr[data-store="chain"] td.sales`:                  "4",
		`#fin-top tr[data-sku="` + produce.SKU + `"] td.qty`:           "8",
		`details[data-store="S001"] tr[data-dept="produce"] td.chg.up`: "+50.0%",
		`details[data-store="S002"] tr[data-dept="produce"] td.chg.up`: "+400.0%",
		`details[data-store="S001"] tr[data-dept="bakery"] td.chg`:     "—", // nothing sold the day before
		`#report-meta .badge`:                                          "Complete",
	} {
		if got := cellText(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	// The store's change against the day before: $(3p+2d+b) on $2p.
	prior := 2 * produce.PriceCents
	pct := fmt.Sprintf("%+.1f%%", math.Round(float64(s1-prior)*1000/float64(prior))/10)
	if got := text(t, ctx, `#fin-stores tr[data-store="S001"] td.chg`); got != pct {
		t.Errorf("S001 vs yesterday %q, want %q", got, pct)
	}
	// The chart: both stores on the day, S001 the week before too.
	waitJS(t, ctx, "the day in the chart", fmt.Sprintf(`!!document.querySelector('#net-chart g[data-key="S002"] circle[data-day=%q][data-net="%d"]') &&
		!!document.querySelector('#net-chart g[data-key="S001"] circle[data-day=%q][data-net="%d"]')`, day, s2, weekBefore, 4*dairy.PriceCents))

	// The CSV link downloads the report through the dashboard.
	type download struct {
		Href, Download, Type, Disposition, Body string
		Status                                  int
	}
	dl, err := chromedp.Run(ctx, chromedp.Evaluate[download](`(async () => {
		const a = document.querySelector('#csv-link');
		const r = await fetch(a.href);
		return {Href: a.getAttribute('href'), Download: a.hasAttribute('download') ? 'yes' : 'no', Status: r.status,
			Type: r.headers.get('content-type'), Disposition: r.headers.get('content-disposition'), Body: await r.text()};
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if dl.Href != "/finance/daily.csv?date="+day || dl.Download != "yes" || dl.Status != 200 || !strings.HasPrefix(dl.Type, "text/csv") ||
		!strings.HasPrefix(dl.Disposition, "attachment;") {
		t.Fatalf("the CSV link: %+v", dl)
	}
	records, err := csv.NewReader(strings.NewReader(dl.Body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, dl.Body)
	}
	col := map[string]int{}
	for i, h := range records[0] {
		col[h] = i
	}
	for _, h := range []string{"report_date", "version", "store_id", "department", "sales_count", "net_usd"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("the CSV has no column %q: %v", h, records[0])
		}
	}
	if n := len(records) - 1; n != len(cat.Stores())*len(cat.Departments()) {
		t.Errorf("the CSV has %d rows, want one per store and department (%d)", n, len(cat.Stores())*len(cat.Departments()))
	}
	net := map[string]string{}
	for _, r := range records[1:] {
		if r[col["report_date"]] != day || r[col["version"]] != "1" {
			t.Fatalf("a CSV row of another report: %v", r)
		}
		net[r[col["store_id"]]+"/"+r[col["department"]]] = r[col["net_usd"]]
	}
	for k, want := range map[string]int64{"S001/produce": s1Produce, "S001/dairy": s1Dairy, "S001/bakery": s1Bakery, "S002/produce": s2, "S003/produce": 0} {
		if net[k] != usd(want) {
			t.Errorf("the CSV's net of %s is %q, want %q", k, net[k], usd(want))
		}
	}
	waitJS(t, ctx, "the update's flash over", `document.getAnimations().length === 0`)
	screenshot(t, ctx, "finance")

	// A sale of the day that reaches the warehouse after its load comes in with the next load
	// (of S001 only), as version 2 of the report: the page follows without a reload.
	late := postSaleAt(t, p.POS, "S001", localNoon(t, day, locs["S001"]).Add(3*time.Hour), line{bakery, 2})
	waitStaged(t, dsn, 1, []string{late})
	t.Logf("etl:\n%s", p.etl(t, "--date", day, "--store", "S001"))
	waitJS(t, ctx, "version 2 shown live", `(document.querySelector('#report-version') || {}).textContent === '2'`)
	if got := dollars(t, cellText(`#fin-matrix tr[data-store="S001"] td[data-dept="bakery"]`)); got != 3*bakery.PriceCents {
		t.Errorf("S001's bakery after the late sale: %s, want %s", cents(got), cents(3*bakery.PriceCents))
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__noReload`)); err != nil || n != 42 {
		t.Fatalf("the page reloaded (marker %d, %v)", n, err)
	}

	// The store page's headline: the latest report of S001, its biggest department changes.
	navigate(t, ctx, p.Web+"/stores/S001")
	waitJS(t, ctx, "the headline", fmt.Sprintf(`(document.querySelector('#headline-body .headline') || {dataset: {}}).dataset.date === %q`, day))
	head := text(t, ctx, "#head-depts")
	if !strings.Contains(head, "Produce +50.0% vs yesterday (+"+cents(produce.PriceCents)+")") ||
		!strings.Contains(head, "Bakery +"+cents(3*bakery.PriceCents)+" vs yesterday (nothing sold then)") {
		t.Errorf("S001's headline reads %q", head)
	}
	if got := dollars(t, text(t, ctx, "#head-net")); got != s1+2*bakery.PriceCents {
		t.Errorf("S001's headline net %s", cents(got))
	}
	screenshot(t, ctx, "store-headline")

	// The system page: the ETL's runs, newest first (the late load of S001 on top, one late
	// row), and analytics healthy.
	navigate(t, ctx, p.Web+"/system")
	waitJS(t, ctx, "ETL runs listed", fmt.Sprintf(`(() => { const r = document.querySelector('#etl-runs tbody tr');
		return !!r && r.dataset.store === 'S001' && r.dataset.date === %q && r.dataset.status === 'ok' && r.querySelector('.late').textContent === '1'; })()`, day))
	// Three loads of every store and one of S001.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#etl-runs tbody tr[data-run]').length`)); err != nil || n != 3*len(cat.Stores())+1 {
		t.Errorf("the system page lists %d runs (%v), want %d", n, err, 3*len(cat.Stores())+1)
	}
	waitJS(t, ctx, "analytics healthy", `[...document.querySelectorAll('.health .kpi.ok h2')].some(h => h.textContent === 'analytics')`)
	screenshot(t, ctx, "system-etl")

	if ps := problems(); len(ps) > 0 {
		t.Fatalf("the browser reported %d problems:\n%s", len(ps), strings.Join(slices.Compact(ps), "\n"))
	}
}
