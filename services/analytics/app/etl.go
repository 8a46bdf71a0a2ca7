package app

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/services/analytics"
)

// Trigger says why a store-day was loaded (etl_runs.trigger).
type Trigger string

const (
	// TriggerSchedule is a store's nightly job loading the day that just ended.
	TriggerSchedule Trigger = "schedule"
	// TriggerCatchUp is the same job loading an earlier day whose staging changed since it was
	// loaded (late sales, late voids) or that was never loaded.
	TriggerCatchUp Trigger = "catch_up"
	// TriggerManual is `analytics etl`.
	TriggerManual Trigger = "manual"
)

// ETLConfig configures an ETL.
type ETLConfig struct {
	// Pool is where the ETL runs: a pool configured by ETLPoolConfig, with at least two
	// connections (a load copies into its transaction on one while it reads staging on another).
	// Required.
	Pool *pgxpool.Pool
	// Log receives the ETL's logs. Default slog.Default().
	Log *slog.Logger
	// Clock stamps runs, loads, reports and product versions. Default clock.Real().
	Clock clock.Clock
	// Source is the ce_source of the reports. Default "freshmart/analytics".
	Source string
	// TopN is how many best sellers a report lists. Default 10.
	TopN int
	// Registerer receives the ETL's metrics (analytics_etl_*). Nil: none.
	Registerer prometheus.Registerer
	// SkipReport makes loads leave the report out (services/bench/etl measures the load alone).
	SkipReport bool
}

// ETL loads store-days from staging into the star schema and computes the daily reports. Its
// loads are serialised within a process; across processes, loads of the same store-day wait
// for each other (a lock per store-day) and others run side by side.
type ETL struct {
	cfg     ETLConfig
	mu      sync.Mutex
	metrics *etlMetrics
	// step, when set (tests), is called between the stages of a load's transaction with the
	// stage's name: "locked", "copied", "upserted", "reported".
	step func(ctx context.Context, stage string)
}

// ETLPoolConfig returns a copy of cfg (the service's pool configuration) for an ETL pool of
// maxConns connections whose sessions can hold a day's lines in memory: temp_buffers for the
// temporary table, work_mem for the hash joins, and no JIT (its compile time costs more than it
// saves on statements run once per load).
func ETLPoolConfig(cfg *pgxpool.Config, maxConns int32) *pgxpool.Config {
	c := cfg.Copy()
	c.MaxConns, c.MinConns = max(maxConns, 2), 0
	if c.ConnConfig.RuntimeParams == nil {
		c.ConnConfig.RuntimeParams = map[string]string{}
	}
	c.ConnConfig.RuntimeParams["temp_buffers"] = "256MB"
	c.ConnConfig.RuntimeParams["work_mem"] = "64MB"
	c.ConnConfig.RuntimeParams["jit"] = "off"
	return c
}

