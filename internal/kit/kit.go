package kit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/migrations"
)

// Options say what a service is and what it needs; the rest comes from the environment.
type Options struct {
	// Name is the service's name ("pos", "inventory"...): the logger's service attribute, the
	// ce_source of its events ("freshmart/<name>") and the prefix of its Kafka client ids.
	// Required.
	Name string
	// Addr is the default listen address, used when HTTP_ADDR is unset ("127.0.0.1:8081").
	// Empty means the service serves no HTTP.
	Addr string
	// Database makes New require DATABASE_URL, open the pool and apply the migrations; the
	// pool's health is a readiness check named "postgres".
	Database bool
	// Producer makes New build the idempotent acks=all producer; the broker's health is a
	// readiness check named "broker".
	Producer bool
	// DeliveryTimeout bounds how long the producer retries a record before Produce fails with
	// events.ErrUnavailable. Default 5s.
	DeliveryTimeout time.Duration
	// RequestTimeout is the deadline of every HTTP request the service serves (REQUEST_TIMEOUT
	// overrides it). Default 6s: above DeliveryTimeout, so a request that waits for the broker
	// is answered 503 by the producer's own deadline first.
	RequestTimeout time.Duration
	// CheckTimeout bounds each readiness check. Default 2s.
	CheckTimeout time.Duration
	// Env is where the configuration is read from. Default OS (the process environment);
	// tests that run several services in one process give each a Map.
	Env Env
	// LogOutput receives the logs. Default os.Stderr.
	LogOutput io.Writer
}

// Service is one FreshMart process: what New built from the environment, and the work Run
// runs. Its fields are set by New and read-only afterwards.
type Service struct {
	// Name is Options.Name.
	Name string
	// Env is the configuration the service was built from, for its own variables.
	Env Env
	// Source is the ce_source of the service's events, "freshmart/<Name>".
	Source string
	// Log is the service's logger (LOG_FORMAT, LOG_LEVEL).
	Log *slog.Logger
	// Registry holds every metric the service exposes on /metrics: Go and process
	// collectors, the shared libraries' (freshmart_kafka_*, freshmart_consumer_*,
	// freshmart_outbox_*, freshmart_http_*) and the service's own.
	Registry *prometheus.Registry
	// Brokers are the Kafka seed brokers (KAFKA_BROKERS).
	Brokers []string
	// Pool is the Postgres pool, migrations applied (nil unless Options.Database).
	Pool *pgxpool.Pool
	// Producer is the idempotent acks=all producer (nil unless Options.Producer).
	Producer *events.Producer
	// Router is where the service mounts its routes; /healthz, /readyz and /metrics are
	// already there, and every route gets the kit's middleware.
	Router chi.Router
	// Health holds the readiness checks /readyz runs; add the service's own with AddCheck.
	Health *httpx.Health

	opts     Options
	kafkaSec []kgo.Opt // Env.KafkaSecurity
	instance string
	mu       sync.Mutex
	tasks    []task
	addr     net.Addr
	ready    chan struct{}
	closers  []func()
}

type task struct {
	name string
	run  func(ctx context.Context) error
}

// New builds a service from opts and the environment (see the package documentation): the
// logger, the registry, the pool with migrations applied and the producer when asked for, and
// the router with the health endpoints. Connecting to the broker is lazy; Postgres is
// connected (within ctx) because the migrations must run before anything else.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Name == "" {
		return nil, errors.New("kit: Options.Name is required")
	}
	if opts.DeliveryTimeout <= 0 {
		opts.DeliveryTimeout = 5 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 6 * time.Second
	}
	if opts.Env == nil {
		opts.Env = OS
	}
	env := opts.Env
	d, err := env.Duration("REQUEST_TIMEOUT", opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	opts.RequestTimeout = d
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = 2 * time.Second
	}
	log, err := env.Logger(opts.Name, opts.LogOutput)
	if err != nil {
		return nil, err
	}
	kafkaSec, err := env.KafkaSecurity()
	if err != nil {
		return nil, fmt.Errorf("kit: %s: %w", opts.Name, err)
	}
	host, _ := os.Hostname()
	s := &Service{
		kafkaSec: kafkaSec,
		Name:     opts.Name,
		Env:      env,
		Source:   "freshmart/" + opts.Name,
		Log:      log,
		Registry: prometheus.NewRegistry(),
		Brokers:  env.Brokers(),
		opts:     opts,
		instance: fmt.Sprintf("%s-%d", host, os.Getpid()),
		ready:    make(chan struct{}),
	}
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Health = &httpx.Health{Gatherer: s.Registry, CheckTimeout: opts.CheckTimeout}
	if opts.Database {
		dsn, err := env.Required("DATABASE_URL")
		if err != nil {
			return nil, err
		}
		if s.Pool, err = OpenDB(ctx, dsn); err != nil {
			return nil, fmt.Errorf("kit: %s: %w", opts.Name, err)
		}
		s.closers = append(s.closers, s.Pool.Close)
		s.Health.AddCheck("postgres", httpx.PingCheck(s.Pool))
	}
	if opts.Producer {
		s.Producer, err = events.NewProducer(events.ProducerConfig{
			Brokers:         s.Brokers,
			Source:          s.Source,
			DeliveryTimeout: opts.DeliveryTimeout,
			Opts:            s.KafkaOpts("producer"),
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("kit: %s: %w", opts.Name, err)
		}
		s.closers = append(s.closers, s.Producer.Close)
		s.Health.AddCheck("broker", func(ctx context.Context) error { return s.Producer.Client().Ping(ctx) })
	}
	s.Router = newRouter(s)
	return s, nil
}

