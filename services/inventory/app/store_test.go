package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// TestFolderApply folds records into a real Postgres: duplicates by business id are dropped,
// a count adds the movements stamped after it, bad events are rejected without a trace, and
// the outbox receives level, alert and badge events with ids derived from the input position.
func TestFolderApply(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	ref, err := LoadReference()
	if err != nil {
		t.Fatal(err)
	}
	p := ref.Products()[0]
	f := NewFolder(ref, "inventory")
	sale := func(id, at string, qty int64) []byte {
		return fmt.Appendf(nil, `{"sale_id":%q,"store_id":"S001","occurred_at":%q,"lines":[{"sku":%q,"qty":%d,"unit_price_cents":1}]}`, id, at, p.SKU, qty)
	}
	count := fmt.Appendf(nil, `{"count_id":"c1","store_id":"S001","counted_at":"2026-11-22T10:00:00Z","lines":[{"sku":%q,"qty":%d}]}`, p.SKU, p.Threshold-1)
	steps := []struct {
		name string
		rec  Record
		want Outcome
		bad  bool
	}{
		{"sale", Record{Topic: TopicSales, Offset: 0, Type: "sale.completed", Value: sale("s1", "2026-11-22T11:00:00Z", 2)}, Applied, false},
		{"same sale again", Record{Topic: TopicSales, Offset: 1, Type: "sale.completed", Value: sale("s1", "2026-11-22T11:00:00Z", 2)}, Duplicate, false},
		{"sale before the count", Record{Topic: TopicSales, Offset: 2, Type: "sale.completed", Value: sale("s2", "2026-11-22T09:00:00Z", 5)}, Applied, false},
		{"count", Record{Topic: TopicUpdates, Offset: 0, Type: "stock.counted", Value: count}, Applied, false},
		{"own stock.level", Record{Topic: TopicUpdates, Offset: 1, Type: "stock.level", Value: []byte(`{}`)}, Ignored, false},
		{"not JSON", Record{Topic: TopicSales, Offset: 3, Type: "sale.completed", Value: []byte(`{`)}, Rejected, true},
		{"unknown store", Record{Topic: TopicSales, Offset: 4, Type: "sale.completed", Value: []byte(`{"sale_id":"x","store_id":"S999","occurred_at":"2026-11-22T11:00:00Z"}`)}, Rejected, true},
		{"zero quantity", Record{Topic: TopicSales, Offset: 5, Type: "sale.completed", Value: sale("s3", "2026-11-22T11:00:00Z", 0)}, Rejected, true},
	}
	for _, s := range steps {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			out, err := f.Apply(ctx, tx, s.rec)
			if out != s.want {
				return fmt.Errorf("outcome %d, want %d (err %v)", out, s.want, err)
			}
			if s.bad != errors.Is(err, ErrBadEvent) {
				return fmt.Errorf("err %v, want bad event %v", err, s.bad)
			}
			if s.bad {
				return nil
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	// The count (threshold-1) plus the sale after it (-2); the sale before it is in the count.
	var onHand int64
	var low bool
	if err := pool.QueryRow(ctx, `SELECT on_hand, low FROM inventory.stock WHERE store_id = 'S001' AND sku = $1`, p.SKU).Scan(&onHand, &low); err != nil {
		t.Fatal(err)
	}
	if want := p.Threshold - 1 - 2; onHand != want || !low {
		t.Fatalf("on_hand %d low %v, want %d true", onHand, low, want)
	}
	var alerts, levels, badges int
	if err := pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE headers->>'ce_type' = 'alert.low_stock'),
		count(*) FILTER (WHERE headers->>'ce_type' = 'stock.level'),
		count(*) FILTER (WHERE headers->>'ce_type' = 'stock.badge') FROM inventory.outbox`).Scan(&alerts, &levels, &badges); err != nil {
		t.Fatal(err)
	}
	if alerts != 1 || levels != 3 || badges != 1 {
		t.Fatalf("outbox: %d low-stock alerts, %d levels, %d badges; want 1, 3, 1", alerts, levels, badges)
	}
}
