package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RebuildSchema is the scratch schema the rebuild command folds into.
const RebuildSchema = "inventory_rebuild"

// tables are the inventory tables, copied into the rebuild schema.
var tables = []string{"stock", "movements", "sale_lines", "processed", "alerts", "consumer_offsets", "outbox"}

// RebuildReport is the result of a rebuild.
type RebuildReport struct {
	// Records is how many records were replayed.
	Records int
	// LiveRows and RebuiltRows count the stock rows of each view.
	LiveRows, RebuiltRows int
	// Diff lists the store/SKUs whose on-hand (or last count time) differ (its Differences).
	kit.Diff
}

// Equal reports whether the rebuilt view equals the live one.
func (r RebuildReport) Equal() bool { return r.Total == 0 }

// Summary says what the rebuild replayed and counted (kit.Rebuilt).
func (r RebuildReport) Summary() string {
	return fmt.Sprintf("replayed %d records into schema %s: %d live stock rows, %d rebuilt",
		r.Records, RebuildSchema, r.LiveRows, r.RebuiltRows)
}

// Compared names what the rebuild compared (kit.Rebuilt).
func (r RebuildReport) Compared() string { return "every store/SKU's on-hand and last count" }

type stockRow struct {
	onHand    int64
	countedAt *time.Time
}

// Rebuild replays pos-sales, vendor-deliveries and inventory-updates from the start into fresh
// tables in the schema RebuildSchema (dropped and recreated), stopping each partition exactly at
// the position the live view has consumed, and compares the result with a snapshot of the live
// stock taken together with those positions. The live service may keep running meanwhile.
//
// s is a service built with RebuildOptions (Postgres, no producer, no HTTP).
func Rebuild(ctx context.Context, svc *kit.Service, progress io.Writer) (RebuildReport, error) {
	var rep RebuildReport
	if svc.Pool == nil {
		return rep, errors.New("rebuild: the service needs Postgres (build it with RebuildOptions)")
	}
	ref, err := LoadReference()
	if err != nil {
		return rep, err
	}
	pool := svc.Pool

	// One snapshot of the live positions and the stock they produced.
	var target map[string]map[int32]int64
	var live map[string]stockRow
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if target, err = stream.StoredPositions(ctx, tx, "inventory", Group); err != nil {
			return err
		}
		live, err = readStock(ctx, tx, "inventory")
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("rebuild: snapshot live view: %w", err)
	}

	if err := kit.PrepareRebuild(ctx, pool, "inventory", RebuildSchema, tables); err != nil {
		return rep, err
	}

	folder := NewFolder(ref, RebuildSchema)
	replayed := 0
	rep.Records, err = stream.Replay(ctx, append(svc.KafkaOpts("rebuild"), kgo.SeedBrokers(svc.Brokers...)), target, 5000,
		func(batch []*kgo.Record) error {
			if err := applyRecords(ctx, pool, folder, batch, svc.Log); err != nil {
				return err
			}
			replayed += len(batch)
			if progress != nil {
				fmt.Fprintf(progress, "replayed %d records\n", replayed)
			}
			return nil
		})
	if err != nil {
		return rep, fmt.Errorf("rebuild: %w", err)
	}

	rebuilt, err := readStock(ctx, pool, RebuildSchema)
	if err != nil {
		return rep, err
	}
	rep.LiveRows, rep.RebuiltRows = len(live), len(rebuilt)
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
		l, lok := live[k]
		r, rok := rebuilt[k]
		if lok && rok && l.onHand == r.onHand && timeEq(l.countedAt, r.countedAt) {
			continue
		}
		rep.Add(fmt.Sprintf("%s: live %s, rebuilt %s", k, describe(l, lok), describe(r, rok)))
	}
	return rep, nil
}

func timeEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func describe(r stockRow, ok bool) string {
	if !ok {
		return "absent"
	}
	if r.countedAt == nil {
		return fmt.Sprintf("on_hand %d", r.onHand)
	}
	return fmt.Sprintf("on_hand %d counted %s", r.onHand, r.countedAt.UTC().Format(time.RFC3339Nano))
}

func readStock(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, schema string) (map[string]stockRow, error) {
	rows, err := q.Query(ctx, `SELECT store_id, sku, on_hand, counted_at FROM `+pgx.Identifier{schema}.Sanitize()+`.stock`)
	if err != nil {
		return nil, fmt.Errorf("read %s.stock: %w", schema, err)
	}
	defer rows.Close()
	out := map[string]stockRow{}
	for rows.Next() {
		var store, sku string
		var r stockRow
		if err := rows.Scan(&store, &sku, &r.onHand, &r.countedAt); err != nil {
			return nil, fmt.Errorf("read %s.stock: %w", schema, err)
		}
		out[store+"/"+sku] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.stock: %w", schema, err)
	}
	return out, nil
}

// ErrRebuildDiffers is returned by the rebuild command when the views differ.
var ErrRebuildDiffers = errors.New("rebuilt view differs from the live view")
