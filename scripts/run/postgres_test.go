package run

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStartPostgresCreatesThenReusesTheCluster runs a real local cluster twice on the same data
// directory: the second start reuses the cluster, the port and the data.
func TestStartPostgresCreatesThenReusesTheCluster(t *testing.T) {
	if _, err := findPostgresBin(); err != nil {
		t.Fatalf("this test needs the Postgres server binaries: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dataDir := openTempDir(t)
	var buf syncBuffer
	out := NewOutput(&buf, false, 8)

	pg, err := StartPostgres(ctx, dataDir, "127.0.0.1", out)
	if err != nil {
		t.Fatalf("first start: %v\n%s", err, buf.String())
	}
	t.Cleanup(func() { pg.Stop(context.Background()) })
	firstPort := pg.Port
	if want := filepath.Join(dataDir, "postgres"); pg.PGData != want {
		t.Errorf("cluster in %s, want %s", pg.PGData, want)
	}
	execSQL(t, ctx, pg.URL(Database), "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('kept')")
	if err := pg.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !strings.Contains(buf.String(), "creating a new cluster") || !strings.Contains(buf.String(), "created database freshmart") {
		t.Errorf("first start did not create the cluster and database:\n%s", buf.String())
	}

	pg2, err := StartPostgres(ctx, dataDir, "127.0.0.1", out)
	if err != nil {
		t.Fatalf("second start: %v\n%s", err, buf.String())
	}
	t.Cleanup(func() { StopPostgresAt(context.Background(), dataDir) })
	if pg2.Port != firstPort {
		t.Errorf("second start on port %d, want the remembered %d", pg2.Port, firstPort)
	}
	if !strings.Contains(buf.String(), "reusing the cluster in") {
		t.Errorf("second start did not reuse the cluster:\n%s", buf.String())
	}
	conn, err := pgx.Connect(ctx, pg2.URL(Database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM marker").Scan(&v); err != nil || v != "kept" {
		t.Errorf("marker after restart = %q, %v; want kept", v, err)
	}

	// A run that finds the cluster still running (its predecessor was killed) adopts it.
	pg3, err := StartPostgres(ctx, dataDir, "127.0.0.1", out)
	if err != nil {
		t.Fatalf("third start: %v\n%s", err, buf.String())
	}
	if pg3.Port != firstPort || !strings.Contains(buf.String(), "already running on port") {
		t.Errorf("third start on port %d did not adopt the running cluster on %d:\n%s", pg3.Port, firstPort, buf.String())
	}
	if err := pg3.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, running := pg2.runningPort(ctx); running {
		t.Error("cluster still running after Stop")
	}
}

// TestPostgresReachableAsRoot checks the root-only traversal check: a data directory under a
// directory only root can search is reported unreachable for the postgres user.
func TestPostgresReachableAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only meaningful as root: a normal user runs Postgres as itself")
	}
	binDir, err := findPostgresBin()
	if err != nil {
		t.Fatalf("this test needs the Postgres server binaries: %v", err)
	}
	base := openTempDir(t)
	private := filepath.Join(base, "private")
	open := filepath.Join(base, "open")
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{private, 0o700}, {open, 0o755}} {
		if err := os.Mkdir(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil { // umask-proof
			t.Fatal(err)
		}
	}
	var buf syncBuffer
	tests := []struct {
		name string
		dir  string
		want bool
	}{
		{"searchable parents", filepath.Join(open, "pg"), true},
		{"parent only root can search", filepath.Join(private, "pg"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Postgres{BinDir: binDir, PGData: tt.dir, out: NewOutput(&buf, false, 8)}
			if err := p.prepareCred(); err != nil {
				t.Fatal(err)
			}
			if err := p.ownDir(tt.dir); err != nil {
				t.Fatal(err)
			}
			if got := p.reachable(); got != tt.want {
				t.Errorf("reachable(%s) = %v, want %v", tt.dir, got, tt.want)
			}
		})
	}
}

func execSQL(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// openTempDir returns a new temporary directory every user can search, so the postgres user can
// reach a cluster inside it (t.TempDir's parent is private to the test's user).
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "freshmart-run-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPGVersionOrdersNumerically pins the order in which findPostgresBin tries the
// /usr/lib/postgresql/<version>/bin directories (it sorts by pgVersion, larger first): by version
// as a number, so an old 9.6 never wins over 16, which sorting the names as text would do.
func TestPGVersionOrdersNumerically(t *testing.T) {
	bin := func(v string) string { return "/usr/lib/postgresql/" + v + "/bin" }
	tests := []struct {
		name         string
		newer, older string
	}{
		{"16 before 9.6", "16", "9.6"},
		{"10 before 9.6", "10", "9.6"},
		{"17 before 16", "17", "16"},
		{"9.6 before 9.5", "9.6", "9.5"},
		{"a version before a name that is none", "9.6", "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, o := pgVersion(bin(tt.newer)), pgVersion(bin(tt.older)); n <= o {
				t.Errorf("pgVersion(%s) = %v, not above pgVersion(%s) = %v", tt.newer, n, tt.older, o)
			}
		})
	}
}
