package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics"
)

// service runs an analytics service on the broker and database until the test ends.
func service(t *testing.T, b *brokertest.Broker, dsn string, clk clock.Clock) (*App, string) {
	t.Helper()
	var a *App
	s := kittest.Start(t, Options, map[string]string{"KAFKA_BROKERS": b.Addr, "DATABASE_URL": dsn},
		func(_ context.Context, s *kit.Service) error {
			var err error
			a, err = New(s, Config{Clock: clk})
			return err
		})
	return a, kittest.URL(s)
}

// produce writes evs to pos-sales in order (per partition) and waits for the acknowledgements.
func produce(t *testing.T, cl *kgo.Client, evs []events.Event) {
	t.Helper()
	recs := make([]*kgo.Record, len(evs))
	for i, ev := range evs {
		recs[i] = events.NewRecord(schemas.TopicPOSSales, ev.Key, ev.Envelope, ev.Data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d events: %v", len(evs), err)
	}
}

func waitFor(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// waitStaged waits until staging holds lines lines and voids voids.
func waitStaged(t *testing.T, pool *pgxpool.Pool, lines, voids int) {
	t.Helper()
	waitFor(t, "staging", func() error {
		var l, v int
		if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM analytics.staged_lines), (SELECT count(*) FROM analytics.staged_voids)`).Scan(&l, &v); err != nil {
			return err
		}
		if l != lines || v != voids {
			return fmt.Errorf("%d lines and %d voids staged, want %d and %d", l, v, lines, voids)
		}
		return nil
	})
}

// readTopic reads a topic from the start up to its end as it is now.
func readTopic(t *testing.T, b *brokertest.Broker, topic string) []events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := kadm.NewClient(b.Client(t)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	hw := map[int32]int64{}
	remaining := 0
	ends.Each(func(o kadm.ListedOffset) {
		hw[o.Partition] = o.Offset
		if o.Offset > 0 {
			remaining++
		}
	})
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	out := []events.Event{}
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= hw[r.Partition] {
				return
			}
			ev, err := events.Parse(r)
			if err != nil {
				t.Errorf("%s/%d@%d: %v", topic, r.Partition, r.Offset, err)
				return
			}
			out = append(out, ev)
			if r.Offset+1 == hw[r.Partition] {
				remaining--
			}
		})
	}
	return out
}

// getReport fetches GET /v1/reports/daily?date=.
func getReport(t *testing.T, base, date string) schemas.DailySalesReport {
	t.Helper()
	resp, err := http.Get(base + "/v1/reports/daily?date=" + date)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET report %s: %d %s", date, resp.StatusCode, raw)
	}
	if err := schemas.Validate(schemas.TypeReportDailySales, raw); err != nil {
		t.Fatalf("GET report %s: not a valid report.daily_sales: %v", date, err)
	}
	var r schemas.DailySalesReport
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWarehouseEqualsTopic produces thousands of sales over four days in every store (local
// times around the clock, so on both sides of midnight UTC), with copies, voids before and
// after their sales and an invalid event, through the real broker to the running service;
// loads every day; then produces late sales and late voids and lets each store's nightly job
// catch them up. The fact table equals the fold of pos-sales per store-day, loading again
// changes nothing, and the reports (JSON, CSV, and on daily-sales-report) equal the fact table.
func TestWarehouseEqualsTopic(t *testing.T) {
	ctx := context.Background()
	b := brokertest.Start(t)
	dsn := pgtest.New(t)
	clk := clock.NewManual(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	a, base := service(t, b, dsn, clk)
	pool := pgtest.Pool(t, dsn)
	cl := b.Client(t, kgo.DefaultProduceTopic(schemas.TopicPOSSales))
	f := newFixture(11)
	days := []analytics.Date{mustDate("2026-11-24"), mustDate("2026-11-25"), mustDate("2026-11-26"), mustDate("2026-12-01")}
	stores := []string{"S001", "S002", "S003", "S004", "S005", "S006"}

	var onTime, late []events.Event
	lateSales := map[string]bool{}
	lines, voids, lateLines, lateVoids := 0, 0, 0, 0
	for _, d := range days {
		for _, st := range stores {
			for i := range 130 {
				// Spread over the local day, with the last minutes before and after midnight.
				hh, mm := (i*11)%24, (i*7)%60
				switch i {
				case 0:
					hh, mm = 0, 0
				case 1:
					hh, mm = 23, 59
				}
				s := f.sale(st, d, hh, mm)
				ev := f.saleEvent(s)
				isLate := i%37 == 5
				switch {
				case isLate:
					late = append(late, ev)
					lateSales[s.SaleID] = true
					lateLines += len(s.Lines)
				case i%41 == 3:
					onTime = append(onTime, ev, ev) // a POS retry: the same sale twice
				default:
					onTime = append(onTime, ev)
				}
				lines += len(s.Lines)
				switch {
				case i%19 == 2: // voided before the sale is staged
					v := f.voidEvent(s, 30*time.Minute)
					if isLate {
						onTime = append(onTime, v)
					} else {
						onTime = slices.Insert(onTime, len(onTime)-1, v)
					}
					voids++
				case i%23 == 4 && !isLate: // voided after the day was loaded
					late = append(late, f.voidEvent(s, 25*time.Hour))
					voids++
					lateVoids++
				case i%29 == 6 && !isLate:
					onTime = append(onTime, f.voidEvent(s, time.Minute))
					voids++
				}
			}
		}
	}
	// An event the stager rejects does not hold up its partition.
	bad := f.sale("S001", days[0], 12, 0)
	bad.StoreID = "S999"
	onTime = append(onTime, f.event(schemas.TypeSaleCompleted, "S001", bad.OccurredAt, bad))
	t.Logf("%d sales lines over %d store-days (%d late), %d voids (%d late)", lines, len(days)*len(stores), lateLines, voids, lateVoids)

	produce(t, cl, onTime)
	waitStaged(t, pool, lines-lateLines, voids-lateVoids)
	for _, d := range days {
		r, err := a.ETL().Load(ctx, d, nil, TriggerManual)
		if err != nil {
			t.Fatal(err)
		}
		if tot := r.Totals(); tot.Late != 0 || tot.Updated != 0 {
			t.Fatalf("first load of %s: %+v", d, tot)
		}
	}

	// Late sales and voids; each store's nightly job at its close on 2 December loads that day
	// and catches up the earlier days that changed.
	produce(t, cl, late)
	waitStaged(t, pool, lines, voids)
	clk.Set(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	for _, st := range stores {
		loc := f.zone(st)
		loads, err := a.ETL().Nightly(ctx, st, loc, time.Date(2026, 12, 3, 0, 5, 0, 0, loc))
		if err != nil {
			t.Fatal(err)
		}
		if got := loads[len(loads)-1]; got.Date != mustDate("2026-12-02") || got.Trigger != TriggerSchedule {
			t.Fatalf("%s: the nightly job's last load was %s (%s), want 2026-12-02", st, got.Date, got.Trigger)
		}
	}

	// The fold of the topic, per store-day.
	all := readTopic(t, b, schemas.TopicPOSSales)
	ledger := analytics.NewLedger(f.zone)
	for _, ev := range all {
		switch ev.Type {
		case schemas.TypeSaleCompleted:
			s, _ := events.Decode[schemas.SaleCompleted](ev)
			if s.StoreID != "S999" {
				ledger.Sale(s)
			}
		case schemas.TypeSaleVoided:
			v, _ := events.Decode[schemas.SaleVoided](ev)
			ledger.Void(v)
		}
	}
	want := ledger.Days()
	for _, ln := range ledger.Lines() {
		if lateSales[ln.SaleID] {
			k := analytics.StoreDay{StoreID: ln.StoreID, Date: ln.Date}
			d := want[k]
			d.LateLines++
			want[k] = d
		}
	}
	got := dayTotals(t, pool)
	if !reflect.DeepEqual(got, want) {
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s %s: fact %+v\n                   fold %+v", k.StoreID, k.Date, got[k], w)
			}
		}
		t.Fatalf("the fact table is not the fold of pos-sales (%d store-days in the fact, %d in the fold)", len(got), len(want))
	}
	if len(want) != len(days)*len(stores) {
		t.Fatalf("%d store-days have lines, want %d (each sale on its local day)", len(want), len(days)*len(stores))
	}

	// Loading everything again changes nothing.
	before := facts(t, pool)
	for _, d := range days {
		if r, err := a.ETL().Load(ctx, d, nil, TriggerManual); err != nil || r.Totals().Inserted != 0 || r.Totals().Updated != 0 {
			t.Fatalf("reload %s: %+v, %v", d, r.Totals(), err)
		}
	}
	if !reflect.DeepEqual(facts(t, pool), before) {
		t.Fatal("loading again changed the fact table")
	}

	// The reports equal the fact table.
	for _, d := range days {
		checkReport(t, pool, getReport(t, base, d.String()), d)
	}
	dec1 := getReport(t, base, "2026-12-01")
	if dec1.Totals.VsPriorDay != nil || dec1.Stores[0].VsPriorDay != nil {
		t.Errorf("2026-11-30 was never loaded: vs_prior_day should be null")
	}
	nov24 := getReport(t, base, "2026-11-24")
	if c := dec1.Totals.VsPriorWeek; c == nil || c.Date != "2026-11-24" || c.NetCents != nov24.Totals.NetCents || c.ChangeCents != dec1.Totals.NetCents-nov24.Totals.NetCents {
		t.Errorf("2026-12-01 vs prior week %+v, 2026-11-24 net %d", c, nov24.Totals.NetCents)
	}
	nov25 := getReport(t, base, "2026-11-25")
	for i, s := range nov25.Stores {
		if c := s.VsPriorDay; c == nil || c.NetCents != nov24.Stores[i].NetCents {
			t.Errorf("2026-11-25 %s vs prior day %+v, want net %d", s.StoreID, c, nov24.Stores[i].NetCents)
		}
	}
	if !dec1.Complete || len(dec1.Stores) != len(stores) {
		t.Errorf("2026-12-01: complete %v with %d stores", dec1.Complete, len(dec1.Stores))
	}

	// CSV, by format and by Accept.
	for _, req := range []func() (*http.Response, error){
		func() (*http.Response, error) { return http.Get(base + "/v1/reports/daily?date=2026-12-01&format=csv") },
		func() (*http.Response, error) {
			r, _ := http.NewRequest("GET", base+"/v1/reports/daily?date=2026-12-01", nil)
			r.Header.Set("Accept", "text/csv")
			return http.DefaultClient.Do(r)
		},
	} {
		resp, err := req()
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("CSV: %d %s, %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		depts := len(f.cat.Departments())
		if len(recs) != 1+len(stores)*depts || !reflect.DeepEqual(recs[0], analytics.CSVHeader) {
			t.Fatalf("CSV has %d rows (want a header and %d), header %v", len(recs), len(stores)*depts, recs[0])
		}
		var net int64
		for _, rec := range recs[1:] {
			dollars, cents, ok := strings.Cut(rec[9], ".")
			if !ok || len(cents) != 2 {
				t.Fatalf("net_usd %q is not dollars with two decimals", rec[9])
			}
			dv, _ := strconv.ParseInt(dollars, 10, 64)
			cv, _ := strconv.ParseInt(cents, 10, 64)
			net += dv*100 + cv
		}
		if net != dec1.Totals.NetCents {
			t.Fatalf("the CSV's net sums to %d cents, the report's is %d", net, dec1.Totals.NetCents)
		}
	}

	// Every version reached daily-sales-report, each with its own id; the newest is the API's.
	var versions int
	pool.QueryRow(ctx, `SELECT count(*) FROM analytics.daily_reports`).Scan(&versions)
	var reports []events.Event
	waitFor(t, "reports relayed", func() error {
		reports = readTopic(t, b, schemas.TopicDailySalesReport)
		if len(reports) != versions {
			return fmt.Errorf("%d reports on %s, %d versions stored", len(reports), schemas.TopicDailySalesReport, versions)
		}
		return nil
	})
	ids := map[string]bool{}
	var newest schemas.DailySalesReport
	for _, ev := range reports {
		r, err := events.Decode[schemas.DailySalesReport](ev)
		if err != nil || ev.Type != schemas.TypeReportDailySales || ev.ID != r.ReportID || string(ev.Key) != r.ReportDate || ids[r.ReportID] {
			t.Fatalf("report event %+v: %v", ev.Envelope, err)
		}
		ids[r.ReportID] = true
		if r.ReportDate == "2026-12-01" && r.Version > newest.Version {
			newest = r
		}
	}
	if !reflect.DeepEqual(newest, dec1) {
		t.Fatalf("the newest 2026-12-01 report on the topic (version %d) is not the API's (version %d)", newest.Version, dec1.Version)
	}

	// The runs, for the dashboard.
	var runs struct{ Runs []ETLRun }
	resp, err := http.Get(base + "/v1/etl-runs?store_id=S003&limit=500")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&runs)
	resp.Body.Close()
	var catchUp, lateRows int64
	for _, r := range runs.Runs {
		if r.StoreID != "S003" || r.Status != "ok" || r.FinishedAt == nil {
			t.Fatalf("run %+v", r)
		}
		if r.Trigger == string(TriggerCatchUp) {
			catchUp++
			lateRows += *r.LateRows
		}
	}
	var wantLate int64
	for k, d := range want {
		if k.StoreID == "S003" {
			wantLate += d.LateLines
		}
	}
	if len(runs.Runs) == 0 || catchUp == 0 || lateRows != wantLate {
		t.Fatalf("%d runs of S003, %d catching up with %d late rows (want %d)", len(runs.Runs), catchUp, lateRows, wantLate)
	}
}

// checkReport compares a report with sums of the fact table computed here.
func checkReport(t *testing.T, pool *pgxpool.Pool, r schemas.DailySalesReport, d analytics.Date) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT f.store_id, p.department, count(DISTINCT f.sale_id),
			count(DISTINCT f.sale_id) FILTER (WHERE f.voided), coalesce(sum(f.qty) FILTER (WHERE NOT f.voided), 0),
			sum(f.qty * f.unit_price_cents), coalesce(sum(f.qty * f.unit_price_cents) FILTER (WHERE f.voided), 0),
			coalesce(sum(f.qty * f.unit_price_cents) FILTER (WHERE NOT f.voided), 0)
		FROM analytics.dw_sales_fact f JOIN analytics.dim_product p USING (product_key)
		WHERE f.date_key = $1 GROUP BY 1, 2`, d.Key())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]schemas.SalesFigures{}
	for rows.Next() {
		var s, dept string
		var x schemas.SalesFigures
		if err := rows.Scan(&s, &dept, &x.SalesCount, &x.VoidedCount, &x.ItemsSold, &x.GrossCents, &x.VoidedCents, &x.NetCents); err != nil {
			t.Fatal(err)
		}
		want[s+"/"+dept] = x
	}
	rows.Close()
	var chain schemas.SalesFigures
	for _, s := range r.Stores {
		var storeNet, storeGross int64
		for _, dp := range s.Departments {
			if dp.SalesFigures != want[s.StoreID+"/"+dp.Department] {
				t.Errorf("%s %s %s: report %+v, fact %+v", d, s.StoreID, dp.Department, dp.SalesFigures, want[s.StoreID+"/"+dp.Department])
			}
			storeNet += dp.NetCents
			storeGross += dp.GrossCents
		}
		if s.NetCents != storeNet || s.GrossCents != storeGross || s.NetCents != s.GrossCents-s.VoidedCents {
			t.Errorf("%s %s: store figures %+v do not add up to its departments (net %d)", d, s.StoreID, s.SalesFigures, storeNet)
		}
		var sales, voided int64
		pool.QueryRow(context.Background(), `SELECT count(DISTINCT sale_id), count(DISTINCT sale_id) FILTER (WHERE voided)
			FROM analytics.dw_sales_fact WHERE date_key = $1 AND store_id = $2`, d.Key(), s.StoreID).Scan(&sales, &voided)
		if s.SalesCount != sales || s.VoidedCount != voided {
			t.Errorf("%s %s: %d sales, %d voided; fact %d and %d", d, s.StoreID, s.SalesCount, s.VoidedCount, sales, voided)
		}
		chain = analytics.AddFigures(chain, s.SalesFigures)
	}
	if r.Totals.SalesFigures != chain {
		t.Errorf("%s: totals %+v, stores sum to %+v", d, r.Totals.SalesFigures, chain)
	}
	var top []schemas.TopProduct
	rows, _ = pool.Query(context.Background(), `SELECT sku, sum(qty) FILTER (WHERE NOT voided), sum(net_cents) FROM analytics.dw_sales_fact
		WHERE date_key = $1 GROUP BY sku ORDER BY 3 DESC, 1 LIMIT 10`, d.Key())
	for rows.Next() {
		var p schemas.TopProduct
		rows.Scan(&p.SKU, &p.Qty, &p.RevenueCents)
		top = append(top, p)
	}
	rows.Close()
	if !reflect.DeepEqual(r.TopProducts, top) {
		t.Errorf("%s: top products %+v, fact %+v", d, r.TopProducts, top)
	}
}

// TestNightlyOnceAcrossReplicas runs two replicas on one clock: each store's job runs at five
// past midnight in the store's own zone, once across the two, and loads the day that ended.
func TestNightlyOnceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	b := brokertest.Start(t)
	dsn := pgtest.New(t)
	// 20:00 in New York on 1 December.
	clk := clock.NewManual(time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC))
	_, base := service(t, b, dsn, clk)
	service(t, b, dsn, clk)
	pool := pgtest.Pool(t, dsn)
	f := newFixture(12)
	day := mustDate("2026-12-01")
	stores := []string{"S001", "S002", "S003", "S004", "S005", "S006"}
	var evs []events.Event
	lines := 0
	for _, st := range stores {
		for i := range 40 {
			s := f.sale(st, day, 7+i%13, i)
			lines += len(s.Lines)
			evs = append(evs, f.saleEvent(s))
		}
	}
	produce(t, b.Client(t), evs)
	waitStaged(t, pool, lines, 0)

	closeOf := func(store string) time.Time {
		loc := f.zone(store)
		return time.Date(2026, 12, 2, 0, 5, 0, 0, loc)
	}
	// Both schedulers sleep until New York's close, the first of the six.
	ny := closeOf("S001")
	waitFor(t, "both schedulers waiting for New York's close", func() error {
		if n := clk.Waiters(ny); n < 2 {
			return fmt.Errorf("%d waiting", n)
		}
		return nil
	})
	type jobRun struct {
		Job    string
		Slot   time.Time
		Status string
	}
	jobRuns := func() []jobRun {
		rows, _ := pool.Query(ctx, `SELECT job, scheduled_for, status FROM platform.job_runs WHERE job LIKE 'analytics-etl/%' ORDER BY job`)
		out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobRun])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	scheduledRuns := func(store string) []ETLRun {
		var got struct{ Runs []ETLRun }
		resp, err := http.Get(base + "/v1/etl-runs?store_id=" + store)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&got)
		return got.Runs
	}
	clk.Set(ny.Add(time.Minute))
	waitFor(t, "New York's job", func() error {
		if jr := jobRuns(); len(jr) != 1 || jr[0].Status != "ok" {
			return fmt.Errorf("job runs %+v", jr)
		}
		return nil
	})
	if jr := jobRuns(); jr[0].Job != "analytics-etl/S001" || !jr[0].Slot.Equal(ny) {
		t.Fatalf("at 00:06 in New York: job runs %+v, want only S001's at %s", jr, ny.UTC())
	}
	if runs := scheduledRuns("S001"); len(runs) != 1 || runs[0].Trigger != "schedule" || runs[0].BusinessDate != "2026-12-01" || *runs[0].Inserted == 0 {
		t.Fatalf("S001 runs %+v, want one scheduled load of 2026-12-01", runs)
	}
	for _, st := range stores[1:] {
		if runs := scheduledRuns(st); len(runs) != 0 {
			t.Fatalf("%s ran before its close: %+v", st, runs)
		}
	}

	// Past Los Angeles's close every store has run, each at its own midnight, once.
	clk.Set(closeOf("S004").Add(time.Minute))
	waitFor(t, "every store's job", func() error {
		jr := jobRuns()
		if len(jr) != len(stores) {
			return fmt.Errorf("%d job runs", len(jr))
		}
		for _, r := range jr {
			if r.Status != "ok" {
				return fmt.Errorf("job runs %+v", jr)
			}
		}
		return nil
	})
	for i, r := range jobRuns() {
		if want := closeOf(stores[i]); r.Job != "analytics-etl/"+stores[i] || !r.Slot.Equal(want) {
			t.Errorf("job run %+v, want %s at %s", r, stores[i], want.UTC())
		}
		if runs := scheduledRuns(stores[i]); len(runs) != 1 || runs[0].Status != "ok" {
			t.Errorf("%s: %d loads (%+v), want one", stores[i], len(runs), runs)
		}
	}
	r := getReport(t, base, "2026-12-01")
	if !r.Complete || r.Version != int64(len(stores)) || len(r.Stores) != len(stores) {
		t.Fatalf("the report after every close: version %d, complete %v, %d stores", r.Version, r.Complete, len(r.Stores))
	}
	checkReport(t, pool, r, day)
}

func TestHTTPErrors(t *testing.T) {
	b := brokertest.Start(t)
	dsn := pgtest.New(t)
	_, base := service(t, b, dsn, clock.NewManual(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)))
	for _, tc := range []struct {
		path   string
		status int
		field  string
	}{
		{"/v1/reports/daily", 422, "date"},
		{"/v1/reports/daily?date=01/12/2026", 422, "date"},
		{"/v1/reports/daily?date=2026-12-01&format=xml", 422, "format"},
		{"/v1/reports/daily?date=2026-12-01&version=0", 422, "version"},
		{"/v1/reports/daily?date=2026-12-01", 404, ""},
		{"/v1/etl-runs?store_id=S999", 422, "store_id"},
		{"/v1/etl-runs?limit=0", 422, "limit"},
		{"/v1/etl-runs?status=done", 422, "status"},
		{"/v1/etl-runs", 200, ""},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.field != "" && !strings.Contains(string(raw), `"field":"`+tc.field+`"`)) {
			t.Errorf("GET %s: %d %s, want %d naming %q", tc.path, resp.StatusCode, raw, tc.status, tc.field)
		}
	}
}