// NewETL returns an ETL on cfg.Pool.
func NewETL(cfg ETLConfig) (*ETL, error) {
	if cfg.Pool == nil {
		return nil, errors.New("analytics: ETL without a pool")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Source == "" {
		cfg.Source = "freshmart/analytics"
	}
	if cfg.TopN <= 0 {
		cfg.TopN = 10
	}
	return &ETL{cfg: cfg, metrics: newETLMetrics(cfg.Registerer)}, nil
}

func (e *ETL) stage(ctx context.Context, name string) {
	if e.step != nil {
		e.step(ctx, name)
	}
}

// DayResult is what a load did to one store-day.
type DayResult struct {
	StoreID  string `json:"store_id"`
	RunID    int64  `json:"run_id"`
	Staged   int64  `json:"staged_lines"` // lines of the store-day in staging
	Inserted int64  `json:"inserted"`     // fact rows inserted ...
	Late     int64  `json:"late_rows"`    // ... of which late
	Updated  int64  `json:"updated"`      // fact rows changed (a void staged since)
}

// LoadResult is what one load did.
type LoadResult struct {
	Date    analytics.Date
	Trigger Trigger
	Days    []DayResult
	// ReportID and ReportVersion name the report the load produced (empty with SkipReport);
	// Complete is set when every store is now loaded for Date.
	ReportID      string
	ReportVersion int64
	Complete      bool
	// Took is the whole load; Stages splits its transaction: dims (the dimensions, before),
	// copy (staging read and copied into the temporary table), upsert, report.
	Took   time.Duration
	Stages map[string]time.Duration
}

// Totals sums the days of r.
func (r LoadResult) Totals() (d DayResult) {
	for _, x := range r.Days {
		d.Staged += x.Staged
		d.Inserted += x.Inserted
		d.Late += x.Late
		d.Updated += x.Updated
	}
	return d
}

// ErrUnknownStore is wrapped by Load errors for a store the catalog does not have.
var ErrUnknownStore = errors.New("unknown store")

// Load loads the store-days of date for stores (every store of the catalog when empty) in one
// transaction, and, unless SkipReport, computes the date's report over every store loaded so
// far and emits it through the outbox in the same transaction:
//
//   - the day's staged lines, with their voids and their dimension keys resolved in memory
//     (the product version valid at the sale), are copied (COPY) into a temporary table while
//     they are read;
//   - one statement inserts the lines not in the fact table yet (late when their store-day had
//     been loaded before) and updates the rows whose line changed (a void staged since), so
//     loading a store-day again changes nothing unless staging did;
//   - the store-days are recorded as loaded, with the change number read before staging was, so
//     that anything staged meanwhile makes the day pending again.
//
// Each store-day's run is recorded in etl_runs: running first, then ok with its figures in the
// load's transaction, or failed with the error. A load that fails or is cancelled half-way
// leaves nothing of itself but the failed runs.
func (e *ETL) Load(ctx context.Context, date analytics.Date, stores []string, trig Trigger) (LoadResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	started := time.Now()
	res := LoadResult{Date: date, Trigger: trig, Stages: map[string]time.Duration{}}
	now := e.cfg.Clock.Now()
	d, err := e.syncDims(ctx, date, now)
	if err != nil {
		return res, err
	}
	res.Stages["dims"] = time.Since(started)
	if len(stores) == 0 {
		stores = d.storeIDs
	}
	stores = slices.Clone(stores)
	slices.Sort(stores)
	stores = slices.Compact(stores)
	for _, s := range stores {
		if _, ok := d.stores[s]; !ok {
			return res, fmt.Errorf("analytics: load %s: %w %q", date, ErrUnknownStore, s)
		}
	}
	rows, err := e.cfg.Pool.Query(ctx, sqlStartRuns, stores, date.Time(), string(trig), now)
	if err != nil {
		return res, fmt.Errorf("analytics: load %s: record runs: %w", date, err)
	}
	runIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return res, fmt.Errorf("analytics: load %s: record runs: %w", date, err)
	}
	for i, s := range stores {
		res.Days = append(res.Days, DayResult{StoreID: s, RunID: runIDs[i]})
	}
	err = e.load(ctx, &res, d, stores, runIDs, now)
	res.Took = time.Since(started)
	e.metrics.observe(res, err)
	if err != nil {
		err = fmt.Errorf("analytics: load %s: %w", date, err)
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, ferr := e.cfg.Pool.Exec(bg, sqlFailRuns, runIDs, e.cfg.Clock.Now(), err.Error()); ferr != nil {
			e.cfg.Log.Warn("could not record failed runs", "date", date, "err", ferr)
		}
		return res, err
	}
	return res, nil
}

