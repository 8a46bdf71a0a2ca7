package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/migrations"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics"
	"github.com/freshmart/platform/services/catalog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// newETL returns an ETL on its own pool on dsn.
func newETL(t *testing.T, dsn string, clk clock.Clock) *ETL {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), ETLPoolConfig(cfg, 4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e, err := NewETL(ETLConfig{Pool: pool, Log: testLog, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fixture builds sales and voids from the catalog.
type fixture struct {
	cat    *catalog.Catalog
	rng    *rand.Rand
	n      int
	offset int64
}

func newFixture(seed uint64) *fixture {
	return &fixture{cat: catalog.MustLoad(), rng: rand.New(rand.NewPCG(seed, 7))}
}

func (f *fixture) zone(store string) *time.Location {
	s, err := f.cat.Store(store)
	if err != nil {
		panic(err)
	}
	loc, err := s.Location()
	if err != nil {
		panic(err)
	}
	return loc
}

// sale returns a sale of store at the local wall time of day (hh:mm) on date, with 1 to 5 lines.
func (f *fixture) sale(store string, date analytics.Date, hh, mm int) schemas.SaleCompleted {
	f.n++
	y, m, d := date.Time().Date()
	at := time.Date(y, m, d, hh, mm, f.rng.IntN(60), 0, f.zone(store)).UTC()
	products := f.cat.Products()
	s := schemas.SaleCompleted{SaleID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "sale-%d-%d", f.n, f.rng.Int64())).String(),
		StoreID: store, Register: fmt.Sprintf("R%02d", 1+f.rng.IntN(8)), OccurredAt: at,
		Payment: schemas.Payment{Method: []string{"card", "cash", "mobile"}[f.rng.IntN(3)]}}
	seen := map[string]bool{}
	for range 1 + f.rng.IntN(5) {
		p := products[f.rng.IntN(len(products))]
		if seen[p.SKU] {
			continue
		}
		seen[p.SKU] = true
		l := schemas.SaleLine{SKU: p.SKU, Qty: int64(1 + f.rng.IntN(3)), UnitPriceCents: p.PriceCents}
		s.Lines = append(s.Lines, l)
		s.TotalCents += l.Qty * l.UnitPriceCents
	}
	s.Payment.AmountCents = s.TotalCents
	return s
}

func (f *fixture) event(typ string, key string, at time.Time, payload any) events.Event {
	data, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	if err := schemas.Validate(typ, data); err != nil {
		panic(err)
	}
	f.offset++
	return events.Event{Envelope: events.Envelope{ID: uuid.NewString(), Type: typ, Source: "freshmart/test", Time: at},
		Key: key, Data: data, Topic: schemas.TopicPOSSales, Offset: f.offset}
}

func (f *fixture) saleEvent(s schemas.SaleCompleted) events.Event {
	return f.event(schemas.TypeSaleCompleted, s.StoreID, s.OccurredAt, s)
}

func (f *fixture) voidEvent(s schemas.SaleCompleted, after time.Duration) events.Event {
	v := schemas.SaleVoided{SaleID: s.SaleID, StoreID: s.StoreID, VoidedAt: s.OccurredAt.Add(after), Reason: "customer returned the basket"}
	return f.event(schemas.TypeSaleVoided, v.StoreID, v.VoidedAt, v)
}

// stage applies evs through the stager in one transaction, as one consumed batch.
func stage(t *testing.T, pool *pgxpool.Pool, evs ...events.Event) {
	t.Helper()
	st, err := NewStager(catalog.MustLoad(), testLog, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error { return st.Apply(context.Background(), tx, evs) }); err != nil {
		t.Fatalf("stage: %v", err)
	}
}

// factRow is a row of dw_sales_fact, every column.
type factRow struct {
	SaleID                    string
	LineNo, DateKey, StoreKey int32
	ProductKey                int64
	PaymentKey                int16
	StoreID, SKU              string
	OccurredAt                time.Time
	Qty, Price, Gross, Net    int64
	Voided, Late              bool
	LoadedAt, UpdatedAt       time.Time
}

func facts(t *testing.T, pool *pgxpool.Pool) []factRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT sale_id::text, line_no, date_key, store_key, product_key, payment_key, store_id, sku,
		occurred_at, qty, unit_price_cents, gross_cents, net_cents, voided, late, loaded_at, updated_at
		FROM analytics.dw_sales_fact ORDER BY sale_id, line_no`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (factRow, error) {
		var f factRow
		err := r.Scan(&f.SaleID, &f.LineNo, &f.DateKey, &f.StoreKey, &f.ProductKey, &f.PaymentKey, &f.StoreID, &f.SKU,
			&f.OccurredAt, &f.Qty, &f.Price, &f.Gross, &f.Net, &f.Voided, &f.Late, &f.LoadedAt, &f.UpdatedAt)
		return f, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dayTotals sums the fact table per store-day as the ledger does.
func dayTotals(t *testing.T, pool *pgxpool.Pool) map[analytics.StoreDay]analytics.DayTotals {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT store_id, date_key, count(*), count(*) FILTER (WHERE voided),
			count(DISTINCT sale_id), count(DISTINCT sale_id) FILTER (WHERE voided), sum(qty),
			coalesce(sum(qty) FILTER (WHERE NOT voided), 0), sum(gross_cents), sum(net_cents),
			coalesce(sum(gross_cents) FILTER (WHERE voided), 0), count(*) FILTER (WHERE late)
		FROM analytics.dw_sales_fact GROUP BY store_id, date_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[analytics.StoreDay]analytics.DayTotals{}
	for rows.Next() {
		var store string
		var key int
		var d analytics.DayTotals
		if err := rows.Scan(&store, &key, &d.Lines, &d.VoidedLines, &d.Sales, &d.VoidedSales, &d.Qty, &d.ItemsSold,
			&d.GrossCents, &d.NetCents, &d.VoidedCents, &d.LateLines); err != nil {
			t.Fatal(err)
		}
		out[analytics.StoreDay{StoreID: store, Date: analytics.NewDate(key/10000, time.Month(key/100%100), key%100)}] = d
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustDate(s string) analytics.Date {
	d, err := analytics.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func load(t *testing.T, e *ETL, date analytics.Date, stores ...string) LoadResult {
	t.Helper()
	r, err := e.Load(context.Background(), date, stores, TriggerManual)
	if err != nil {
		t.Fatalf("load %s %v: %v", date, stores, err)
	}
	return r
}

func TestLoadVoidsLateAndReload(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewMigrated(t)
	pool := pgtest.Pool(t, dsn)
	clk := clock.NewManual(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	e := newETL(t, dsn, clk)
	f := newFixture(1)
	day := mustDate("2026-12-01")

	// S001 (New York) at 23:30 is 04:30 UTC on the 2nd; S004 (Los Angeles) at 20:00 likewise.
	a := f.sale("S001", day, 23, 30)
	b := f.sale("S004", day, 20, 0)
	c := f.sale("S004", day, 9, 15)
	early := f.sale("S001", day.AddDays(1), 0, 10) // the next business day already
	voidFirst := f.voidEvent(c, time.Hour)         // staged before its sale
	stage(t, pool, voidFirst)
	stage(t, pool, f.saleEvent(a), f.saleEvent(b), f.saleEvent(a), f.saleEvent(c), f.saleEvent(early))

	r := load(t, e, day)
	if len(r.Days) != 6 || r.ReportVersion != 1 || !r.Complete {
		t.Fatalf("load: %+v", r)
	}
	tot := r.Totals()
	want := int64(len(a.Lines) + len(b.Lines) + len(c.Lines))
	if tot.Staged != want || tot.Inserted != want || tot.Late != 0 || tot.Updated != 0 {
		t.Fatalf("first load %+v, want %d lines inserted", tot, want)
	}
	l := analytics.NewLedger(f.zone)
	l.Sale(a)
	l.Sale(b)
	l.Sale(c)
	l.Void(schemas.SaleVoided{SaleID: c.SaleID})
	wantDays := l.Days()
	if got := dayTotals(t, pool); !reflect.DeepEqual(got, wantDays) {
		t.Fatalf("fact totals\n got %+v\nwant %+v", got, wantDays)
	}
	before := facts(t, pool)

	// Loading again changes nothing.
	clk.Advance(time.Hour)
	r = load(t, e, day)
	if tot := r.Totals(); tot.Inserted != 0 || tot.Updated != 0 || r.ReportVersion != 2 {
		t.Fatalf("second load %+v (version %d)", tot, r.ReportVersion)
	}
	if got := facts(t, pool); !reflect.DeepEqual(got, before) {
		t.Fatal("a second load changed the fact table")
	}

	// A late sale and a late void of a loaded sale come in with the next load of the day.
	late := f.sale("S001", day, 22, 0)
	stage(t, pool, f.saleEvent(late), f.voidEvent(a, 2*time.Hour))
	clk.Advance(time.Hour)
	r = load(t, e, day, "S001")
	if tot := r.Totals(); tot.Inserted != int64(len(late.Lines)) || tot.Late != int64(len(late.Lines)) || tot.Updated != int64(len(a.Lines)) {
		t.Fatalf("late load %+v", tot)
	}
	l.Sale(late)
	l.Void(schemas.SaleVoided{SaleID: a.SaleID})
	wantDays = l.Days()
	k := analytics.StoreDay{StoreID: "S001", Date: day}
	w := wantDays[k]
	w.LateLines = int64(len(late.Lines))
	wantDays[k] = w
	if got := dayTotals(t, pool); !reflect.DeepEqual(got, wantDays) {
		t.Fatalf("fact totals after the late load\n got %+v\nwant %+v", got, wantDays)
	}

	// The runs, and the pending days the nightly job would catch up.
	var runs, ok, lateRows int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'ok'), coalesce(sum(late_rows), 0)
		FROM analytics.etl_runs`).Scan(&runs, &ok, &lateRows); err != nil {
		t.Fatal(err)
	}
	if runs != 13 || ok != 13 || lateRows != len(late.Lines) {
		t.Errorf("%d runs, %d ok, %d late rows", runs, ok, lateRows)
	}
	pending, err := pool.Query(ctx, sqlPendingDays, "S001", day.AddDays(5).Time())
	if err != nil {
		t.Fatal(err)
	}
	days, _ := pgx.CollectRows(pending, pgx.RowTo[time.Time])
	if len(days) != 1 || analytics.DateFromTime(days[0]) != day.AddDays(1) {
		t.Errorf("pending days of S001: %v, want only 2026-12-02 (staged, never loaded)", days)
	}
}

