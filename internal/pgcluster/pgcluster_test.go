package pgcluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReapStale starts a cluster, leaves a directory as a process that has exited would, and
// checks that reaping removes that one only: the live cluster keeps its directory and still
// creates and drops databases.
func TestReapStale(t *testing.T) {
	c, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	// A directory left by a process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	reapStale(c.bin)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("stale directory still there: %v", err)
	}
	if _, err := os.Stat(c.dir); err != nil {
		t.Fatalf("live cluster directory removed: %v", err)
	}

	// And the live cluster still works.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.DropDatabase(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		conn.Close(ctx)
		t.Fatalf("database %s still there after DropDatabase", dsn)
	}
	if err := c.DropDatabase(ctx, dsn); err != nil {
		t.Fatalf("dropping a dropped database: %v", err)
	}
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
