// Command etl is the benchmark of the analytics ETL (`make bench-etl`). In a throwaway Postgres
// (package pgcluster: fsync off, the same settings as the tests) it stages -lines sale lines
// (default 10,000,000: -days 90 days of -stores 200 stores, about 555 lines per store-day,
// 1% of the sales voided) and measures, on this machine:
//
//   - raw COPY: the same rows the ETL writes, copied from this process into a bare table with
//     the fact table's columns and no index: the floor of any load; once before the ETL and once
//     after it, the ratio taken against their average;
//   - ETL: the backfill of every date (ETL.Load, one transaction per date with every store: the
//     day's staged lines read and copied into a temporary table, one statement inserting them
//     into the day's partition of the fact table) without the reports, in rows per second, and
//     its ratio to the raw COPY; then the same backfill again (nothing new: every line found,
//     none written) with the reports;
//   - the daily report's queries for one day (ETL.ReportQuery: figures per store and
//     department, the day before and a week before, the best sellers), median of 5;
//   - staging: sale.completed events through the consumer's batch statements (Stager.Apply,
//     batches of 5000 events), in sales per second, against the simulator's Black Friday rate.
//
// Usage: go run ./services/bench/etl [-lines 10000000] [-days 90] [-stores 200] [-stage-sales 100000]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgcluster"
	"github.com/freshmart/platform/migrations"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics"
	"github.com/freshmart/platform/services/analytics/app"
	"github.com/freshmart/platform/services/catalog"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-etl:", err)
		os.Exit(1)
	}
}

type options struct {
	lines, days, stores, stageSales int
	start                           string
	seed                            uint64
}

