package run

import (
	"context"
	"fmt"

	"github.com/freshmart/platform/migrations"
)

// ApplyMigrations applies the platform's migrations (package migrations: every service's
// schema and the reference catalog) to the database at databaseURL. It takes the same advisory
// lock as the services do when they migrate at start, so running both is safe.
func ApplyMigrations(ctx context.Context, databaseURL string) error {
	if err := migrations.ApplyDSN(ctx, databaseURL); err != nil {
		return fmt.Errorf("apply to %s: %w", redactURL(databaseURL), err)
	}
	return nil
}