// OpenDB opens a pool on dsn and applies the platform migrations on one of its connections
// (concurrent callers wait on the migrations' advisory lock). When a migration fails it
// returns that error: the connection goes back to the pool before the pool is closed, since
// pgxpool's Close waits for every acquired connection to be released.
func OpenDB(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	err = migrations.Apply(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// ClientID returns the Kafka client id of one of the service's clients: service, role and
// instance ("inventory-consumer-host-1234"), so every group member and connection can be told
// apart in the broker's tools.
func (s *Service) ClientID(role string) string {
	return s.Name + "-" + role + "-" + s.instance
}

// KafkaOpts returns the franz-go options every client of the service takes: its client id,
// its metrics (freshmart_kafka_*{client=role}) on the service's registry, and the cluster's
// TLS and SASL settings (Env.KafkaSecurity). Use one role per concurrently open client.
func (s *Service) KafkaOpts(role string) []kgo.Opt {
	return append([]kgo.Opt{kgo.ClientID(s.ClientID(role)), events.KafkaMetrics(role, s.Registry)}, s.kafkaSec...)
}

// Consumer builds the service's exactly-once consumer from cfg, filling in what the kit
// knows (brokers, pool, schema defaulting to the service name, source, logger, registry, the
// client id and Kafka metrics), adds the readiness check "consumer" (in a group session with
// its assignment) and runs it with the service.
func (s *Service) Consumer(cfg stream.Config) (*stream.Consumer, error) {
	if s.Pool == nil {
		return nil, errors.New("kit: Consumer needs Options.Database")
	}
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = s.Brokers
	}
	if cfg.Group == "" {
		cfg.Group = s.Name
	}
	if cfg.Schema == "" {
		cfg.Schema = s.Name
	}
	if cfg.Source == "" {
		cfg.Source = s.Source
	}
	if cfg.Pool == nil {
		cfg.Pool = s.Pool
	}
	if cfg.Log == nil {
		cfg.Log = s.Log
	}
	if cfg.Registerer == nil {
		cfg.Registerer = s.Registry
	}
	cfg.ClientOpts = append(s.KafkaOpts("consumer"), cfg.ClientOpts...)
	c, err := stream.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("kit: %s: %w", s.Name, err)
	}
	s.Health.AddCheck("consumer", httpx.FlagCheck(c.Ready, "not in a group session with an assignment"))
	s.Go("consumer", c.Run)
	return c, nil
}

// relayLinger is how long the relay's client lets a partition's records wait for more before
// sending them. The relay flushes each pass as soon as it is buffered, so no record waits for
// it: it only keeps the first records of a pass from leaving alone (see stream.RelayConfig).
const relayLinger = 100 * time.Millisecond