func run() error {
	var o options
	flag.IntVar(&o.lines, "lines", 10_000_000, "staged sale lines")
	flag.IntVar(&o.days, "days", 90, "business days")
	flag.IntVar(&o.stores, "stores", 200, "stores (the catalog's, then synthetic ones)")
	flag.IntVar(&o.stageSales, "stage-sales", 100_000, "sales through the staging statements (0: skip)")
	flag.StringVar(&o.start, "start", "2026-09-01", "first business day")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.Parse()
	if o.lines < 1 || o.days < 1 || o.stores < 1 {
		return fmt.Errorf("-lines, -days and -stores must be positive")
	}
	first, err := analytics.ParseDate(o.start)
	if err != nil {
		return err
	}
	last := first.AddDays(o.days - 1)
	ctx := context.Background()

	fmt.Fprintln(os.Stderr, "bench-etl: starting Postgres")
	pg, err := pgcluster.Start()
	if err != nil {
		return err
	}
	defer pg.Stop()
	dsn, err := pg.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	if err := migrations.ApplyDSN(ctx, dsn); err != nil {
		return err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, app.ETLPoolConfig(cfg, 4))
	if err != nil {
		return err
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The clock stands after the last day, so every line is in the past of the product versions.
	clk := clock.NewManual(last.AddDays(2).Start(time.UTC))
	etl, err := app.NewETL(app.ETLConfig{Pool: pool, Log: log, Clock: clk, SkipReport: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return err
	}

	cat := catalog.MustLoad()
	stores, err := addStores(ctx, pool, cat, o.stores)
	if err != nil {
		return err
	}
	// A load of an empty day fills the dimensions, which the raw rows need.
	if _, err := etl.Load(ctx, first.AddDays(-30), nil, app.TriggerManual); err != nil {
		return err
	}
	keys, err := readKeys(ctx, pool)
	if err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "bench-etl: staging %d lines (%d days x %d stores)\n", o.lines, o.days, len(stores))
	t0 := time.Now()
	voids, err := stageLines(ctx, pool, newGen(o, first, stores, cat, nil))
	if err != nil {
		return err
	}
	stagedIn := time.Since(t0)

	// The raw COPY runs before the ETL and again after it (into a second table), so that a
	// machine that gets busier or quieter meanwhile shows in the two figures.
	rawCopy := func(table string) (time.Duration, error) {
		fmt.Fprintln(os.Stderr, "bench-etl: raw COPY into a bare table")
		if _, err := pool.Exec(ctx, `CREATE TABLE `+table+` (LIKE analytics.dw_sales_fact)`); err != nil {
			return 0, err
		}
		checkpoint(ctx, pool)
		t0 := time.Now()
		n, err := pool.CopyFrom(ctx, pgx.Identifier{"public", table}, factCols, &factSource{g: newGen(o, first, stores, cat, voids), keys: keys, now: clk.Now()})
		if err != nil {
			return 0, fmt.Errorf("raw COPY: %w", err)
		}
		if n != int64(o.lines) {
			return 0, fmt.Errorf("raw COPY wrote %d rows, want %d", n, o.lines)
		}
		return time.Since(t0), nil
	}
	raw1, err := rawCopy("raw_fact_1")
	if err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "bench-etl: ETL backfill (no reports)")
	checkpoint(ctx, pool)
	stages := map[string]time.Duration{}
	var loaded int64
	t0 = time.Now()
	err = etl.Backfill(ctx, first, last, nil, app.TriggerManual, func(r app.LoadResult) {
		loaded += r.Totals().Inserted
		for k, v := range r.Stages {
			stages[k] += v
		}
	})
	if err != nil {
		return err
	}
	etlTook := time.Since(t0)
	if loaded != int64(o.lines) {
		return fmt.Errorf("the ETL inserted %d rows, want %d", loaded, o.lines)
	}
	raw2, err := rawCopy("raw_fact_2")
	if err != nil {
		return err
	}
	raw := (raw1 + raw2) / 2
	n := int64(o.lines)
	var factRows int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM analytics.dw_sales_fact`).Scan(&factRows); err != nil || factRows != int64(o.lines) {
		return fmt.Errorf("the fact table has %d rows (%v), want %d", factRows, err, o.lines)
	}

	fmt.Fprintln(os.Stderr, "bench-etl: ETL backfill again, with reports")
	withReports, err := app.NewETL(app.ETLConfig{Pool: pool, Log: log, Clock: clk, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	var again int64
	t0 = time.Now()
	err = withReports.Backfill(ctx, first, last, nil, app.TriggerManual, func(r app.LoadResult) {
		t := r.Totals()
		again += t.Inserted + t.Updated
	})
	if err != nil {
		return err
	}
	reloadTook := time.Since(t0)
	if again != 0 {
		return fmt.Errorf("the second backfill wrote %d rows, want none", again)
	}

	fmt.Fprintln(os.Stderr, "bench-etl: report queries")
	mid := first.AddDays(o.days / 2)
	var reportTimes []time.Duration
	var rep schemas.DailySalesReport
	for range 5 {
		t0 := time.Now()
		if rep, err = withReports.ReportQuery(ctx, mid); err != nil {
			return err
		}
		reportTimes = append(reportTimes, time.Since(t0))
	}
	slices.Sort(reportTimes)
	var dayLines int64
	pool.QueryRow(ctx, `SELECT count(*) FROM analytics.dw_sales_fact WHERE date_key = $1`, mid.Key()).Scan(&dayLines)

	var stageRate float64
	var stageBatches int
	if o.stageSales > 0 {
		fmt.Fprintf(os.Stderr, "bench-etl: %d sales through the staging statements\n", o.stageSales)
		if stageRate, stageBatches, err = stagingRate(ctx, pool, cat, log, o); err != nil {
			return err
		}
	}

	var dbSize, factSize string
	pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_database_size(current_database())),
		pg_size_pretty((SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'analytics.dw_sales_fact'::regclass))`).Scan(&dbSize, &factSize)

	perSec := func(n int64, d time.Duration) string { return fmt.Sprintf("%.0f rows/s", float64(n)/d.Seconds()) }
	fmt.Printf("\nFreshMart analytics ETL benchmark — %d CPUs, Postgres from pgcluster (fsync off)\n\n", runtime.NumCPU())
	fmt.Printf("%-58s %s\n", "metric", "value")
	fmt.Printf("%-58s %s\n", strings.Repeat("-", 58), strings.Repeat("-", 30))
	row := func(k, v string) { fmt.Printf("%-58s %s\n", k, v) }
	row("staged lines (days x stores, lines per store-day)", fmt.Sprintf("%d (%d x %d, %d)", o.lines, o.days, len(stores), o.lines/(o.days*len(stores))))
	row("staging them (COPY, setup)", stagedIn.Round(time.Millisecond).String())
	row("raw COPY into a bare table (before / after the ETL)", fmt.Sprintf("%s / %s, %s on average", raw1.Round(time.Millisecond), raw2.Round(time.Millisecond), perSec(n, raw)))
	row(fmt.Sprintf("ETL into the fact table (%d loads, no reports)", o.days), fmt.Sprintf("%s, %s", etlTook.Round(time.Millisecond), perSec(loaded, etlTook)))
	row("ETL / raw COPY (average)", fmt.Sprintf("%.2fx (goal 1.5x)", etlTook.Seconds()/raw.Seconds()))
	row("  of which dims / read+COPY / upsert", fmt.Sprintf("%s / %s / %s", stages["dims"].Round(time.Millisecond),
		stages["copy"].Round(time.Millisecond), stages["upsert"].Round(time.Millisecond)))
	row("ETL again, nothing new, with the reports", fmt.Sprintf("%s (%s per date)", reloadTook.Round(time.Millisecond), (reloadTook/time.Duration(o.days)).Round(time.Millisecond)))
	row(fmt.Sprintf("daily report queries for %s (%d lines, %d stores)", mid, dayLines, len(rep.Stores)),
		fmt.Sprintf("%s median, %s min, %s max", reportTimes[2].Round(time.Millisecond), reportTimes[0].Round(time.Millisecond), reportTimes[4].Round(time.Millisecond)))
	if o.stageSales > 0 {
		blackFriday := 50.0 * 100 * 6 / 60 // sales per second: 50 a minute per store, x100, 6 stores
		row(fmt.Sprintf("staging: sales/s (%d batches of up to 5000)", stageBatches), fmt.Sprintf("%.0f sales/s (Black Friday average %.0f/s)", stageRate, blackFriday))
	}
	row("database / fact table (its partitions) size", dbSize+" / "+factSize)
	return nil
}