func TestProductHistory(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewMigrated(t)
	pool := pgtest.Pool(t, dsn)
	d1, d2 := mustDate("2026-11-30"), mustDate("2026-12-01")
	clk := clock.NewManual(time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)) // before S001 opens on the 1st
	e := newETL(t, dsn, clk)
	f := newFixture(2)
	sku := "PRD-0001"
	p, _ := f.cat.Product(sku)
	withSKU := func(s schemas.SaleCompleted) schemas.SaleCompleted {
		s.Lines = []schemas.SaleLine{{SKU: sku, Qty: 2, UnitPriceCents: p.PriceCents}}
		return s
	}
	s1 := withSKU(f.sale("S001", d1, 12, 0))
	stage(t, pool, f.saleEvent(s1))
	load(t, e, d1, "S001")

	// The catalog moves the product to another department with a new price, then sales go on.
	other := "bakery"
	if p.Department == other {
		other = "dairy"
	}
	if _, err := pool.Exec(ctx, `UPDATE catalog.products SET department = $2, price_cents = price_cents + 100 WHERE sku = $1`, sku, other); err != nil {
		t.Fatal(err)
	}
	s2 := withSKU(f.sale("S001", d2, 12, 0))
	stage(t, pool, f.saleEvent(s2))
	load(t, e, d2, "S001")

	type version struct {
		Key        int64
		Department string
		Price      int64
		Current    bool
	}
	rows, _ := pool.Query(ctx, `SELECT product_key, department, price_cents, current FROM analytics.dim_product WHERE sku = $1 ORDER BY valid_from`, sku)
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[version])
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Department != p.Department || vs[0].Current || vs[1].Department != other || vs[1].Price != p.PriceCents+100 || !vs[1].Current {
		t.Fatalf("versions of %s: %+v", sku, vs)
	}
	var k1, k2 int64
	pool.QueryRow(ctx, `SELECT product_key FROM analytics.dw_sales_fact WHERE sale_id = $1`, s1.SaleID).Scan(&k1)
	pool.QueryRow(ctx, `SELECT product_key FROM analytics.dw_sales_fact WHERE sale_id = $1`, s2.SaleID).Scan(&k2)
	if k1 != vs[0].Key || k2 != vs[1].Key {
		t.Fatalf("the sale before the change refers to %d, after to %d; want %d and %d", k1, k2, vs[0].Key, vs[1].Key)
	}
	// Reloading the first day keeps its lines on the old version, and its department.
	r := load(t, e, d1, "S001")
	if r.Totals().Updated != 0 {
		t.Fatalf("reloading the day before the change updated %d rows", r.Totals().Updated)
	}
	rep, err := e.ReportQuery(ctx, d1)
	if err != nil {
		t.Fatal(err)
	}
	for _, dp := range rep.Stores[0].Departments {
		if dp.NetCents != 0 && dp.Department != p.Department {
			t.Errorf("2026-11-30 has sales in %s, want them in %s (as of the sale)", dp.Department, p.Department)
		}
	}
	rep, _ = e.ReportQuery(ctx, d2)
	for _, dp := range rep.Stores[0].Departments {
		if dp.NetCents != 0 && dp.Department != other {
			t.Errorf("2026-12-01 has sales in %s, want them in %s", dp.Department, other)
		}
	}
}

