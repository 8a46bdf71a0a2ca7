package run

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Database is the name of the database the platform uses in the local cluster.
const Database = "freshmart"

// pgSuperuser is the bootstrap superuser of the local cluster (trust authentication on
// 127.0.0.1 only; the cluster is a development convenience, not a production setup).
const pgSuperuser = "freshmart"

// ErrNoPostgres is returned when the Postgres server binaries are missing and cannot be
// installed automatically; its message says what to install.
var ErrNoPostgres = errors.New("the Postgres server binaries (initdb, pg_ctl) were not found; " +
	"install them with `sudo apt-get install -y postgresql` (Debian/Ubuntu), " +
	"or set DATABASE_URL to an existing database")

// pgState is remembered in DataDir/postgres.json so the next run reuses the same cluster and port.
type pgState struct {
	PGData string `json:"pgdata"`
	Port   int    `json:"port"`
}

// Postgres is a local Postgres cluster run for the platform: initialised on first use, started
// with pg_ctl, stopped with pg_ctl stop. When the supervisor runs as root, every Postgres program
// runs as the unprivileged `postgres` system user (Postgres refuses to run as root).
type Postgres struct {
	BinDir string // directory holding initdb, pg_ctl
	PGData string // the cluster's data directory
	Port   int    // TCP port on Host
	Host   string // listen address

	out     *Output
	cred    *syscall.Credential // nil: run as ourselves
	started bool                // whether Stop has something to stop
}

// StartPostgres starts (first time: creates) the local cluster whose state lives under dataDir
// (cluster in dataDir/postgres unless the postgres user cannot reach it), listening on host only,
// and makes sure the database Database exists. Messages go to out under "[postgres]". When it
// fails after the server started, it returns the Postgres too, for the caller to Stop.
func StartPostgres(ctx context.Context, dataDir, host string, out *Output) (*Postgres, error) {
	binDir, err := findPostgresBin()
	if errors.Is(err, ErrNoPostgres) {
		out.Printf("postgres", "initdb/pg_ctl not found; trying to install Debian's postgresql package")
		if ierr := installPostgres(ctx, out); ierr != nil {
			return nil, fmt.Errorf("%w (automatic install: %v)", ErrNoPostgres, ierr)
		}
		binDir, err = findPostgresBin()
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	statePath := filepath.Join(dataDir, "postgres.json")
	st, err := readPGState(statePath)
	if err != nil {
		return nil, err
	}
	if st.PGData == "" {
		st.PGData = filepath.Join(dataDir, "postgres")
	}
	p := &Postgres{BinDir: binDir, PGData: st.PGData, Port: st.Port, Host: host, out: out}

	if os.Geteuid() == 0 {
		if err := p.prepareAsRoot(dataDir); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(p.PGData, 0o700); err != nil {
		return nil, fmt.Errorf("postgres data dir: %w", err)
	}

	// initdb and pg_ctl start run to completion even when ctx ends, so an interrupt never
	// leaves a half-made cluster or a server nobody stops.
	if _, err := os.Stat(filepath.Join(p.PGData, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := p.initdb(context.WithoutCancel(ctx)); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("postgres data dir: %w", err)
	} else {
		out.Printf("postgres", "reusing the cluster in %s", p.PGData)
	}

	if port, running := p.runningPort(ctx); running {
		// Left running by an earlier run that did not stop it (killed supervisor): adopt it.
		out.Printf("postgres", "already running on port %d; using it", port)
		p.Port, p.started = port, true
	} else {
		if p.Port == 0 || !portFree(host, p.Port) {
			if p.Port != 0 {
				out.Printf("postgres", "port %d is taken by another program; choosing a new one", p.Port)
			}
			if p.Port, err = freePort(host); err != nil {
				return nil, err
			}
		}
		if err := p.start(context.WithoutCancel(ctx)); err != nil {
			return nil, err
		}
	}
	// From here on the server runs: return p with any error, so the caller can stop it.
	st.Port = p.Port
	if err := writePGState(statePath, st); err != nil {
		return p, err
	}
	if err := p.ensureDatabase(ctx); err != nil {
		return p, err
	}
	return p, nil
}

// URL returns the connection string for database db.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", pgSuperuser, net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), db)
}

// Stop stops the cluster (fast shutdown: open transactions roll back, everything committed is on
// disk) and waits for it to exit.
func (p *Postgres) Stop(ctx context.Context) error {
	if !p.started {
		return nil
	}
	p.started = false
	if err := p.pg(ctx, "pg_ctl", "stop", "-D", p.PGData, "-m", "fast", "-w", "-t", "60"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w", err)
	}
	return nil
}

// prepareAsRoot finds the postgres system user, creates the data directory owned by it, and
// moves the cluster under /var/lib/freshmart when that user cannot reach the default place.
func (p *Postgres) prepareAsRoot(dataDir string) error {
	if err := p.prepareCred(); err != nil {
		return err
	}
	if err := p.ownDir(p.PGData); err != nil {
		return err
	}
	if p.reachable() {
		return nil
	}
	sum := sha256.Sum256([]byte(dataDir))
	alt := filepath.Join("/var/lib/freshmart", "postgres-"+hex.EncodeToString(sum[:6]))
	p.out.Printf("postgres", "the postgres user cannot reach %s (a parent directory is not searchable by it); "+
		"placing the cluster in %s instead", p.PGData, alt)
	if err := os.MkdirAll(filepath.Dir(alt), 0o755); err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	// The unreachable directory was created empty just now or is empty; leave no litter.
	_ = os.Remove(p.PGData)
	p.PGData = alt
	if err := p.ownDir(p.PGData); err != nil {
		return err
	}
	if !p.reachable() {
		return fmt.Errorf("the postgres user cannot write %s either", alt)
	}
	return nil
}

// prepareCred makes the Postgres programs run as the postgres system user.
func (p *Postgres) prepareCred() error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, Postgres must run as the unprivileged `postgres` user, "+
			"which does not exist (%v): install Debian's postgresql package or run `make run` as a normal user", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("postgres user: odd uid/gid %q/%q", u.Uid, u.Gid)
	}
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return nil
}

