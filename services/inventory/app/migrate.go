package app

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed schema.sql
var schemaSQL string

// Migrate creates the inventory tables if they do not exist, under an advisory lock so that
// instances starting together do not race.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("inventory: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(4242001)`); err != nil {
		return fmt.Errorf("inventory: migrate: lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(4242001)`)
	if _, err := conn.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("inventory: migrate: %w", err)
	}
	return nil
}