// checkpoint flushes what earlier phases wrote, so it does not land in the next one's time.
func checkpoint(ctx context.Context, pool *pgxpool.Pool) {
	pool.Exec(ctx, `CHECKPOINT`)     //nolint:errcheck // best effort
	pool.Exec(ctx, `VACUUM ANALYZE`) //nolint:errcheck
}

var zones = []string{"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix",
	"Pacific/Honolulu", "America/Anchorage"}

// addStores adds synthetic stores to catalog.stores until there are n, and returns n store ids
// with their zones.
func addStores(ctx context.Context, pool *pgxpool.Pool, cat *catalog.Catalog, n int) ([]store, error) {
	var out []store
	for _, s := range cat.Stores() {
		if len(out) == n {
			break
		}
		loc, err := s.Location()
		if err != nil {
			return nil, err
		}
		out = append(out, store{s.StoreID, loc})
	}
	for i := len(out) + 1; len(out) < n; i++ {
		id := fmt.Sprintf("S%03d", i)
		z := zones[i%len(zones)]
		loc, err := time.LoadLocation(z)
		if err != nil {
			return nil, err
		}
		if _, err := pool.Exec(ctx, `INSERT INTO catalog.stores (store_id, name, city, state, timezone) VALUES ($1, $2, 'Benchville', 'ZZ', $3)
			ON CONFLICT (store_id) DO NOTHING`, id, "FreshMart Bench "+id, z); err != nil {
			return nil, err
		}
		out = append(out, store{id, loc})
	}
	return out, nil
}

type store struct {
	id  string
	loc *time.Location
}

// line is one generated sale line.
type line struct {
	saleID      [16]byte
	lineNo      int32
	store       string
	date        analytics.Date
	at          time.Time
	sku, method string
	qty, price  int64
	voided      bool
	register    string
	firstOfSale bool
}

// gen generates the staged lines, date by date, store by store, deterministically.
type gen struct {
	o        options
	first    analytics.Date
	stores   []store
	products []catalog.Product
	voids    map[[16]byte]bool // for marking lines voided (nil while staging)
	rng      *rand.Rand
	produced int
	day, st  int
	left     int // lines left in the current store-day
	sale     []line
}

