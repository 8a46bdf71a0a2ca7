// Package pgtest gives tests a throwaway Postgres: one cluster per test binary (package
// pgcluster: initdb and pg_ctl into a temporary directory, a free TCP port on 127.0.0.1, fsync
// off, removed when the test binary ends) and a fresh database per test.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.New(t) // empty database, dropped when the test ends
//		...
//	}
//
// Programs that need a throwaway cluster outside tests use package pgcluster directly.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/internal/pgcluster"
	"github.com/freshmart/platform/migrations"
)

var (
	mu      sync.Mutex
	current *pgcluster.Cluster
)

// Start starts the cluster of this test binary, runs the tests and stops the cluster. It
// returns the exit code for os.Exit. When Postgres cannot be started it prints why (for
// example which package to install) and returns 1: tests that need Postgres fail rather than
// skip.
func Start(m *testing.M) int {
	c, err := pgcluster.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	mu.Lock()
	current = c
	mu.Unlock()
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	return code
}

// New creates an empty database in the cluster started by Start and returns its connection
// string (a postgres:// URL). The database is dropped when the test ends.
func New(t testing.TB) string {
	t.Helper()
	mu.Lock()
	c := current
	mu.Unlock()
	if c == nil {
		t.Fatal("pgtest: no cluster: call os.Exit(pgtest.Start(m)) from TestMain")
	}
	dsn, err := c.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DropDatabase(ctx, dsn); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return dsn
}

// NewMigrated is New followed by migrations.Apply: a database with every FreshMart schema and
// the catalog loaded.
func NewMigrated(t testing.TB) string {
	t.Helper()
	dsn := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := migrations.ApplyDSN(ctx, dsn); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// Pool opens a pgx pool on dsn, closed when the test ends.
func Pool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