// load is the transaction of Load.
func (e *ETL) load(ctx context.Context, res *LoadResult, d *dims, stores []string, runIDs []int64, now time.Time) error {
	date := res.Date
	tx, err := e.cfg.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	t0 := time.Now()
	if _, err := tx.Exec(ctx, sqlLockDays, stores, date.String()); err != nil {
		return fmt.Errorf("lock store-days: %w", err)
	}
	e.stage(ctx, "locked")
	// The change numbers first, then staging: a line staged after this read makes its day
	// pending again, whether or not the extract below saw it.
	seqs := map[string]int64{}
	loaded := map[string]bool{}
	b := &pgx.Batch{}
	b.Queue(sqlAbandonRuns, date.Time(), stores, runIDs, now)
	b.Queue(sqlReadSeqs, date.Time(), stores).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var s string
			var q int64
			if err := rows.Scan(&s, &q); err != nil {
				return err
			}
			seqs[s] = q
		}
		return rows.Err()
	})
	b.Queue(sqlReadLoaded, date.Time(), stores).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			loaded[s] = true
		}
		return rows.Err()
	})
	b.Queue(sqlCreateTemp)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("read the store-days' state: %w", err)
	}
	staged, err := e.copyDay(ctx, tx, d, date, stores, loaded)
	if err != nil {
		return err
	}
	res.Stages["copy"] = time.Since(t0)
	e.stage(ctx, "copied")

	t0 = time.Now()
	existing := map[string]int64{}
	rows, err := tx.Query(ctx, sqlCountDay, date.Key(), stores)
	if err != nil {
		return fmt.Errorf("count the day's rows: %w", err)
	}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return fmt.Errorf("count the day's rows: %w", err)
		}
		existing[s] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count the day's rows: %w", err)
	}
	updated := map[string]int64{}
	rows, err = tx.Query(ctx, sqlUpsert, date.Key(), now)
	if err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return fmt.Errorf("upsert: %w", err)
		}
		updated[s] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	seqList := make([]int64, len(stores))
	for i, s := range stores {
		seqList[i] = seqs[s]
	}
	if _, err := tx.Exec(ctx, sqlMarkLoaded, date.Time(), stores, now, seqList); err != nil {
		return fmt.Errorf("record loaded days: %w", err)
	}
	res.Stages["upsert"] = time.Since(t0)
	e.stage(ctx, "upserted")

	t0 = time.Now()
	var version int64
	if !e.cfg.SkipReport {
		r, err := e.emitReport(ctx, tx, d, date, now)
		if err != nil {
			return err
		}
		version, res.ReportID, res.ReportVersion, res.Complete = r.Version, r.ReportID, r.Version, r.Complete
	}
	n := len(stores)
	stagedList, ins, upd, late := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, s := range stores {
		// Every fact row of a store-day is one of its staged lines, so the inserted ones are
		// the staged ones that were not there; they are late when the store-day was loaded
		// before.
		stagedList[i], ins[i], upd[i] = staged[s], staged[s]-existing[s], updated[s]
		if loaded[s] {
			late[i] = ins[i]
		}
		res.Days[i].Staged, res.Days[i].Inserted, res.Days[i].Updated, res.Days[i].Late = stagedList[i], ins[i], upd[i], late[i]
	}
	var v *int64
	if version > 0 {
		v = &version
	}
	if _, err := tx.Exec(ctx, sqlFinishRuns, runIDs, e.cfg.Clock.Now(), v, stagedList, ins, upd, late); err != nil {
		return fmt.Errorf("record runs: %w", err)
	}
	res.Stages["report"] = time.Since(t0)
	e.stage(ctx, "reported")
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// copyDay reads the date's staged lines of stores on a connection of its own and streams them,
// keys resolved, into the temporary table of tx (COPY ... FROM STDIN, binary) as they arrive,
// so that reading and copying overlap. Columns that pass through are copied as the bytes the
// extract returned them in (both sides use Postgres's binary formats); only the keys and the
// amounts are computed here. It returns the number of lines per store.
func (e *ETL) copyDay(ctx context.Context, tx pgx.Tx, d *dims, date analytics.Date, stores []string, loaded map[string]bool) (map[string]int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := e.cfg.Pool.Query(ctx, sqlExtract, date.Time(), stores)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	defer rows.Close()
	enc := &copyEncoder{d: d, dateKey: int32(date.Key()), late: loaded, counts: map[int32]int64{}}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := enc.run(rows, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	_, copyErr := tx.Conn().PgConn().CopyFrom(ctx, pr, sqlCopyTemp)
	pr.Close() // a COPY that ended early unblocks the encoder
	encErr := <-done
	switch {
	case encErr != nil && !errors.Is(encErr, io.ErrClosedPipe):
		return nil, fmt.Errorf("extract: %w", encErr)
	case copyErr != nil:
		return nil, fmt.Errorf("copy into the temporary table: %w", copyErr)
	}
	staged := map[string]int64{}
	for id, key := range d.stores {
		if n := enc.counts[key]; n > 0 {
			staged[id] = n
		}
	}
	return staged, nil
}

// copyEncoder turns the rows of sqlExtract into the binary COPY stream of the temporary table
// (sqlCreateTemp's columns, in order).
type copyEncoder struct {
	d       *dims
	dateKey int32
	late    map[string]bool
	counts  map[int32]int64 // lines per store key
}

// extract's columns: sale_id uuid, line_no int4, store_id text, occurred_at timestamptz,
// sku text, qty int8, unit_price_cents int8, payment_method text, voided bool.
var extractSizes = []int{16, 4, -1, 8, -1, 8, 8, -1, 1}

func (c *copyEncoder) run(rows pgx.Rows, w io.Writer) error {
	fds := rows.FieldDescriptions()
	if len(fds) != len(extractSizes) {
		return fmt.Errorf("extract returned %d columns, want %d", len(fds), len(extractSizes))
	}
	for i, fd := range fds {
		if extractSizes[i] > 0 && fd.Format != pgx.BinaryFormatCode {
			return fmt.Errorf("extract column %s is not in binary format", fd.Name)
		}
	}
	buf := make([]byte, 0, 128<<10)
	buf = append(buf, "PGCOPY\n\377\r\n\000"...)
	buf = binary.BigEndian.AppendUint32(buf, 0) // flags
	buf = binary.BigEndian.AppendUint32(buf, 0) // header extension
	for rows.Next() {
		v := rows.RawValues()
		for i, n := range extractSizes {
			if v[i] == nil || (n > 0 && len(v[i]) != n) {
				return fmt.Errorf("extract: column %s: unexpected value %x", fds[i].Name, v[i])
			}
		}
		storeKey, ok := c.d.stores[string(v[2])]
		if !ok {
			return fmt.Errorf("line %x/%x: store %q is not in dim_store", v[0], v[1], v[2])
		}
		at := int64(binary.BigEndian.Uint64(v[3]))
		productKey, ok := c.d.productKeyAt(string(v[4]), at)
		if !ok {
			return fmt.Errorf("line %x/%x: no version of product %q at %s in dim_product", v[0], v[1], v[4], pgTime(at))
		}
		paymentKey, ok := c.d.payments[string(v[7])]
		if !ok {
			return fmt.Errorf("line %x/%x: payment method %q is not in dim_payment", v[0], v[1], v[7])
		}
		ln := analytics.Line{Qty: int64(binary.BigEndian.Uint64(v[5])), UnitPriceCents: int64(binary.BigEndian.Uint64(v[6])), Voided: v[8][0] != 0}
		buf = binary.BigEndian.AppendUint16(buf, 15)
		buf = appendField(buf, v[0])                                 // sale_id
		buf = appendField(buf, v[1])                                 // line_no
		buf = appendUint32Field(buf, uint32(c.dateKey))              // date_key
		buf = appendUint32Field(buf, uint32(storeKey))               // store_key
		buf = appendUint64Field(buf, uint64(productKey))             // product_key
		buf = binary.BigEndian.AppendUint32(buf, 2)                  // payment_key
		buf = binary.BigEndian.AppendUint16(buf, uint16(paymentKey)) //
		buf = appendField(buf, v[2])                                 // store_id
		buf = appendField(buf, v[4])                                 // sku
		buf = appendField(buf, v[3])                                 // occurred_at
		buf = appendField(buf, v[5])                                 // qty
		buf = appendField(buf, v[6])                                 // unit_price_cents
		buf = appendUint64Field(buf, uint64(ln.GrossCents()))        // gross_cents
		buf = appendUint64Field(buf, uint64(ln.NetCents()))          // net_cents
		buf = appendField(buf, v[8])                                 // voided
		late := byte(0)
		if c.late[string(v[2])] {
			late = 1
		}
		buf = append(binary.BigEndian.AppendUint32(buf, 1), late) // late
		c.counts[storeKey]++
		if len(buf) >= 64<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	buf = binary.BigEndian.AppendUint16(buf, 0xffff) // trailer
	_, err := w.Write(buf)
	return err
}

func appendField(buf, v []byte) []byte {
	return append(binary.BigEndian.AppendUint32(buf, uint32(len(v))), v...)
}

func appendUint32Field(buf []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(buf, 4), v)
}

func appendUint64Field(buf []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(buf, 8), v)
}

