package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// RebuildOptions is what `pricing rebuild` asks of the kit: Postgres only.
var RebuildOptions = kit.Options{Name: "pricing", Database: true}

// RebuildSchema is the schema the rebuild replays into (dropped and recreated each time).
const RebuildSchema = "pricing_rebuild"

// rebuildTables are the price-accuracy tables, the view derived from pos-sales. The price
// book (prices, changes, promotions) is the system of record, written by the API and the due
// job, not by a topic: the rebuild reads it from the live schema.
var rebuildTables = []string{"sales_checked", "accuracy_stores", "accuracy_skus"}

// RebuildReport is what Rebuild found.
type RebuildReport struct {
	// Records is how many pos-sales records were replayed.
	Records int
	// LiveSales and RebuiltSales are the sales checked in each view.
	LiveSales, RebuiltSales int64
	// Diffs are the first differences found, of Total.
	Diffs []string
	Total int
}

// Summary says what the rebuild replayed and counted (kit.Rebuilt).
func (r RebuildReport) Summary() string {
	return fmt.Sprintf("replayed %d pos-sales records into schema %s: %d sales checked live, %d rebuilt",
		r.Records, RebuildSchema, r.LiveSales, r.RebuiltSales)
}

// Compared names what the rebuild compared (kit.Rebuilt).
func (r RebuildReport) Compared() string {
	return "the price accuracy per store and per store and SKU, the last mismatch's prices and time included"
}

// Differences lists where the views differ and how many places do (kit.Rebuilt).
func (r RebuildReport) Differences() ([]string, int) { return r.Diffs, r.Total }

// Rebuild replays pos-sales, up to the positions the live consumer has stored, into fresh
// price-accuracy tables in RebuildSchema, checking every sale against the live price book as
// the consumer does, and compares them with a snapshot of the live tables taken with those
// positions. The live service may keep running. s is a service built with RebuildOptions; cat
// nil is the catalog the service runs on (catalog.Load).
//
// What is compared: per store the lines checked and mismatched, and per store and SKU the
// mismatches and the last one's time and prices. The last mismatch's sale id is not: two
// mismatches of one SKU at the same instant are in a batch's order, which a replay's batches
// need not repeat.
func Rebuild(ctx context.Context, s *kit.Service, cat *catalog.Catalog) (RebuildReport, error) {
	var rep RebuildReport
	if s.Pool == nil {
		return rep, errors.New("rebuild: the service needs Postgres (build it with RebuildOptions)")
	}
	if cat == nil {
		var err error
		if cat, err = catalog.Load(); err != nil {
			return rep, fmt.Errorf("rebuild: catalog: %w", err)
		}
	}
	a := &App{log: s.Log, pool: s.Pool, cat: cat}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	var target map[string]map[int32]int64
	var live accuracyView
	err := pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if target, err = stream.StoredPositions(ctx, tx, Schema, Group); err != nil {
			return err
		}
		live, err = readAccuracy(ctx, tx, Schema)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("rebuild: snapshot live view: %w", err)
	}
	sch := pgx.Identifier{RebuildSchema}.Sanitize()
	ddl := []string{`DROP SCHEMA IF EXISTS ` + sch + ` CASCADE`, `CREATE SCHEMA ` + sch}
	for _, t := range rebuildTables {
		ddl = append(ddl, fmt.Sprintf(`CREATE TABLE %s.%s (LIKE pricing.%s INCLUDING ALL)`, sch, t, t))
	}
	for _, q := range ddl {
		if _, err := s.Pool.Exec(ctx, q); err != nil {
			return rep, fmt.Errorf("rebuild: prepare schema: %w", err)
		}
	}
	opts := append(s.KafkaOpts("rebuild"), kgo.SeedBrokers(s.Brokers...))
	rep.Records, err = stream.Replay(ctx, opts, map[string]map[int32]int64{schemas.TopicPOSSales: target[schemas.TopicPOSSales]}, 2000,
		func(batch []*kgo.Record) error {
			var sales []schemas.SaleCompleted
			var ids []string
			for _, r := range batch {
				ev, err := events.Parse(r)
				if err != nil || ev.Type != schemas.TypeSaleCompleted {
					continue // the consumer skips these too
				}
				sale, err := events.Decode[schemas.SaleCompleted](ev)
				if err != nil {
					continue
				}
				sales, ids = append(sales, sale), append(ids, sale.SaleID)
			}
			return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return a.count(ctx, tx, RebuildSchema, sales, ids) })
		})
	if err != nil {
		return rep, fmt.Errorf("rebuild: replay pos-sales: %w", err)
	}
	rebuilt, err := readAccuracy(ctx, s.Pool, RebuildSchema)
	if err != nil {
		return rep, err
	}
	rep.LiveSales, rep.RebuiltSales = live.sales, rebuilt.sales
	if live.sales != rebuilt.sales {
		rep.Diffs, rep.Total = append(rep.Diffs, fmt.Sprintf("sales checked: live %d, rebuilt %d", live.sales, rebuilt.sales)), 1
	}
	shown, total := diffRows(live.rows, rebuilt.rows)
	rep.Diffs, rep.Total = append(rep.Diffs, shown...), rep.Total+total
	return rep, nil
}

// accuracyView is a schema's price-accuracy tables: the sales checked, and a line per store
// and per store and SKU.
type accuracyView struct {
	sales int64
	rows  map[string]string
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readAccuracy(ctx context.Context, q querier, schema string) (accuracyView, error) {
	sch := pgx.Identifier{schema}.Sanitize()
	v := accuracyView{rows: map[string]string{}}
	if err := q.QueryRow(ctx, `SELECT count(*) FROM `+sch+`.sales_checked`).Scan(&v.sales); err != nil {
		return v, fmt.Errorf("read %s.sales_checked: %w", schema, err)
	}
	rows, err := q.Query(ctx, `SELECT 'store ' || store_id, format('%s lines checked, %s mismatched', lines_checked, mismatched_lines)
		FROM `+sch+`.accuracy_stores
		UNION ALL
		SELECT format('store %s sku %s', store_id, sku), format('%s mismatches, the last at %s: %s expected, %s charged',
			mismatches, to_char(last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), last_expected_cents, last_charged_cents)
		FROM `+sch+`.accuracy_skus`)
	if err != nil {
		return v, fmt.Errorf("read %s accuracy: %w", schema, err)
	}
	for rows.Next() {
		var k, line string
		if err := rows.Scan(&k, &line); err != nil {
			rows.Close()
			return v, fmt.Errorf("read %s accuracy: %w", schema, err)
		}
		v.rows[k] = line
	}
	rows.Close()
	return v, rows.Err()
}

// diffRows lists what differs between the two views' rows (at most 50 lines) and how many rows
// differ; a store with no row and a store with nothing checked are the same.
func diffRows(live, rebuilt map[string]string) (out []string, total int) {
	keys := map[string]bool{}
	for k := range live {
		keys[k] = true
	}
	for k := range rebuilt {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		l, r := live[k], rebuilt[k]
		if l == r || (isEmptyStore(l) && isEmptyStore(r)) {
			continue
		}
		total++
		if len(out) < 50 {
			out = append(out, fmt.Sprintf("%s: live %q, rebuilt %q", k, l, r))
		}
	}
	return out, total
}

// isEmptyStore reports whether a store's line says nothing was checked (or there is none).
func isEmptyStore(line string) bool { return line == "" || line == "0 lines checked, 0 mismatched" }
