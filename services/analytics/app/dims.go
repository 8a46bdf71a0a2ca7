package app

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/analytics"
)

// dims is a snapshot of the dimensions, for resolving the keys of a day's lines in memory.
type dims struct {
	stores      map[string]int32 // store_id -> store_key
	storeIDs    []string         // every store, sorted
	products    map[string][]productVersion
	payments    map[string]int16
	departments []string // shelf order
}

// productVersion is one version of a product: valid over [from, to), in microseconds since
// 2000-01-01 UTC (Postgres's timestamptz), infinite bounds as the extreme values.
type productVersion struct {
	key      int64
	from, to int64
}

// productKeyAt returns the key of the version of sku valid at at (microseconds since
// 2000-01-01 UTC).
func (d *dims) productKeyAt(sku string, at int64) (int64, bool) {
	for _, v := range d.products[sku] {
		if v.from <= at && at < v.to {
			return v.key, true
		}
	}
	return 0, false
}

// pgEpoch is the zero of Postgres's timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// pgMicros returns t as Postgres stores a timestamptz; nil is the given infinity.
func pgMicros(t *time.Time, inf int64) int64 {
	if t == nil {
		return inf
	}
	return t.Sub(pgEpoch).Microseconds()
}

// pgTime returns the time of a Postgres timestamptz value.
func pgTime(us int64) time.Time { return pgEpoch.Add(time.Duration(us) * time.Microsecond) }

// syncDims brings the dimensions up to date with the catalog schema (stores type 1; products
// type 2 on price, department and vendor, from now; names type 1), the calendar around date
// and the fact table's partitions of date and the day after, in one transaction under a lock
// (concurrent loads would otherwise both open a version or create a partition), and returns a
// snapshot of the dimensions.
func (e *ETL) syncDims(ctx context.Context, date analytics.Date, now time.Time) (*dims, error) {
	var d *dims
	err := pgx.BeginFunc(ctx, e.cfg.Pool, func(tx pgx.Tx) error {
		// One round trip for the lot; the day's partition and the next day's (so that the
		// next night finds it there) are checked with it.
		days := []analytics.Date{date, date.AddDays(1)}
		b := &pgx.Batch{}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{sqlLockDims, nil},
			{sqlSyncStores, nil},
			{sqlProductNames, nil},
			{sqlDepartmentNames, nil},
			{sqlVendorNames, nil},
			{sqlCloseProducts, []any{now}},
			{sqlOpenProducts, nil},
			{sqlFillDates, []any{date.AddDays(-7).Time(), date.AddDays(1).Time()}},
		} {
			b.Queue(q.sql, q.args...)
		}
		missing := make([]bool, len(days))
		for i, day := range days {
			b.Queue(sqlPartitionExists, partitionIdent(day)).QueryRow(func(row pgx.Row) error {
				var exists bool
				err := row.Scan(&exists)
				missing[i] = !exists
				return err
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		for i, day := range days {
			if missing[i] {
				if err := createPartition(ctx, tx, day); err != nil {
					return err
				}
			}
		}
		var err error
		d, err = readDimsIn(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync dimensions: %w", err)
	}
	return d, nil
}

// PartitionName is the name of the fact table's partition of day.
func PartitionName(day analytics.Date) string { return fmt.Sprintf("dw_sales_fact_p%d", day.Key()) }

func partitionIdent(day analytics.Date) string {
	return pgx.Identifier{Schema, PartitionName(day)}.Sanitize()
}

// createPartition creates and attaches the fact table's partition of day.
func createPartition(ctx context.Context, tx pgx.Tx, day analytics.Date) error {
	name := partitionIdent(day)
	if _, err := tx.Exec(ctx, fmt.Sprintf(sqlCreatePartition, name)); err != nil {
		return fmt.Errorf("create partition %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(sqlAttachPartition, name, day.Key(), day.AddDays(1).Key())); err != nil {
		return fmt.Errorf("attach partition %s: %w", name, err)
	}
	return nil
}

// readDims returns a snapshot of the dimensions as they are.
func (e *ETL) readDims(ctx context.Context) (*dims, error) {
	var d *dims
	err := pgx.BeginTxFunc(ctx, e.cfg.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		d, err = readDimsIn(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read dimensions: %w", err)
	}
	return d, nil
}

func readDimsIn(ctx context.Context, tx pgx.Tx) (*dims, error) {
	d := &dims{stores: map[string]int32{}, products: map[string][]productVersion{}, payments: map[string]int16{}}
	b := &pgx.Batch{}
	b.Queue(sqlReadStores).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var key int32
			if err := rows.Scan(&id, &key); err != nil {
				return err
			}
			d.stores[id] = key
			d.storeIDs = append(d.storeIDs, id)
		}
		return rows.Err()
	})
	b.Queue(sqlReadProducts).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var sku string
			var key int64
			var from, to *time.Time
			if err := rows.Scan(&sku, &key, &from, &to); err != nil {
				return err
			}
			d.products[sku] = append(d.products[sku], productVersion{key: key, from: pgMicros(from, math.MinInt64), to: pgMicros(to, math.MaxInt64)})
		}
		return rows.Err()
	})
	b.Queue(sqlReadPayments).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var m string
			var k int16
			if err := rows.Scan(&m, &k); err != nil {
				return err
			}
			d.payments[m] = k
		}
		return rows.Err()
	})
	b.Queue(sqlReadDepartments).Query(func(rows pgx.Rows) error {
		var err error
		d.departments, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return d, nil
}
