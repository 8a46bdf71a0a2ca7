package kit

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Rebuilt is what a service's rebuild found, for RebuildCommand to print.
type Rebuilt interface {
	// Summary says what was replayed and counted, in one line.
	Summary() string
	// Compared names what was compared, for the line saying the views are equal
	// ("stock rows", "alert ids included", ...).
	Compared() string
	// Differences lists where the rebuilt view differs from the live one (at most a
	// screenful) and how many differences there are in all; none means equal.
	Differences() (shown []string, total int)
}

// RebuildCommand is a service's `rebuild` subcommand: it builds the service from opts
// (Postgres only, as a rebuild needs), runs rebuild, which replays the service's topics into a
// fresh view and compares it with the live one, and prints the outcome. Its status is 0 when
// the views are equal, 1 when they differ and 2 when the rebuild could not run.
func RebuildCommand(service string, opts Options, rebuild func(ctx context.Context, s *Service) (Rebuilt, error)) func(args []string) int {
	return func([]string) int {
		ctx, stop := SignalContext()
		defer stop()
		fail := func(err error) int {
			fmt.Fprintf(os.Stderr, "%s rebuild: %v\n", service, err)
			return 2
		}
		s, err := New(ctx, opts)
		if err != nil {
			return fail(err)
		}
		defer s.Close()
		rep, err := rebuild(ctx, s)
		if err != nil {
			return fail(err)
		}
		fmt.Println(rep.Summary())
		shown, total := rep.Differences()
		if total == 0 {
			fmt.Println("rebuilt view equals the live view: " + rep.Compared())
			return 0
		}
		noun := "differences"
		if total == 1 {
			noun = "difference"
		}
		fmt.Printf("rebuilt view differs from the live view: %d %s:\n", total, noun)
		for _, d := range shown {
			fmt.Println("  " + d)
		}
		return 1
	}
}

// Execer is what PrepareRebuild runs its statements on: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// PrepareRebuild drops schema into (what an earlier rebuild left) and creates it again with an
// empty copy of each of tables of schema from (columns, defaults, constraints and indexes), for
// a rebuild to replay into.
func PrepareRebuild(ctx context.Context, db Execer, from, into string, tables []string) error {
	src, dst := pgx.Identifier{from}.Sanitize(), pgx.Identifier{into}.Sanitize()
	ddl := []string{`DROP SCHEMA IF EXISTS ` + dst + ` CASCADE`, `CREATE SCHEMA ` + dst}
	for _, t := range tables {
		tbl := pgx.Identifier{t}.Sanitize()
		ddl = append(ddl, fmt.Sprintf(`CREATE TABLE %s.%s (LIKE %s.%s INCLUDING ALL)`, dst, tbl, src, tbl))
	}
	for _, q := range ddl {
		if _, err := db.Exec(ctx, q); err != nil {
			return fmt.Errorf("rebuild: prepare schema %s: %w", into, err)
		}
	}
	return nil
}

// diffShown bounds the differences a Diff keeps to print.
const diffShown = 50

// Diff is where a rebuilt view differs from the live one, for a Rebuilt's Differences: the
// first 50 differences as lines, and how many there are in all.
type Diff struct {
	Shown []string
	Total int
}

// Compare adds the differences between two views of one kind of row ("episode", "ledger row";
// "" for none), each a line per key: a key with different lines, or with a line in one view
// only, in key order.
func (d *Diff) Compare(kind string, live, rebuilt map[string]string) {
	keys := make([]string, 0, len(live)+len(rebuilt))
	for k := range live {
		keys = append(keys, k)
	}
	for k := range rebuilt {
		if _, ok := live[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		l, lok := live[k]
		r, rok := rebuilt[k]
		if lok && rok && l == r {
			continue
		}
		d.Add(fmt.Sprintf("%s: live %q, rebuilt %q", strings.TrimSpace(kind+" "+k), l, r))
	}
}

// Add counts a difference found otherwise, described by line.
func (d *Diff) Add(line string) {
	d.Total++
	if len(d.Shown) < diffShown {
		d.Shown = append(d.Shown, line)
	}
}

// Differences is d as a Rebuilt reports it.
func (d Diff) Differences() ([]string, int) { return d.Shown, d.Total }