func (p *Postgres) ownDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
		return fmt.Errorf("postgres data dir: chown to postgres: %w", err)
	}
	return nil
}

// reachable reports whether the postgres user can write the data directory, checked by running
// test(1) as that user, which also covers search permission on every parent directory.
func (p *Postgres) reachable() bool {
	cmd := exec.Command("test", "-w", p.PGData, "-a", "-x", p.PGData)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd.Run() == nil
}

func (p *Postgres) initdb(ctx context.Context) error {
	entries, err := os.ReadDir(p.PGData)
	if err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty but holds no Postgres cluster (no PG_VERSION); move it away", p.PGData)
	}
	p.out.Printf("postgres", "creating a new cluster in %s", p.PGData)
	// initdb's progress report is long and says nothing useful unless it fails.
	cmd := p.command(ctx, "initdb", "-D", p.PGData, "-U", pgSuperuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-instructions")
	if b, err := cmd.CombinedOutput(); err != nil {
		p.out.Line("postgres", string(b))
		return fmt.Errorf("initdb: %w", err)
	}
	// TCP only, no Unix socket, so no /var/run/postgresql permissions matter. The address and
	// port are given at each start, so changing them needs no config edit.
	conf := "\n# added by make run\nunix_socket_directories = ''\n"
	f, err := os.OpenFile(filepath.Join(p.PGData, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("postgresql.conf: %w", err)
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return fmt.Errorf("postgresql.conf: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("postgresql.conf: %w", err)
	}
	return nil
}

func (p *Postgres) start(ctx context.Context) error {
	logFile := filepath.Join(p.PGData, "server.log")
	p.out.Printf("postgres", "starting on %s:%d (log: %s)", p.Host, p.Port, logFile)
	err := p.pg(ctx, "pg_ctl", "start", "-D", p.PGData, "-l", logFile, "-w", "-t", "120",
		"-o", "-p "+strconv.Itoa(p.Port)+" -c listen_addresses="+p.Host)
	if err != nil {
		if tail := fileTail(logFile, 20); tail != "" {
			p.out.Line("postgres", tail)
		}
		return fmt.Errorf("pg_ctl start: %w", err)
	}
	p.started = true
	return nil
}

// runningPort reports whether a postmaster is running on the data directory, and its port.
func (p *Postgres) runningPort(ctx context.Context) (int, bool) {
	cmd := p.command(ctx, "pg_ctl", "status", "-D", p.PGData)
	if cmd.Run() != nil {
		return 0, false
	}
	// postmaster.pid: line 4 is the port.
	b, err := os.ReadFile(filepath.Join(p.PGData, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return 0, false
	}
	return port, true
}

func (p *Postgres) ensureDatabase(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var conn *pgx.Conn
	var err error
	for {
		conn, err = pgx.Connect(ctx, p.URL("postgres"))
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to the local Postgres: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", Database, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{Database}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", Database, err)
	}
	p.out.Printf("postgres", "created database %s", Database)
	return nil
}

// command builds a command for a Postgres program, run as the postgres user when we are root.
// It runs in its own process group so a Ctrl-C at the terminal does not reach the server.
func (p *Postgres) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, prog), args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// pg runs a Postgres program to completion, its output shown under "[postgres]".
func (p *Postgres) pg(ctx context.Context, prog string, args ...string) error {
	cmd := p.command(ctx, prog, args...)
	w := p.out.Writer("postgres")
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	w.Flush()
	return err
}

// findPostgresBin returns the directory of initdb and pg_ctl: the newest
// /usr/lib/postgresql/<version>/bin, else the one on PATH.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if path, err := exec.LookPath("pg_ctl"); err == nil {
		d := filepath.Dir(path)
		if executable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// installPostgres installs Debian's postgresql package with apt-get, as root or through
// passwordless sudo; it fails when neither is available.
func installPostgres(ctx context.Context, out *Output) error {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("apt-get not found (not a Debian-based system)")
	}
	var prefix []string
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return errors.New("not root and sudo is not installed")
		}
		if err := exec.CommandContext(ctx, "sudo", "-n", "true").Run(); err != nil {
			return errors.New("not root and sudo needs a password")
		}
		prefix = []string{"sudo", "-n"}
	}
	for _, args := range [][]string{
		{"env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-qq"},
		{"env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "postgresql"},
	} {
		args = append(prefix, args...)
		out.Printf("postgres", "running: %s", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		w := out.Writer("postgres")
		cmd.Stdout, cmd.Stderr = w, w
		err := cmd.Run()
		w.Flush()
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

func readPGState(path string) (pgState, error) {
	var st pgState
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read %s: %w (delete the file to choose a new port)", path, err)
	}
	return st, nil
}

// writePGState replaces the state file atomically (write temp, rename).
func writePGState(path string, st pgState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode postgres state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether host:port can be listened on right now.
func portFree(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// fileTail returns the last n lines of a file, or "" if it cannot be read.
func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// StopPostgresAt stops the local cluster recorded in dataDir/postgres.json if it is running
// (immediate shutdown). It is for cleaning up after a supervisor that was killed; it does
// nothing when there is no cluster.
func StopPostgresAt(ctx context.Context, dataDir string) error {
	st, err := readPGState(filepath.Join(dataDir, "postgres.json"))
	if err != nil || st.PGData == "" {
		return err
	}
	binDir, err := findPostgresBin()
	if err != nil {
		return err
	}
	p := &Postgres{BinDir: binDir, PGData: st.PGData, Port: st.Port, out: NewOutput(io.Discard, false, 0)}
	if os.Geteuid() == 0 {
		if err := p.prepareCred(); err != nil {
			return err
		}
	}
	if _, running := p.runningPort(ctx); !running {
		return nil
	}
	if err := p.pg(ctx, "pg_ctl", "stop", "-D", p.PGData, "-m", "immediate", "-w", "-t", "60"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w", err)
	}
	return nil
}