func newGen(o options, first analytics.Date, stores []store, cat *catalog.Catalog, voids map[[16]byte]bool) *gen {
	return &gen{o: o, first: first, stores: stores, products: cat.Products(), voids: voids, rng: rand.New(rand.NewPCG(o.seed, 99)), st: -1}
}

var methods = []string{"card", "cash", "mobile"}

// next returns the next line, or false after the last.
func (g *gen) next() (line, bool) {
	for len(g.sale) == 0 {
		if g.produced >= g.o.lines {
			return line{}, false
		}
		for g.left == 0 {
			g.st++
			if g.st == len(g.stores) {
				g.st, g.day = 0, g.day+1
			}
			cells := g.o.days * len(g.stores)
			cell := g.day*len(g.stores) + g.st
			g.left = g.o.lines/cells + boolInt(cell < g.o.lines%cells)
		}
		n := min(1+g.rng.IntN(9), g.left)
		var id [16]byte
		for i := range id {
			id[i] = byte(g.rng.IntN(256))
		}
		id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80
		s := g.stores[g.st]
		d := g.first.AddDays(g.day)
		y, m, dd := d.Time().Date()
		at := time.Date(y, m, dd, 7+g.rng.IntN(16), g.rng.IntN(60), g.rng.IntN(60), 0, s.loc).UTC()
		method := methods[g.rng.IntN(3)]
		register := fmt.Sprintf("R%02d", 1+g.rng.IntN(12))
		for i := range n {
			p := g.products[g.rng.IntN(len(g.products))]
			g.sale = append(g.sale, line{saleID: id, lineNo: int32(i), store: s.id, date: d, at: at, sku: p.SKU, method: method,
				qty: int64(1 + g.rng.IntN(3)), price: p.PriceCents, voided: g.voids[id], register: register, firstOfSale: i == 0})
		}
		g.left -= n
		g.produced += n
	}
	l := g.sale[0]
	g.sale = g.sale[1:]
	return l, true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stageLines copies the generated lines into staging, voids 1% of the sales, and records the
// change of every store-day; it returns the voided sales.
func stageLines(ctx context.Context, pool *pgxpool.Pool, g *gen) (map[[16]byte]bool, error) {
	voids := map[[16]byte]bool{}
	var voidRows [][]any
	rng := rand.New(rand.NewPCG(g.o.seed, 5)) // not g's: the raw COPY generates the same lines without it
	src := &stageSource{g: g, pick: func(l line) {
		if l.firstOfSale && rng.IntN(100) == 0 {
			voids[l.saleID] = true
			voidRows = append(voidRows, []any{l.saleID, l.store, l.at.Add(time.Hour), "bench"})
		}
	}}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"analytics", "staged_lines"},
		[]string{"sale_id", "line_no", "store_id", "business_date", "occurred_at", "register", "sku", "qty", "unit_price_cents", "payment_method"}, src); err != nil {
		return nil, fmt.Errorf("stage lines: %w", err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"analytics", "staged_voids"}, []string{"sale_id", "store_id", "voided_at", "reason"}, pgx.CopyFromRows(voidRows)); err != nil {
		return nil, fmt.Errorf("stage voids: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO analytics.day_changes (store_id, business_date, seq)
		SELECT store_id, business_date, nextval('analytics.day_change_seq') FROM (SELECT DISTINCT store_id, business_date FROM analytics.staged_lines) d`); err != nil {
		return nil, fmt.Errorf("stage day changes: %w", err)
	}
	return voids, nil
}

type stageSource struct {
	g    *gen
	pick func(line)
	l    line
}

func (s *stageSource) Next() bool {
	var ok bool
	s.l, ok = s.g.next()
	if ok {
		s.pick(s.l)
	}
	return ok
}

func (s *stageSource) Values() ([]any, error) {
	l := s.l
	return []any{l.saleID, l.lineNo, l.store, l.date.Time(), l.at, l.register, l.sku, l.qty, l.price, l.method}, nil
}

func (s *stageSource) Err() error { return nil }

// keys are the dimension keys the raw rows carry, as the ETL resolves them.
type keys struct {
	stores   map[string]int32
	products map[string]int64
	payments map[string]int16
}

func readKeys(ctx context.Context, pool *pgxpool.Pool) (keys, error) {
	k := keys{stores: map[string]int32{}, products: map[string]int64{}, payments: map[string]int16{}}
	rows, _ := pool.Query(ctx, `SELECT store_id, store_key FROM analytics.dim_store`)
	for rows.Next() {
		var id string
		var v int32
		rows.Scan(&id, &v)
		k.stores[id] = v
	}
	rows.Close()
	rows, _ = pool.Query(ctx, `SELECT sku, product_key FROM analytics.dim_product WHERE current`)
	for rows.Next() {
		var id string
		var v int64
		rows.Scan(&id, &v)
		k.products[id] = v
	}
	rows.Close()
	rows, _ = pool.Query(ctx, `SELECT method, payment_key FROM analytics.dim_payment`)
	for rows.Next() {
		var id string
		var v int16
		rows.Scan(&id, &v)
		k.payments[id] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return k, err
	}
	return k, nil
}

// factCols are the fact table's columns.
var factCols = []string{"sale_id", "line_no", "date_key", "store_key", "product_key", "payment_key", "store_id", "sku",
	"occurred_at", "qty", "unit_price_cents", "gross_cents", "net_cents", "voided", "late", "loaded_at", "updated_at"}

// factSource generates the rows the ETL writes into the fact table.
type factSource struct {
	g    *gen
	keys keys
	now  time.Time
	vals []any
}

func (s *factSource) Next() bool {
	l, ok := s.g.next()
	if !ok {
		return false
	}
	ln := analytics.Line{Qty: l.qty, UnitPriceCents: l.price, Voided: l.voided}
	s.vals = []any{l.saleID, l.lineNo, int32(l.date.Key()), s.keys.stores[l.store], s.keys.products[l.sku], s.keys.payments[l.method],
		l.store, l.sku, l.at, l.qty, l.price, ln.GrossCents(), ln.NetCents(), l.voided, false, s.now, s.now}
	return true
}

func (s *factSource) Values() ([]any, error) { return s.vals, nil }
func (s *factSource) Err() error             { return nil }

// stagingRate runs o.stageSales sale.completed events of the catalog's stores through the
// consumer's staging statements in batches of 5000, each in its own transaction as the
// consumer applies them, and returns the sales per second.
func stagingRate(ctx context.Context, pool *pgxpool.Pool, cat *catalog.Catalog, log *slog.Logger, o options) (float64, int, error) {
	st, err := app.NewStager(cat, log, nil)
	if err != nil {
		return 0, 0, err
	}
	rng := rand.New(rand.NewPCG(o.seed, 7))
	stores, products := cat.Stores(), cat.Products()
	t := time.Date(2027, 11, 26, 12, 0, 0, 0, time.UTC) // Black Friday, away from the benchmark's days
	var batches [][]events.Event
	var batch []events.Event
	for i := range o.stageSales {
		s := schemas.SaleCompleted{SaleID: uuid.NewString(), StoreID: stores[rng.IntN(len(stores))].StoreID, Register: "R01",
			OccurredAt: t.Add(time.Duration(i) * time.Millisecond), Payment: schemas.Payment{Method: "card"}}
		for range 1 + rng.IntN(9) {
			p := products[rng.IntN(len(products))]
			s.Lines = append(s.Lines, schemas.SaleLine{SKU: p.SKU, Qty: 1, UnitPriceCents: p.PriceCents})
			s.TotalCents += p.PriceCents
		}
		s.Payment.AmountCents = s.TotalCents
		data, err := json.Marshal(s)
		if err != nil {
			return 0, 0, err
		}
		batch = append(batch, events.Event{Envelope: events.Envelope{ID: s.SaleID, Type: schemas.TypeSaleCompleted, Source: "freshmart/pos", Time: s.OccurredAt},
			Key: s.StoreID, Data: data, Topic: schemas.TopicPOSSales, Offset: int64(i)})
		if len(batch) == 5000 || i == o.stageSales-1 {
			batches = append(batches, batch)
			batch = nil
		}
	}
	checkpoint(ctx, pool)
	t0 := time.Now()
	for _, b := range batches {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return st.Apply(ctx, tx, b) }); err != nil {
			return 0, 0, err
		}
	}
	return float64(o.stageSales) / time.Since(t0).Seconds(), len(batches), nil
}
