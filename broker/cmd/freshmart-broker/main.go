// Command freshmart-broker runs the FreshMart single-node Kafka-compatible
// broker: the Kafka protocol on --listen, health and Prometheus metrics on
// --http, data in --data-dir.
//
// Every flag has an environment variable equivalent (flag wins):
//
//	--listen              BROKER_LISTEN              Kafka listener (127.0.0.1:9092; port 0 picks one)
//	--advertised-addr     BROKER_ADVERTISED_ADDR     host:port told to clients (default: the bound listen address)
//	--data-dir            BROKER_DATA_DIR            data directory (./data/broker)
//	--http                BROKER_HTTP                /healthz, /readyz, /metrics (127.0.0.1:9644; "" disables)
//	--durability          BROKER_DURABILITY          fsync | interval | none (fsync)
//	--topics              BROKER_TOPICS              topic definition JSON file (default: the built-in FreshMart topics)
//	--auto-create-topics  BROKER_AUTO_CREATE_TOPICS  create unknown topics on Metadata (false)
//	--max-frame-bytes     BROKER_MAX_FRAME_BYTES     largest request frame (104857600)
//	--log-level           BROKER_LOG_LEVEL           debug | info | warn | error (info)
//	--group-initial-rebalance-delay  BROKER_GROUP_INITIAL_REBALANCE_DELAY  wait for more members when a group forms (300ms; Kafka: 3s)
//	--group-min-session-timeout      BROKER_GROUP_MIN_SESSION_TIMEOUT      smallest session timeout a consumer may ask for (6s)
//	--offsets-retention              BROKER_OFFSETS_RETENTION              keep an empty group's offsets this long (168h)
//	--retention-check-interval       BROKER_RETENTION_CHECK_INTERVAL       how often segments past retention are deleted (30s)
//	--listen-sasl         BROKER_LISTEN_SASL         SASL_PLAINTEXT listener ("" : none)
//	--listen-ssl          BROKER_LISTEN_SSL          SSL listener ("" : none)
//	--listen-sasl-ssl     BROKER_LISTEN_SASL_SSL     SASL_SSL listener ("" : none)
//	--advertised-sasl-addr, --advertised-ssl-addr, --advertised-sasl-ssl-addr  BROKER_ADVERTISED_{SASL,SSL,SASL_SSL}_ADDR  host:port told to that listener's clients
//	--tls-cert, --tls-key BROKER_TLS_CERT, BROKER_TLS_KEY  PEM certificate chain and key of the TLS listeners (reloaded on SIGHUP)
//	--tls-client-ca       BROKER_TLS_CLIENT_CA       PEM CAs for client certificates ("" : none asked for)
//	--tls-client-auth     BROKER_TLS_CLIENT_AUTH     optional | required, with --tls-client-ca (optional)
//	--super-users         BROKER_SUPER_USERS         principals allowed everything, comma-separated (User:admin,...)
//	--allow-everyone-if-no-acl  BROKER_ALLOW_EVERYONE_IF_NO_ACL  allow a request on a resource no ACL names (true)
//	--sasl-max-reauth     BROKER_SASL_MAX_REAUTH     SASL session lifetime before re-authentication (0: none)
//
// Subcommands: `freshmart-broker users add|remove|list` manage the SASL
// users in --data-dir, offline or while the broker runs (see users.go).
//
// Once clients can connect it logs one line with msg=listening and the
// bound Kafka address (addr=host:port). SIGINT or SIGTERM stops accepting,
// finishes in-flight requests, fsyncs everything and exits 0.
//
// Unless GOGC is set the garbage collector runs at GOGC=25: the live heap
// is small, and a low target keeps the resident size close to it. Unless
// GOMEMLIMIT is set the runtime's soft memory limit is 40 MiB.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
)