// TestKilledLoad cancels loads at every stage of their transaction: each leaves nothing but
// its failed runs, and loading again gives what one uninterrupted load gives.
func TestKilledLoad(t *testing.T) {
	ctx := context.Background()
	f := newFixture(3)
	day := mustDate("2026-12-01")
	var evs []events.Event
	var sales []schemas.SaleCompleted
	for i := range 300 {
		s := f.sale([]string{"S001", "S002", "S005"}[i%3], day, 6+i%17, i%60)
		sales = append(sales, s)
		evs = append(evs, f.saleEvent(s))
		if i%11 == 0 {
			evs = append(evs, f.voidEvent(s, time.Minute))
		}
	}
	lateSale := f.sale("S002", day, 21, 45)

	// The reference: one uninterrupted history.
	ref := func() ([]factRow, map[analytics.StoreDay]analytics.DayTotals) {
		dsn := pgtest.NewMigrated(t)
		pool := pgtest.Pool(t, dsn)
		e := newETL(t, dsn, clock.NewManual(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)))
		stage(t, pool, evs...)
		load(t, e, day)
		stage(t, pool, f.saleEvent(lateSale))
		load(t, e, day)
		return facts(t, pool), dayTotals(t, pool)
	}
	wantRows, wantDays := ref()

	for _, at := range []string{"locked", "copied", "upserted", "reported"} {
		t.Run(at, func(t *testing.T) {
			dsn := pgtest.NewMigrated(t)
			pool := pgtest.Pool(t, dsn)
			e := newETL(t, dsn, clock.NewManual(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)))
			stage(t, pool, evs...)
			kill := func(stage string) {
				var cancel context.CancelFunc
				kctx, cancel := context.WithCancel(ctx)
				defer cancel()
				e.step = func(_ context.Context, s string) {
					if s == stage {
						cancel()
					}
				}
				_, err := e.Load(kctx, day, nil, TriggerManual)
				e.step = nil
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("a load cancelled at %s returned %v", stage, err)
				}
			}
			kill(at)
			if n := len(facts(t, pool)); n != 0 {
				t.Fatalf("the killed first load left %d fact rows", n)
			}
			var failed, version int
			pool.QueryRow(ctx, `SELECT count(*) FROM analytics.etl_runs WHERE status = 'failed'`).Scan(&failed)
			pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM analytics.daily_reports`).Scan(&version)
			if failed != 6 || version != 0 {
				t.Fatalf("after the killed load: %d failed runs (want 6), report version %d (want none)", failed, version)
			}
			load(t, e, day)
			stage(t, pool, f.saleEvent(lateSale))
			before := facts(t, pool)
			kill(at)
			if got := facts(t, pool); !reflect.DeepEqual(got, before) {
				t.Fatal("the killed second load changed the fact table")
			}
			load(t, e, day)
			got := facts(t, pool)
			if len(got) != len(wantRows) {
				t.Fatalf("%d fact rows, want %d", len(got), len(wantRows))
			}
			for i := range got {
				g, w := got[i], wantRows[i]
				g.LoadedAt, g.UpdatedAt, w.LoadedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				g.ProductKey, w.ProductKey, g.StoreKey, w.StoreKey = 0, 0, 0, 0 // surrogates: same rows, maybe other numbers
				if g != w {
					t.Fatalf("row %d: %+v, want %+v", i, g, w)
				}
			}
			if days := dayTotals(t, pool); !reflect.DeepEqual(days, wantDays) {
				t.Fatalf("day totals %+v, want %+v", days, wantDays)
			}
		})
	}
	_ = sales
}

// TestConcurrentLoads runs loads of the same date from two ETLs (as two replicas would): the
// same store-day twice at once, and two stores at once. No line is loaded twice, and the last
// report version has every store.
func TestConcurrentLoads(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewMigrated(t)
	pool := pgtest.Pool(t, dsn)
	clk := clock.NewManual(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	e1, e2 := newETL(t, dsn, clk), newETL(t, dsn, clk)
	f := newFixture(4)
	day := mustDate("2026-12-01")
	var evs []events.Event
	for i := range 2000 {
		evs = append(evs, f.saleEvent(f.sale([]string{"S004", "S006"}[i%2], day, 8+i%14, i%60)))
	}
	stage(t, pool, evs...)
	for _, pair := range [][2][]string{{{"S004"}, {"S004"}}, {{"S004"}, {"S006"}}, {nil, nil}} {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, e := range []*ETL{e1, e2} {
			wg.Go(func() { _, errs[i] = e.Load(ctx, day, pair[i], TriggerManual) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	var rows, distinct int
	pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (sale_id, line_no)) FROM analytics.dw_sales_fact`).Scan(&rows, &distinct)
	var staged int
	pool.QueryRow(ctx, `SELECT count(*) FROM analytics.staged_lines`).Scan(&staged)
	if rows != distinct || rows != staged {
		t.Fatalf("%d fact rows, %d distinct, %d staged", rows, distinct, staged)
	}
	var raw []byte
	var version int
	if err := pool.QueryRow(ctx, `SELECT payload, version FROM analytics.daily_reports ORDER BY version DESC LIMIT 1`).Scan(&raw, &version); err != nil {
		t.Fatal(err)
	}
	var rep schemas.DailySalesReport
	json.Unmarshal(raw, &rep)
	if version != 6 || len(rep.Stores) != 6 || !rep.Complete {
		t.Fatalf("last report: version %d, %d stores, complete %v", version, len(rep.Stores), rep.Complete)
	}
}

