package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics"
)

// Schema is the Postgres schema of the analytics service (its outbox included).
const Schema = "analytics"

// emitReport computes the next version of date's report over the stores loaded so far (this
// transaction's included), stores it in daily_reports and appends it to the outbox for
// daily-sales-report, keyed by the date. Versions of a date are numbered under a lock of the
// date, so concurrent loads of two stores of the same date give two versions, the later one
// with both.
func (e *ETL) emitReport(ctx context.Context, tx pgx.Tx, d *dims, date analytics.Date, now time.Time) (schemas.DailySalesReport, error) {
	if _, err := tx.Exec(ctx, sqlLockReport, date.String()); err != nil {
		return schemas.DailySalesReport{}, fmt.Errorf("report: lock: %w", err)
	}
	var version int64
	if err := tx.QueryRow(ctx, sqlNextVersion, date.Time()).Scan(&version); err != nil {
		return schemas.DailySalesReport{}, fmt.Errorf("report: version: %w", err)
	}
	r, err := e.buildReport(ctx, tx, d, date, uuid.NewString(), version, now)
	if err != nil {
		return r, err
	}
	value, err := json.Marshal(r)
	if err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	env := events.Envelope{ID: r.ReportID, Type: schemas.TypeReportDailySales, Source: e.cfg.Source, Time: r.GeneratedAt}
	if err := events.Check(env, value); err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	headers := map[string]string{}
	for _, h := range env.Headers() {
		headers[h.Key] = string(h.Value)
	}
	hj, err := json.Marshal(headers)
	if err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	if _, err := tx.Exec(ctx, sqlInsertReport, r.ReportID, date.Time(), r.Version, r.Complete, r.GeneratedAt, value); err != nil {
		return r, fmt.Errorf("report: store: %w", err)
	}
	if _, err := tx.Exec(ctx, sqlInsertOutbox, schemas.TopicDailySalesReport, []byte(r.ReportDate), hj, value); err != nil {
		return r, fmt.Errorf("report: outbox: %w", err)
	}
	if _, err := tx.Exec(ctx, sqlNotify, stream.NotifyChannel(Schema)); err != nil {
		return r, fmt.Errorf("report: notify: %w", err)
	}
	return r, nil
}

// ReportQuery computes the report date would get now (the next version, not stored), in a
// read-only transaction: the report queries alone, for measuring them.
func (e *ETL) ReportQuery(ctx context.Context, date analytics.Date) (schemas.DailySalesReport, error) {
	var r schemas.DailySalesReport
	d, err := e.readDims(ctx)
	if err != nil {
		return r, err
	}
	err = pgx.BeginTxFunc(ctx, e.cfg.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var version int64
		if err := tx.QueryRow(ctx, sqlNextVersion, date.Time()).Scan(&version); err != nil {
			return err
		}
		r, err = e.buildReport(ctx, tx, d, date, uuid.NewString(), version, e.cfg.Clock.Now())
		return err
	})
	return r, err
}

// buildReport reads what the report of date is made of and assembles it (analytics.BuildReport).
func (e *ETL) buildReport(ctx context.Context, tx pgx.Tx, d *dims, date analytics.Date, id string, version int64, now time.Time) (schemas.DailySalesReport, error) {
	dayBefore, weekBefore := date.AddDays(-1), date.AddDays(-7)
	in := analytics.ReportInput{
		ID: id, Date: date, Version: version, GeneratedAt: now, Departments: d.departments,
		Day:       map[string]analytics.StoreFigures{},
		PriorDay:  analytics.Nets{Date: dayBefore, Stores: map[string]map[string]int64{}},
		PriorWeek: analytics.Nets{Date: weekBefore, Stores: map[string]map[string]int64{}},
	}
	fail := func(what string, err error) (schemas.DailySalesReport, error) {
		return schemas.DailySalesReport{}, fmt.Errorf("report %s: %s: %w", date, what, err)
	}
	rows, err := tx.Query(ctx, sqlLoadedStores, []time.Time{date.Time(), dayBefore.Time(), weekBefore.Time()})
	if err != nil {
		return fail("loaded stores", err)
	}
	for rows.Next() {
		var day time.Time
		var store string
		if err := rows.Scan(&day, &store); err != nil {
			rows.Close()
			return fail("loaded stores", err)
		}
		switch analytics.DateFromTime(day) {
		case date:
			in.Day[store] = analytics.StoreFigures{Departments: map[string]schemas.SalesFigures{}}
		case dayBefore:
			in.PriorDay.Stores[store] = map[string]int64{}
		case weekBefore:
			in.PriorWeek.Stores[store] = map[string]int64{}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("loaded stores", err)
	}
	in.Complete = len(d.storeIDs) > 0
	for _, s := range d.storeIDs {
		if _, ok := in.Day[s]; !ok {
			in.Complete = false
		}
	}

	rows, err = tx.Query(ctx, sqlDayFigures, date.Key())
	if err != nil {
		return fail("figures", err)
	}
	for rows.Next() {
		var store, dept string
		var storeTotal bool
		var f schemas.SalesFigures
		if err := rows.Scan(&store, &dept, &storeTotal, &f.SalesCount, &f.VoidedCount, &f.ItemsSold, &f.GrossCents, &f.VoidedCents, &f.NetCents); err != nil {
			rows.Close()
			return fail("figures", err)
		}
		sf, ok := in.Day[store]
		if !ok {
			continue // facts of a store-day are only there once it is loaded; never mind if not
		}
		if storeTotal {
			sf.Total = f
		} else {
			sf.Departments[dept] = f
		}
		in.Day[store] = sf
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("figures", err)
	}

	rows, err = tx.Query(ctx, sqlPriorNets, dayBefore.Key(), weekBefore.Key())
	if err != nil {
		return fail("earlier days", err)
	}
	for rows.Next() {
		var key int32
		var store, dept string
		var net int64
		if err := rows.Scan(&key, &store, &dept, &net); err != nil {
			rows.Close()
			return fail("earlier days", err)
		}
		n := &in.PriorWeek
		if int(key) == dayBefore.Key() {
			n = &in.PriorDay
		}
		if m, ok := n.Stores[store]; ok {
			m[dept] = net
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("earlier days", err)
	}

	rows, err = tx.Query(ctx, sqlTopProducts, date.Key(), e.cfg.TopN)
	if err != nil {
		return fail("top products", err)
	}
	for rows.Next() {
		var p schemas.TopProduct
		if err := rows.Scan(&p.SKU, &p.Qty, &p.RevenueCents); err != nil {
			rows.Close()
			return fail("top products", err)
		}
		in.Top = append(in.Top, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("top products", err)
	}
	return analytics.BuildReport(in), nil
}
