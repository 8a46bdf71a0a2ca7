package migrations

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/jackc/tern/v2/migrate"
)

func TestFilesAreWellFormed(t *testing.T) {
	paths, err := migrate.FindMigrations(FS)
	if err != nil {
		t.Fatalf("migrations are not numbered 1..n without gaps: %v", err)
	}
	if len(paths) < 3 {
		t.Fatalf("%d migrations, want at least catalog, pos and inventory", len(paths))
	}
	for _, p := range paths {
		raw, err := fs.ReadFile(FS, p)
		if err != nil {
			t.Fatal(err)
		}
		up, down, ok := strings.Cut(string(raw), "---- create above / drop below ----")
		if !ok || strings.TrimSpace(down) == "" {
			t.Errorf("%s: no down migration", p)
		}
		if !strings.HasPrefix(strings.TrimSpace(up), "--") {
			t.Errorf("%s: should open with a comment saying what it is for", p)
		}
	}
	if n, err := Latest(); err != nil || n != len(paths) {
		t.Fatalf("Latest = %d, %v; want %d", n, err, len(paths))
	}
}

func TestLoadRendersTemplates(t *testing.T) {
	m := &migrate.Migrator{Data: map[string]any{}}
	if err := m.LoadMigrations(FS); err != nil {
		t.Fatalf("LoadMigrations: %v", err)
	}
	found := false
	creates := map[string]bool{}
	for _, mig := range m.Migrations {
		if strings.Contains(mig.UpSQL, "{{") {
			t.Errorf("%s: template not rendered", mig.Name)
		}
		if strings.Contains(mig.UpSQL, "inventory.consumer_offsets") && strings.Contains(mig.UpSQL, "inventory.outbox") {
			found = true
		}
		for _, table := range []string{"inventory.consumer_timers", "platform.job_runs"} {
			if strings.Contains(mig.UpSQL, "CREATE TABLE IF NOT EXISTS "+table+" (") {
				creates[table] = true
			}
		}
	}
	if !found {
		t.Error("no migration creates inventory.consumer_offsets and inventory.outbox")
	}
	for _, table := range []string{"inventory.consumer_timers", "platform.job_runs"} {
		if !creates[table] {
			t.Errorf("no migration creates %s", table)
		}
	}
}
