// Package pgcluster starts throwaway Postgres clusters: initdb and pg_ctl into a new temporary
// directory, listening on a free TCP port of 127.0.0.1 (the unix socket in the same directory),
// trading durability for speed (fsync off). Tests use it through package pgtest; programs such
// as the platform benchmark use it directly, since it does not depend on package testing.
//
//	c, err := pgcluster.Start()
//	...
//	defer c.Stop()
//	dsn, err := c.CreateDatabase(ctx)
//
// The Postgres binaries are found on PATH or else under /usr/lib/postgresql/<version>/bin, the
// newest version first. Postgres refuses to run as root, so when the caller runs as root the
// binaries run as the "postgres" system user (runuser) in a directory that user owns. Start
// also removes the clusters of processes that died without stopping theirs.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/freshmart/platform/internal/loopback"
	"github.com/jackc/pgx/v5"
)

// Cluster is a running throwaway Postgres cluster.
type Cluster struct {
	dir     string // temporary root: data/, socket, log
	bin     string // directory of initdb, pg_ctl, postgres
	port    int
	asUser  string // run the binaries as this user (when running as root), or ""
	uid     int
	gid     int
	counter atomic.Int64
}

// dirPrefix starts the name of every cluster's temporary directory.
const dirPrefix = "pgcluster-"

// ownerFile holds the pid of the process that owns a cluster directory.
const ownerFile = "owner.pid"

// Start initialises and starts a cluster in a new temporary directory. The caller stops it
// with Stop.
func Start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	reapStale(bin)
	c := &Cluster{bin: bin}
	c.dir, err = os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("owner file: %w", err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("running as root and there is no \"postgres\" user to run Postgres as (install the Debian package postgresql): %w", err)
		}
		c.asUser = "postgres"
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, c.uid, c.gid); err != nil {
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("chown %s: %w", c.dir, err)
		}
	}
	data := filepath.Join(c.dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A free port can be taken by someone else between probing and binding: retry a few times.
	for attempt := 0; ; attempt++ {
		c.port, err = loopback.Port()
		if err != nil {
			os.RemoveAll(c.dir)
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "+
			"-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB", c.port, c.dir)
		out, err := c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "postgres.log"), "-o", opts, "-w", "-t", "120", "start")
		if err == nil {
			break
		}
		if attempt == 4 {
			log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
		}
	}
	return c, nil
}

// reapStale stops and removes the clusters of processes that died without cleaning up (a test
// binary killed by a test timeout, say), so they do not pile up.
func reapStale(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or still being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		c := &Cluster{dir: dir, bin: bin}
		if os.Geteuid() == 0 {
			c.asUser = "postgres"
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			c.run("pg_ctl", "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop") //nolint:errcheck // best effort
		}
		os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// DSN returns the connection string (a postgres:// URL) of database db in the cluster.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates a new empty database with a name unique in the cluster and returns
// its connection string.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), c.counter.Add(1))
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.DSN(name), nil
}

// DropDatabase drops the database of dsn (a connection string from CreateDatabase), closing the
// connections still open to it. Dropping a database that does not exist is not an error.
func (c *Cluster) DropDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", cfg.Database, err)
	}
	return nil
}

// Stop stops the cluster immediately and removes its directory.
func (c *Cluster) Stop() error {
	out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	rmErr := os.RemoveAll(c.dir)
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	if rmErr != nil {
		return fmt.Errorf("remove %s: %w", c.dir, rmErr)
	}
	return nil
}

// run runs a Postgres binary, as the postgres user when we are root.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running in the background; its output goes to the log
	// file, so waiting for cmd does not wait for the server.
	err := cmd.Run()
	return out.Bytes(), err
}

// findBin finds the directory holding initdb and pg_ctl: on PATH, else the newest
// /usr/lib/postgresql/<version>/bin that has them.
func findBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				return filepath.Dir(real), nil
			}
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	newestFirst(dirs)
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("the Postgres binaries (initdb, pg_ctl) were not found on PATH or in /usr/lib/postgresql/*/bin: install them, e.g. apt-get install postgresql")
}

// newestFirst sorts /usr/lib/postgresql/<version>/bin directories by version, newest first,
// comparing the dot-separated numbers of <version> as numbers (16 before 10 before 9.6).
// Directories whose <version> is not dotted numbers go last, in text order.
func newestFirst(dirs []string) {
	slices.SortStableFunc(dirs, func(a, b string) int {
		va, aok := pgVersion(a)
		vb, bok := pgVersion(b)
		switch {
		case aok && bok:
			if c := slices.Compare(vb, va); c != 0 {
				return c
			}
		case aok:
			return -1
		case bok:
			return 1
		}
		return strings.Compare(a, b)
	})
}

// pgVersion parses the <version> of a /usr/lib/postgresql/<version>/bin directory: "9.6" is
// [9 6], "16" is [16]; ok is false when it is not dotted non-negative numbers.
func pgVersion(binDir string) (v []int, ok bool) {
	name := filepath.Base(filepath.Dir(binDir))
	for _, f := range strings.Split(name, ".") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || f[0] == '+' {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}
