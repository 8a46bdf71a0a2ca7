package pgtest

// The migrations module cannot import this internal package, so the tests of migrations.Apply
// against a real Postgres live here.

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/migrations"
	"github.com/freshmart/platform/services/catalog"
)

func TestApplyConcurrentAndIdempotent(t *testing.T) {
	ctx := context.Background()
	dsn := New(t)
	// Services start together and all apply migrations: the advisory lock serialises them.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = migrations.ApplyDSN(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Apply #%d: %v", i, err)
		}
	}
	if err := migrations.ApplyDSN(ctx, dsn); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	v, err := migrations.Version(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if int(v) != latest || latest < 3 {
		t.Fatalf("version %d, latest %d", v, latest)
	}

	cat := catalog.MustLoad()
	counts := []struct {
		table string
		want  int
	}{
		{"catalog.departments", len(cat.Departments())},
		{"catalog.vendors", len(cat.Vendors())},
		{"catalog.stores", len(cat.Stores())},
		{"catalog.products", len(cat.Products())},
	}
	for _, c := range counts {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+c.table).Scan(&n); err != nil {
			t.Fatalf("%s: %v", c.table, err)
		}
		if n != c.want {
			t.Errorf("%s has %d rows, want %d", c.table, n, c.want)
		}
	}
	p := cat.Products()[7]
	var price int64
	var threshold int
	if err := conn.QueryRow(ctx, "SELECT price_cents, low_stock_threshold FROM catalog.products WHERE sku = $1", p.SKU).Scan(&price, &threshold); err != nil {
		t.Fatal(err)
	}
	if price != p.PriceCents || threshold != p.LowStockThreshold {
		t.Errorf("%s stored as %d/%d, want %d/%d", p.SKU, price, threshold, p.PriceCents, p.LowStockThreshold)
	}
	// The tables every service relies on exist with the columns the libraries use.
	for _, q := range []string{
		"SELECT group_id, topic, partition, next_offset FROM inventory.consumer_offsets",
		"SELECT id, topic, key, headers, value, created_at, sent_at FROM inventory.outbox",
		"SELECT store_id, sku, on_hand, threshold, low, counted_at, updated_at FROM inventory.stock",
		`SELECT kind, id, store_id, total_cents, partition, "offset", accepted_at FROM pos.accepted`,
	} {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		rows.Close()
	}
}

func TestSeedCatalogUpdates(t *testing.T) {
	ctx := context.Background()
	dsn := NewMigrated(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE catalog.products SET price_cents = 1 WHERE sku = 'PRD-0001'"); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	want, _ := catalog.MustLoad().Product("PRD-0001")
	var price int64
	if err := conn.QueryRow(ctx, "SELECT price_cents FROM catalog.products WHERE sku = 'PRD-0001'").Scan(&price); err != nil {
		t.Fatal(err)
	}
	if price != want.PriceCents {
		t.Fatalf("price %d after re-apply, want catalog's %d", price, want.PriceCents)
	}
}
