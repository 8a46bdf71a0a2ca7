package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Start(m)) }

func TestDatabasesAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	if a == b {
		t.Fatalf("same database twice: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("table leaked across databases: n=%d err=%v", n, err)
	}
	var version string
	if err := ca.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil || version == "" {
		t.Fatalf("server_version %q: %v", version, err)
	}
	t.Logf("Postgres %s", version)
}

func TestReapStale(t *testing.T) {
	// A directory left by a test binary that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	// And the live cluster of this test binary.
	mu.Lock()
	live := current.dir
	mu.Unlock()
	reapStale(current.bin)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("stale directory still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("live cluster directory removed: %v", err)
	}
	New(t) // and the live cluster still works
}

// TestNewestFirst checks the order in which the /usr/lib/postgresql/<version>/bin directories
// are tried: by version as numbers, newest first, so an old 9.6 never wins over 16.
func TestNewestFirst(t *testing.T) {
	bin := func(v string) string { return "/usr/lib/postgresql/" + v + "/bin" }
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"one", []string{bin("16")}, []string{bin("16")}},
		{"9.6 after 16 (not as text)", []string{bin("9.6"), bin("16")}, []string{bin("16"), bin("9.6")}},
		{"10 before 9.6", []string{bin("9.6"), bin("10")}, []string{bin("10"), bin("9.6")}},
		{"majors as numbers", []string{bin("10"), bin("17"), bin("9.6"), bin("15"), bin("9.5")},
			[]string{bin("17"), bin("15"), bin("10"), bin("9.6"), bin("9.5")}},
		{"minors as numbers", []string{bin("9.6"), bin("9.10"), bin("9")}, []string{bin("9.10"), bin("9.6"), bin("9")}},
		{"non-versions last, in text order", []string{bin("devel"), bin("9.6"), bin("16beta1"), bin("14")},
			[]string{bin("14"), bin("9.6"), bin("16beta1"), bin("devel")}},
		{"signs are not versions", []string{bin("+20"), bin("-1"), bin("12")}, []string{bin("12"), bin("+20"), bin("-1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Clone(tt.in)
			newestFirst(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("newestFirst(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