// Relay builds the outbox relay of schema (the service's name when empty) on a producer of its
// own (idempotent, acks=all, like the service's, but lingering: each pass of the outbox leaves
// in one produce request) and runs it with the service.
func (s *Service) Relay(schema string) (*stream.Relay, error) {
	if s.Pool == nil || s.Producer == nil {
		return nil, errors.New("kit: Relay needs Options.Database and Options.Producer")
	}
	if schema == "" {
		schema = s.Name
	}
	p, err := events.NewProducer(events.ProducerConfig{Brokers: s.Brokers, Source: s.Source,
		DeliveryTimeout: s.Producer.DeliveryTimeout(), Opts: append(s.KafkaOpts("relay"), kgo.ProducerLinger(relayLinger))})
	if err != nil {
		return nil, fmt.Errorf("kit: %s: relay producer: %w", s.Name, err)
	}
	s.OnClose(p.Close)
	r, err := stream.NewRelay(stream.RelayConfig{Schema: schema, Pool: s.Pool, Client: p.Client(),
		Log: s.Log, Registerer: s.Registry})
	if err != nil {
		return nil, fmt.Errorf("kit: %s: %w", s.Name, err)
	}
	s.Go("relay", r.Run)
	return r, nil
}

// Go adds background work that Run starts and waits for. fn runs until ctx ends and then
// returns nil; an error it returns stops the whole service.
func (s *Service) Go(name string, fn func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks = append(s.tasks, task{name, fn})
}

// OnClose adds fn to what Close releases (in reverse order of adding).
func (s *Service) OnClose(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, fn)
}

// Addr returns the address the HTTP server listens on once Run has bound it (nil before).
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Listening is closed once Run has bound the HTTP listener.
func (s *Service) Listening() <-chan struct{} { return s.ready }

// Run serves HTTP (when the service has an address) and runs the background work until ctx
// ends or one of them fails; then it stops the server gracefully (in-flight requests get up
// to 10 s), waits for the background work to return and releases everything (Close). It
// returns nil after a clean stop.
func (s *Service) Run(ctx context.Context) error {
	defer s.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var first error
	fail := func(name string, err error) {
		errMu.Lock()
		if first == nil {
			first = fmt.Errorf("%s: %s: %w", s.Name, name, err)
		}
		errMu.Unlock()
		cancel(err)
	}
	if s.opts.Addr != "" {
		addr := s.Env.String("HTTP_ADDR", s.opts.Addr)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("kit: %s: listen %s: %w", s.Name, addr, err)
		}
		s.mu.Lock()
		s.addr = ln.Addr()
		s.mu.Unlock()
		srv := &http.Server{
			Handler:           s.Router,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return ctx },
		}
		wg.Go(func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				fail("http", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer done()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
		})
		s.Log.Info(s.Name+" listening", "addr", ln.Addr().String())
	}
	close(s.ready)
	s.mu.Lock()
	tasks := s.tasks
	s.mu.Unlock()
	for _, t := range tasks {
		wg.Go(func() {
			if err := t.run(ctx); err != nil && ctx.Err() == nil {
				fail(t.name, err)
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	if first != nil {
		return first
	}
	return nil
}

// Close releases what New opened (the producer, the pool) and what OnClose added. Run calls
// it; call it yourself only when Run is never called.
func (s *Service) Close() {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// Main is the whole of a service's main function: it builds the service from opts, lets setup
// wire the service's domain onto it (routes, consumer, relay, background work), runs it until
// SIGINT or SIGTERM and exits with status 1 after logging a failure.
func Main(opts Options, setup func(ctx context.Context, s *Service) error) {
	ctx, stop := SignalContext()
	defer stop()
	if err := run(ctx, opts, setup); err != nil {
		stop()
		fmt.Fprintf(os.Stderr, "%s: %v\n", opts.Name, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts Options, setup func(ctx context.Context, s *Service) error) error {
	s, err := New(ctx, opts)
	if err != nil {
		return err
	}
	if err := setup(ctx, s); err != nil {
		s.Close()
		return err
	}
	return s.Run(ctx)
}

// SignalContext returns a context that ends on SIGINT or SIGTERM (a graceful stop).
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Commands are the subcommands a service binary runs instead of the service ("rebuild", "etl"),
// each given the arguments after its name and returning the exit status.
type Commands map[string]func(args []string) int

// RunCommand runs the subcommand named by the first argument and exits with its status; an
// unknown name is answered with the list of known ones and status 2. Without arguments it
// returns, and main goes on to run the service.
func RunCommand(service string, cmds Commands) {
	if len(os.Args) < 2 {
		return
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, strconv.Quote(n))
		}
		slices.Sort(names)
		fmt.Fprintf(os.Stderr, "%s: unknown command %q (want no argument or %s)\n", service, os.Args[1], strings.Join(names, ", "))
		os.Exit(2)
	}
	os.Exit(cmd(os.Args[2:]))
}
