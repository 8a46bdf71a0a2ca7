package run

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// BrokerBinary is the bundled broker's binary name in the bin directory.
const BrokerBinary = "freshmart-broker"

// readyTimeout bounds each wait for a process to answer (broker, Postgres, a service's /healthz).
const readyTimeout = 90 * time.Second

// Migrate applies the database migrations; Run calls it once Postgres and the broker are up.
type Migrate func(ctx context.Context, databaseURL string) error

// Platform is a running FreshMart: the local Postgres (unless DATABASE_URL), the bundled broker
// (unless KAFKA_BROKERS) and every built service, each supervised.
type Platform struct {
	cfg     Config
	out     *Output
	migrate Migrate

	pg       *Postgres
	dbURL    string
	mu       sync.Mutex
	broker   *Supervised
	services []*Supervised // in start order
}

// New returns a Platform for cfg writing its log to out. migrate is normally ApplyMigrations;
// nil leaves the migrations to the services, which apply them at start too.
func New(cfg Config, out *Output, migrate Migrate) *Platform {
	return &Platform{cfg: cfg, out: out, migrate: migrate}
}

// Run starts everything in order: Postgres, the broker (with KAFKA_BROKERS instead: the
// FreshMart topics created on that cluster), the migrations, the services. It prints where to
// look, waits for ctx to end, and stops everything in reverse order: each process gets SIGTERM,
// then SIGKILL after Config.StopTimeout; Postgres last with pg_ctl stop. It returns an error if
// something could not start; whatever had started is stopped first.
func (p *Platform) Run(ctx context.Context) (err error) {
	defer func() {
		if serr := p.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := p.start(ctx); err != nil {
		if ctx.Err() != nil {
			p.out.Printf("run", "interrupted while starting; stopping")
			return nil
		}
		return err
	}
	p.printURLs()
	<-ctx.Done()
	p.out.Printf("run", "stopping (again to exit at once)")
	return nil
}

func (p *Platform) start(ctx context.Context) error {
	c := p.cfg
	brokerBin := filepath.Join(c.BinDir, BrokerBinary)
	if c.KafkaBrokers == "" && !executable(brokerBin) {
		return fmt.Errorf("%s is missing: build it with `make build` (or start with `make run`)", brokerBin)
	}
	if err := p.checkPorts(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	// 1. Postgres.
	if c.DatabaseURL != "" {
		p.dbURL = c.DatabaseURL
		p.out.Printf("run", "using DATABASE_URL %s", redactURL(p.dbURL))
		if err := waitPostgres(ctx, p.dbURL); err != nil {
			return err
		}
	} else {
		pg, err := StartPostgres(ctx, c.DataDir, c.Host, p.out)
		p.pg = pg // set even on error: a started server must be stopped
		if err != nil {
			return fmt.Errorf("local Postgres: %w", err)
		}
		p.dbURL = pg.URL(Database)
	}

	// 2. Broker.
	if c.KafkaBrokers != "" {
		p.out.Printf("run", "using KAFKA_BROKERS %s (the bundled broker is not started)", c.KafkaBrokers)
		tctx, cancel := context.WithTimeout(ctx, readyTimeout)
		err := EnsureTopics(tctx, c.KafkaBrokers, p.out)
		cancel()
		if err != nil {
			return fmt.Errorf("topics on KAFKA_BROKERS: %w", err)
		}
	} else {
		if err := os.MkdirAll(c.BrokerDataDir(), 0o755); err != nil {
			return fmt.Errorf("broker data dir: %w", err)
		}
		b := Supervise(Proc{
			Name: "broker",
			Path: brokerBin,
			Args: []string{"--data-dir", c.BrokerDataDir()},
			Env:  c.BrokerEnv(os.Environ()),
			Dir:  c.Root,
		}, p.out, SuperviseOptions{Backoff: c.Backoff})
		p.mu.Lock()
		p.broker = b
		p.mu.Unlock()
		if err := waitBroker(ctx, c.Addr("broker"), c.URL("broker-http")); err != nil {
			return err
		}
		p.out.Printf("run", "broker ready on %s", c.Addr("broker"))
	}

	// 3. Migrations.
	if p.migrate != nil {
		if err := p.migrate(ctx, p.dbURL); err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		p.out.Printf("run", "database migrated")
	}

	// 4. Services with an HTTP port, then (once those answer) the ones without.
	var waits []Service
	for _, s := range Services {
		if s.Port == 0 {
			continue
		}
		if p.startService(s) {
			waits = append(waits, s)
		}
	}
	for _, s := range waits {
		if err := waitHTTP(ctx, p.cfg.URL(s.Name)+"/healthz", readyTimeout); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.out.Printf("run", "%s has not answered /healthz yet (%v); it is supervised and restarted if it exits", s.Name, err)
		}
	}
	for _, s := range Services {
		if s.Port == 0 {
			p.startService(s)
		}
	}
	return nil
}

// startService starts one service if it is built and not skipped; it reports whether it did.
func (p *Platform) startService(s Service) bool {
	if p.cfg.Skipped(s.Name) {
		p.out.Printf("run", "skipping %s (FRESHMART_SKIP)", s.Name)
		return false
	}
	bin := filepath.Join(p.cfg.BinDir, s.Name)
	if !executable(bin) {
		p.out.Printf("run", "skipping %s: %s is not built", s.Name, bin)
		return false
	}
	sv := Supervise(Proc{
		Name: s.Name,
		Path: bin,
		Env:  p.cfg.ServiceEnv(os.Environ(), s.Name, p.dbURL),
		Dir:  p.cfg.Root,
	}, p.out, SuperviseOptions{Backoff: p.cfg.Backoff})
	p.mu.Lock()
	p.services = append(p.services, sv)
	p.mu.Unlock()
	return true
}

// Running returns the names of the supervised processes, broker first.
func (p *Platform) Running() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	if p.broker != nil {
		names = append(names, p.broker.Name())
	}
	for _, s := range p.services {
		names = append(names, s.Name())
	}
	return names
}