// Backfill loads every date from..to (both included) for stores (all when empty), one load per
// date, oldest first, and stops at the first failure.
func (e *ETL) Backfill(ctx context.Context, from, to analytics.Date, stores []string, trig Trigger, each func(LoadResult)) error {
	if to < from {
		return fmt.Errorf("analytics: backfill from %s to %s: the range is empty", from, to)
	}
	for _, d := range analytics.Dates(from, to) {
		r, err := e.Load(ctx, d, stores, trig)
		if err != nil {
			return err
		}
		if each != nil {
			each(r)
		}
	}
	return nil
}

// Nightly is the job of store at its close: it loads the days before the day that just ended
// (in loc, the store's zone, from slot) whose staging changed since they were loaded, or that
// were never loaded, oldest first (TriggerCatchUp), then the day that just ended
// (TriggerSchedule). It returns the loads that succeeded and the failures joined.
func (e *ETL) Nightly(ctx context.Context, store string, loc *time.Location, slot time.Time) ([]LoadResult, error) {
	closed := analytics.ClosedDay(slot, loc)
	rows, err := e.cfg.Pool.Query(ctx, sqlPendingDays, store, closed.Time())
	if err != nil {
		return nil, fmt.Errorf("analytics: pending days of %s: %w", store, err)
	}
	pending, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, fmt.Errorf("analytics: pending days of %s: %w", store, err)
	}
	var out []LoadResult
	var errs []error
	for _, t := range pending {
		if ctx.Err() != nil {
			break
		}
		r, err := e.Load(ctx, analytics.DateFromTime(t), []string{store}, TriggerCatchUp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	r, err := e.Load(ctx, closed, []string{store}, TriggerSchedule)
	if err != nil {
		errs = append(errs, err)
	} else {
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// etlMetrics are the ETL's own.
type etlMetrics struct {
	runs    *prometheus.CounterVec
	rows    *prometheus.CounterVec
	seconds prometheus.Histogram
}

func newETLMetrics(reg prometheus.Registerer) *etlMetrics {
	m := &etlMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "analytics_etl_runs_total",
			Help: "Store-day runs of the ETL by trigger (schedule, catch_up, manual) and outcome (ok, failed).",
		}, []string{"trigger", "outcome"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "analytics_etl_rows_total",
			Help: "Fact rows the ETL wrote, by kind: inserted, late (inserted into a store-day loaded before), updated.",
		}, []string{"kind"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "analytics_etl_load_seconds",
			Help:    "Duration of one ETL load (one date, one or more stores), report included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.rows, m.seconds)
	}
	return m
}

func (m *etlMetrics) observe(r LoadResult, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	m.runs.WithLabelValues(string(r.Trigger), outcome).Add(float64(len(r.Days)))
	m.seconds.Observe(r.Took.Seconds())
	if err == nil {
		t := r.Totals()
		m.rows.WithLabelValues("inserted").Add(float64(t.Inserted))
		m.rows.WithLabelValues("late").Add(float64(t.Late))
		m.rows.WithLabelValues("updated").Add(float64(t.Updated))
	}
}
