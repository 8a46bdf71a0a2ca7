package kit_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// TestOpenDBReturnsAMigrationError pre-creates a table that the first migration creates, so
// that migration fails: OpenDB must return its error (before the context's deadline) rather
// than hang closing a pool whose migration connection it still holds.
func TestOpenDBReturnsAMigrationError(t *testing.T) {
	dsn := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pre := pgtest.Pool(t, dsn)
	if _, err := pre.Exec(ctx, `CREATE SCHEMA catalog; CREATE TABLE catalog.departments (x int)`); err != nil {
		t.Fatal(err)
	}
	pre.Close()

	type result struct{ err error }
	done := make(chan result, 1)
	go func() {
		pool, err := kit.OpenDB(ctx, dsn)
		if pool != nil {
			pool.Close()
		}
		done <- result{err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			t.Fatal("OpenDB succeeded on a database whose first migration conflicts")
		}
		if ctx.Err() != nil {
			t.Fatalf("OpenDB returned only after the context ended: %v", r.err)
		}
		t.Logf("OpenDB: %v", r.err)
	case <-ctx.Done():
		t.Fatal("OpenDB hangs after a failing migration")
	}
}

// TestOpenDBMigrates checks the happy path on the same cluster: a pool on a migrated database.
func TestOpenDBMigrates(t *testing.T) {
	dsn := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := kit.OpenDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM catalog.departments`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("catalog.departments is empty after OpenDB")
	}
}