// TestFinanceExamples runs the example queries of the migration's comments on a loaded day.
func TestFinanceExamples(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewMigrated(t)
	pool := pgtest.Pool(t, dsn)
	e := newETL(t, dsn, clock.NewManual(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)))
	f := newFixture(5)
	var evs []events.Event
	for _, d := range []string{"2026-11-24", "2026-11-30", "2026-12-01"} {
		for i := range 20 {
			evs = append(evs, f.saleEvent(f.sale([]string{"S001", "S003"}[i%2], mustDate(d), 10+i%10, i)))
		}
	}
	stage(t, pool, evs...)
	for _, d := range []string{"2026-11-24", "2026-11-30", "2026-12-01"} {
		load(t, e, mustDate(d))
	}
	raw, err := fs.ReadFile(migrations.FS, "007_analytics.sql")
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if q, ok := strings.CutPrefix(line, "--   "); ok {
			cur.WriteString(q + "\n")
			if strings.HasSuffix(strings.TrimSpace(q), ";") {
				queries = append(queries, cur.String())
				cur.Reset()
			}
		}
	}
	if len(queries) != 3 {
		t.Fatalf("found %d example queries in the migration, want 3", len(queries))
	}
	for _, q := range queries {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil || n == 0 {
			t.Fatalf("%d rows, %v\n%s", n, err, q)
		}
	}
}
