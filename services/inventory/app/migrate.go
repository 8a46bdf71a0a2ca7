package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/migrations"
)

// Migrate applies the platform migrations (which include the inventory schema) on a connection
// from pool; concurrent callers wait on the migrations' advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("inventory: migrate: %w", err)
	}
	defer conn.Release()
	if err := migrations.Apply(ctx, conn.Conn()); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	return nil
}
