package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
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
	// Diff is where the rebuilt view differs from the live one (its Differences).
	kit.Diff
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

// Rebuild replays pos-sales, up to the positions the live consumer has stored, into fresh
// price-accuracy tables in RebuildSchema, checking every sale against the live price book as
// the consumer does, and compares them with a snapshot of the live tables taken with those
// positions. The live service may keep running. s is a service built with RebuildOptions.
//
// What is compared: per store the lines checked and mismatched, and per store and SKU the
// mismatches and the last one's time and prices. The last mismatch's sale id is not: two
// mismatches of one SKU at the same instant are in a batch's order, which a replay's batches
// need not repeat.
func Rebuild(ctx context.Context, s *kit.Service) (RebuildReport, error) {
	var rep RebuildReport
	if s.Pool == nil {
		return rep, errors.New("rebuild: the service needs Postgres (build it with RebuildOptions)")
	}
	a := &App{pool: s.Pool} // count reads the price book through its transaction only
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
	if err := kit.PrepareRebuild(ctx, s.Pool, Schema, RebuildSchema, rebuildTables); err != nil {
		return rep, err
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
		rep.Add(fmt.Sprintf("sales checked: live %d, rebuilt %d", live.sales, rebuilt.sales))
	}
	rep.Compare("", live.rows, rebuilt.rows)
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
