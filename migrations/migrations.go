// Package migrations is FreshMart's one ordered set of Postgres migrations (jackc/tern), embedded
// in the binaries, and the loader of the reference catalog.
//
// Files live in sql/: NNN_name.sql, numbered without gaps, each with an up part and a down part
// separated by tern's "---- create above / drop below ----" line. Every service owns one
// Postgres schema (catalog, pos, inventory, ...). Templates shared between migrations live in
// sql/shared/ (for example "stream_tables", the consumer_offsets and outbox tables every
// exactly-once consumer needs: {{ template "stream_tables" "myschema" }}).
//
// Apply is safe to call from every service at start-up, concurrently: it holds a Postgres
// advisory lock while it migrates and reloads the catalog.
//
// The tests against a real Postgres live in internal/pgtest (which imports this package); the
// tests here check the files themselves.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/freshmart/platform/services/catalog"
)

//go:embed sql
var embedded embed.FS

// FS holds the migration files (the contents of sql/, at its root).
var FS = mustSub(embedded, "sql")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// VersionTable is the table where tern records the applied version.
const VersionTable = "public.freshmart_schema_version"

// lockID is the advisory lock key held while migrating ("FRSHMIGR" in ASCII).
const lockID int64 = 0x465253484d494752

// Apply brings the database up to the newest migration and upserts the reference catalog into
// the catalog schema. Concurrent callers wait for each other on a Postgres advisory lock, so
// services may all call it at start-up.
func Apply(ctx context.Context, conn *pgx.Conn) (err error) {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return fmt.Errorf("migrations: take advisory lock: %w", err)
	}
	defer func() {
		// A cancelled ctx must not leave the lock held on a pooled connection.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockID); uerr != nil {
			err = errors.Join(err, fmt.Errorf("migrations: release advisory lock: %w", uerr))
		}
	}()
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("migrations: new migrator: %w", err)
	}
	if err := m.LoadMigrations(FS); err != nil {
		return fmt.Errorf("migrations: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrations: migrate: %w", err)
	}
	cat, err := catalog.Load()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if err := SeedCatalog(ctx, conn, cat); err != nil {
		return err
	}
	return nil
}

// ApplyDSN is Apply on a connection it opens to dsn (and closes).
func ApplyDSN(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("migrations: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return Apply(ctx, conn)
}

// Version returns the number of the newest migration applied to the database (0 for none).
func Version(ctx context.Context, conn *pgx.Conn) (int32, error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return 0, fmt.Errorf("migrations: new migrator: %w", err)
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: current version: %w", err)
	}
	return v, nil
}

// Latest returns the number of the newest embedded migration.
func Latest() (int, error) {
	paths, err := migrate.FindMigrations(FS)
	if err != nil {
		return 0, fmt.Errorf("migrations: list: %w", err)
	}
	return len(paths), nil
}

// SeedCatalog upserts every department, vendor, store and product of cat into the catalog
// schema in one transaction. Rows no longer in the catalog are kept (old events refer to them).
func SeedCatalog(ctx context.Context, conn *pgx.Conn, cat *catalog.Catalog) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrations: seed catalog: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	b := &pgx.Batch{}
	for i, d := range cat.Departments() {
		b.Queue(`INSERT INTO catalog.departments (id, name, position) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, position = EXCLUDED.position`, d.ID, d.Name, i)
	}
	for _, v := range cat.Vendors() {
		b.Queue(`INSERT INTO catalog.vendors (vendor_id, name, email, lead_days) VALUES ($1, $2, $3, $4)
			ON CONFLICT (vendor_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,
				lead_days = EXCLUDED.lead_days`, v.VendorID, v.Name, v.Email, v.LeadDays)
	}
	for _, s := range cat.Stores() {
		b.Queue(`INSERT INTO catalog.stores (store_id, name, city, state, timezone, address, postal_code)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (store_id) DO UPDATE SET name = EXCLUDED.name, city = EXCLUDED.city,
				state = EXCLUDED.state, timezone = EXCLUDED.timezone, address = EXCLUDED.address,
				postal_code = EXCLUDED.postal_code`,
			s.StoreID, s.Name, s.City, s.State, s.Timezone, s.Address, s.PostalCode)
	}
	for _, p := range cat.Products() {
		b.Queue(`INSERT INTO catalog.products (sku, name, department, unit, price_cents, low_stock_threshold,
				reorder_qty, vendor_id, initial_stock, pack_size, net_qty, net_unit)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, department = EXCLUDED.department,
				unit = EXCLUDED.unit, price_cents = EXCLUDED.price_cents,
				low_stock_threshold = EXCLUDED.low_stock_threshold, reorder_qty = EXCLUDED.reorder_qty,
				vendor_id = EXCLUDED.vendor_id, initial_stock = EXCLUDED.initial_stock,
				pack_size = EXCLUDED.pack_size, net_qty = EXCLUDED.net_qty, net_unit = EXCLUDED.net_unit`,
			p.SKU, p.Name, p.Department, p.Unit, p.PriceCents, p.LowStockThreshold, p.ReorderQty, p.VendorID,
			p.InitialStock, p.PackSize, p.NetQty, p.NetUnit)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("migrations: seed catalog: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrations: seed catalog: commit: %w", err)
	}
	return nil
}