// config is the parsed command line.
type config struct {
	listen, advertised, dataDir, httpAddr string
	durability, topicsFile, logLevel      string
	autoCreate                            bool
	maxFrameBytes                         int

	groupInitialDelay, groupMinSession, offsetsRetention time.Duration
	retentionCheck                                       time.Duration

	// Hardening and compaction (server/limits.go, storage/compact.go).
	maxQueuedRequestBytes int64
	maxConnsPerIP         int
	connsMaxIdle          time.Duration
	compactionCheck       time.Duration

	// Listeners and security (server/authz.go, internal/auth).
	listenSASL, listenSSL, listenSASLSSL string
	advSASL, advSSL, advSASLSSL          string
	tlsCert, tlsKey, tlsClientCA         string
	tlsClientAuth, superUsers            string
	allowEveryoneIfNoACL                 bool
	saslMaxReauth                        time.Duration

	// Transactions and producer state (internal/txn, storage/producer.go).
	producerIDExpiry, txnIDExpiry, txnMaxTimeout time.Duration
	txnCheck                                     time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "users" {
		os.Exit(usersMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	cfg, err := parseFlags(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "freshmart-broker:", err)
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "freshmart-broker: --log-level %q: %v\n", cfg.logLevel, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	if os.Getenv("GOGC") == "" {
		// The live heap is small (request and fetch buffers in flight,
		// records stay in the page cache), so a low GC target costs little
		// CPU and keeps RSS close to it. GOGC overrides.
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft cap: the collector runs earlier as the runtime's memory
		// nears it, so bursts of large produce frames do not lift the
		// resident size. It is not a hard limit; a larger live heap still
		// works, at some GC cost. GOMEMLIMIT overrides.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("broker failed", "err", err)
		os.Exit(1)
	}
}

// parseFlags reads flags from args with defaults from the environment.
func parseFlags(args []string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs := flag.NewFlagSet("freshmart-broker", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", env("BROKER_LISTEN", "127.0.0.1:9092"), "Kafka listen address (env BROKER_LISTEN)")
	fs.StringVar(&c.advertised, "advertised-addr", env("BROKER_ADVERTISED_ADDR", ""), "address told to clients; default the bound listen address (env BROKER_ADVERTISED_ADDR)")
	fs.StringVar(&c.dataDir, "data-dir", env("BROKER_DATA_DIR", "./data/broker"), "data directory (env BROKER_DATA_DIR)")
	fs.StringVar(&c.httpAddr, "http", env("BROKER_HTTP", "127.0.0.1:9644"), "HTTP address for /healthz, /readyz, /metrics; empty disables (env BROKER_HTTP)")
	fs.StringVar(&c.durability, "durability", env("BROKER_DURABILITY", "fsync"), "fsync | interval | none (env BROKER_DURABILITY)")
	fs.StringVar(&c.topicsFile, "topics", env("BROKER_TOPICS", ""), "topic definition JSON file; default the built-in FreshMart topics (env BROKER_TOPICS)")
	fs.StringVar(&c.logLevel, "log-level", env("BROKER_LOG_LEVEL", "info"), "debug | info | warn | error (env BROKER_LOG_LEVEL)")
	autoDef, err := parseBoolEnv("BROKER_AUTO_CREATE_TOPICS", getenv)
	if err != nil {
		return c, err
	}
	fs.BoolVar(&c.autoCreate, "auto-create-topics", autoDef, "create unknown topics when a client asks for them (env BROKER_AUTO_CREATE_TOPICS)")
	maxDef := 100 << 20
	if v := getenv("BROKER_MAX_FRAME_BYTES"); v != "" {
		if maxDef, err = strconv.Atoi(v); err != nil {
			return c, fmt.Errorf("BROKER_MAX_FRAME_BYTES=%q: %w", v, err)
		}
	}
	fs.IntVar(&c.maxFrameBytes, "max-frame-bytes", maxDef, "largest request frame in bytes (env BROKER_MAX_FRAME_BYTES)")
	queuedDef, perIPDef := int64(100<<20), 1000
	if v := getenv("BROKER_QUEUED_MAX_REQUEST_BYTES"); v != "" {
		if queuedDef, err = strconv.ParseInt(v, 10, 64); err != nil {
			return c, fmt.Errorf("BROKER_QUEUED_MAX_REQUEST_BYTES=%q: %w", v, err)
		}
	}
	if v := getenv("BROKER_MAX_CONNECTIONS_PER_IP"); v != "" {
		if perIPDef, err = strconv.Atoi(v); err != nil {
			return c, fmt.Errorf("BROKER_MAX_CONNECTIONS_PER_IP=%q: %w", v, err)
		}
	}
	fs.Int64Var(&c.maxQueuedRequestBytes, "queued-max-request-bytes", queuedDef, "bytes of requests read and not yet handled across all connections; past it the broker stops reading (env BROKER_QUEUED_MAX_REQUEST_BYTES)")
	fs.IntVar(&c.maxConnsPerIP, "max-connections-per-ip", perIPDef, "open connections allowed from one client address (env BROKER_MAX_CONNECTIONS_PER_IP)")
	for _, f := range []struct {
		p                *string
		flag, env, usage string
	}{
		{&c.listenSASL, "listen-sasl", "BROKER_LISTEN_SASL", "SASL_PLAINTEXT listen address; empty: none"},
		{&c.listenSSL, "listen-ssl", "BROKER_LISTEN_SSL", "SSL listen address; empty: none"},
		{&c.listenSASLSSL, "listen-sasl-ssl", "BROKER_LISTEN_SASL_SSL", "SASL_SSL listen address; empty: none"},
		{&c.advSASL, "advertised-sasl-addr", "BROKER_ADVERTISED_SASL_ADDR", "host:port told to clients of the SASL_PLAINTEXT listener; default its bound address"},
		{&c.advSSL, "advertised-ssl-addr", "BROKER_ADVERTISED_SSL_ADDR", "host:port told to clients of the SSL listener; default its bound address"},
		{&c.advSASLSSL, "advertised-sasl-ssl-addr", "BROKER_ADVERTISED_SASL_SSL_ADDR", "host:port told to clients of the SASL_SSL listener; default its bound address"},
		{&c.tlsCert, "tls-cert", "BROKER_TLS_CERT", "PEM certificate chain of the TLS listeners (reloaded on SIGHUP)"},
		{&c.tlsKey, "tls-key", "BROKER_TLS_KEY", "PEM private key of the TLS listeners (reloaded on SIGHUP)"},
		{&c.tlsClientCA, "tls-client-ca", "BROKER_TLS_CLIENT_CA", "PEM CAs that client certificates are verified against; empty: none asked for"},
		{&c.tlsClientAuth, "tls-client-auth", "BROKER_TLS_CLIENT_AUTH", "optional | required: whether a client certificate must be sent (with --tls-client-ca)"},
		{&c.superUsers, "super-users", "BROKER_SUPER_USERS", "comma-separated principals allowed everything, e.g. User:admin"},
	} {
		def := getenv(f.env)
		if f.flag == "tls-client-auth" && def == "" {
			def = "optional"
		}
		fs.StringVar(f.p, f.flag, def, f.usage+" (env "+f.env+")")
	}
	allowDef := true
	if v := getenv("BROKER_ALLOW_EVERYONE_IF_NO_ACL"); v != "" {
		if allowDef, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("BROKER_ALLOW_EVERYONE_IF_NO_ACL=%q: %w", v, err)
		}
	}
	fs.BoolVar(&c.allowEveryoneIfNoACL, "allow-everyone-if-no-acl", allowDef, "allow requests on resources no ACL matches (env BROKER_ALLOW_EVERYONE_IF_NO_ACL)")
	for _, d := range []struct {
		p          *time.Duration
		flag, env  string
		def, usage string
	}{
		{&c.groupInitialDelay, "group-initial-rebalance-delay", "BROKER_GROUP_INITIAL_REBALANCE_DELAY", "300ms", "how long a forming group waits for more members; 0 disables"},
		{&c.groupMinSession, "group-min-session-timeout", "BROKER_GROUP_MIN_SESSION_TIMEOUT", "6s", "smallest consumer session timeout accepted"},
		{&c.offsetsRetention, "offsets-retention", "BROKER_OFFSETS_RETENTION", "168h", "how long an empty group's committed offsets are kept"},
		{&c.retentionCheck, "retention-check-interval", "BROKER_RETENTION_CHECK_INTERVAL", "30s", "how often topic retention deletes old segments"},
		{&c.connsMaxIdle, "connections-max-idle", "BROKER_CONNECTIONS_MAX_IDLE", "10m", "close connections without a request for this long"},
		{&c.compactionCheck, "compaction-check-interval", "BROKER_COMPACTION_CHECK_INTERVAL", "15s", "how often the log cleaner looks for compacted partitions to clean"},
		{&c.saslMaxReauth, "sasl-max-reauth", "BROKER_SASL_MAX_REAUTH", "0s", "SASL session lifetime after which clients must re-authenticate; 0: none"},
		{&c.producerIDExpiry, "producer-id-expiration", "BROKER_PRODUCER_ID_EXPIRATION", "24h", "forget an idempotent producer's state this long after its last batch (producer.id.expiration.ms)"},
		{&c.txnIDExpiry, "transactional-id-expiration", "BROKER_TRANSACTIONAL_ID_EXPIRATION", "168h", "forget a transactional id unused this long (transactional.id.expiration.ms)"},
		{&c.txnMaxTimeout, "transaction-max-timeout", "BROKER_TRANSACTION_MAX_TIMEOUT", "15m", "largest transaction timeout a producer may ask for (transaction.max.timeout.ms)"},
		{&c.txnCheck, "transaction-check-interval", "BROKER_TRANSACTION_CHECK_INTERVAL", "1s", "how often transactions past their timeout are aborted"},
	} {
		def, err := time.ParseDuration(env(d.env, d.def))
		if err != nil {
			return c, fmt.Errorf("%s: %w", d.env, err)
		}
		fs.DurationVar(d.p, d.flag, def, d.usage+" (env "+d.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.maxFrameBytes <= 0 || c.maxFrameBytes > 1<<30 {
		return c, fmt.Errorf("--max-frame-bytes %d: want 1..%d", c.maxFrameBytes, 1<<30)
	}
	if c.dataDir == "" {
		return c, errors.New("--data-dir must not be empty")
	}
	if c.groupInitialDelay < 0 || c.groupMinSession <= 0 || c.offsetsRetention <= 0 {
		return c, errors.New("--group-initial-rebalance-delay must be >= 0, --group-min-session-timeout and --offsets-retention > 0")
	}
	if c.maxQueuedRequestBytes < int64(c.maxFrameBytes) {
		return c, fmt.Errorf("--queued-max-request-bytes %d: want at least --max-frame-bytes (%d)", c.maxQueuedRequestBytes, c.maxFrameBytes)
	}
	if c.maxConnsPerIP <= 0 || c.connsMaxIdle <= 0 || c.compactionCheck <= 0 {
		return c, errors.New("--max-connections-per-ip, --connections-max-idle and --compaction-check-interval must be > 0")
	}
	if (c.listenSSL != "" || c.listenSASLSSL != "") && (c.tlsCert == "" || c.tlsKey == "") {
		return c, errors.New("--listen-ssl and --listen-sasl-ssl need --tls-cert and --tls-key")
	}
	if c.tlsClientAuth != "optional" && c.tlsClientAuth != "required" {
		return c, fmt.Errorf("--tls-client-auth %q: want optional or required", c.tlsClientAuth)
	}
	if c.tlsClientAuth == "required" && c.tlsClientCA == "" {
		return c, errors.New("--tls-client-auth required needs --tls-client-ca")
	}
	if c.saslMaxReauth < 0 {
		return c, fmt.Errorf("--sasl-max-reauth %v: want >= 0", c.saslMaxReauth)
	}
	if c.producerIDExpiry <= 0 || c.txnIDExpiry <= 0 || c.txnMaxTimeout <= 0 || c.txnCheck <= 0 {
		return c, errors.New("--producer-id-expiration, --transactional-id-expiration, --transaction-max-timeout and --transaction-check-interval must be > 0")
	}
	if c.retentionCheck <= 0 {
		return c, fmt.Errorf("--retention-check-interval %v: want > 0", c.retentionCheck)
	}
	return c, nil
}

func parseBoolEnv(name string, getenv func(string) string) (bool, error) {
	v := getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return b, nil
}

// defaultGCPercent is the GC target used unless GOGC is set.
const defaultGCPercent = 25

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT is set: room for the buffer pool's idle cap (16 MiB), a few
// produce frames of several MiB in flight and the broker's own state.
const defaultMemoryLimit = 40 << 20

// shutdownGrace bounds how long in-flight requests may take after a signal.
const shutdownGrace = 30 * time.Second