// stop stops the services (in reverse start order, those without HTTP first, the rest in
// parallel), then the broker, then Postgres.
func (p *Platform) stop() error {
	p.mu.Lock()
	services := append([]*Supervised(nil), p.services...)
	broker := p.broker
	p.mu.Unlock()
	if len(services) == 0 && broker == nil && p.pg == nil {
		return nil // nothing was started
	}

	var wg sync.WaitGroup
	for i := len(services) - 1; i >= 0; i-- {
		s := services[i]
		if p.cfg.Port(s.Name()) == 0 {
			s.Stop(p.cfg.StopTimeout) // producers (the simulator) first, so nothing new arrives
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Stop(p.cfg.StopTimeout)
		}()
	}
	wg.Wait()
	if broker != nil {
		broker.Stop(2 * p.cfg.StopTimeout) // it fsyncs on the way out
	}
	if p.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := p.pg.Stop(ctx); err != nil {
			return fmt.Errorf("stop Postgres: %w", err)
		}
		p.out.Printf("postgres", "stopped")
	}
	p.out.Printf("run", "all stopped")
	return nil
}

// checkPorts fails early, with advice, when a port the platform needs is taken (typically by
// another `make run`).
func (p *Platform) checkPorts() error {
	var names []string
	if p.cfg.KafkaBrokers == "" {
		names = append(names, "broker", "broker-http")
	}
	for _, s := range Services {
		if s.Port != 0 && !p.cfg.Skipped(s.Name) && executable(filepath.Join(p.cfg.BinDir, s.Name)) {
			names = append(names, s.Name)
		}
	}
	for _, n := range names {
		addr := p.cfg.Addr(n)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s cannot listen on %s: the port is in use (another `make run`?); "+
				"stop that program or choose other ports with FRESHMART_PORT_BASE: %w", n, addr, err)
		}
		l.Close()
	}
	return nil
}

func (p *Platform) printURLs() {
	c := p.cfg
	running := map[string]bool{}
	for _, n := range p.Running() {
		running[n] = true
	}
	type row struct{ what, where string }
	rows := []row{}
	add := func(name, what, where string) {
		if !running[name] {
			where += "   (not running: not built or skipped)"
		}
		rows = append(rows, row{what, where})
	}
	add("web", "dashboard", c.URL("web"))
	add("pos", "POS API", c.URL("pos"))
	add("inventory", "inventory API", c.URL("inventory"))
	for _, s := range Services {
		switch s.Name {
		case "web", "pos", "inventory":
		default:
			if running[s.Name] && s.Port != 0 {
				rows = append(rows, row{s.Name, c.URL(s.Name)})
			}
		}
	}
	if c.KafkaBrokers != "" {
		rows = append(rows, row{"Kafka (external)", c.KafkaBrokers})
	} else {
		rows = append(rows, row{"broker (Kafka)", c.Addr("broker")},
			row{"broker metrics", c.URL("broker-http") + "/metrics"})
	}
	rows = append(rows, row{"Postgres", redactURL(p.dbURL)})
	if running["simulator"] {
		what := "posting sales to " + c.URL("pos")
		if running["complaints"] {
			what += ", complaints to " + c.URL("complaints")
		}
		rows = append(rows, row{"simulator", what})
	}
	if u, why := p.demoSignURL(running); u != "" {
		rows = append(rows, row{"sign page (" + demoStore + ")", u})
	} else {
		rows = append(rows, row{"sign page", "(" + why + ")"})
	}
	rows = append(rows, row{"data", c.DataDir})
	var b strings.Builder
	b.WriteString("FreshMart is running. Ctrl-C stops everything.\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-18s %s\n", r.what, r.where)
	}
	p.out.Line("run", b.String())
}

// waitBroker waits until the broker accepts Kafka connections and its HTTP /readyz answers 200.
func waitBroker(ctx context.Context, addr, httpURL string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			if err = getOK(ctx, httpURL+"/readyz"); err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker not ready on %s after %s: %w", addr, readyTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitHTTP waits until url answers 200.
func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := getOK(ctx, url)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", url, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func getOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// waitPostgres waits until the database at url accepts a connection.
func waitPostgres(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			return conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database %s not reachable: %w", redactURL(url), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// redactURL hides a password in a connection URL.
func redactURL(u string) string {
	cfg, err := pgx.ParseConfig(u)
	if err != nil || cfg.Password == "" {
		return u
	}
	return strings.Replace(u, ":"+cfg.Password+"@", ":xxxxx@", 1)
}
