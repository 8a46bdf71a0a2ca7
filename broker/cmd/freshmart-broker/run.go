package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/freshmart/platform/broker/internal/group"
	"github.com/freshmart/platform/broker/internal/server"
	"github.com/freshmart/platform/broker/internal/storage"
	"github.com/freshmart/platform/broker/internal/txn"
)

// run wires the store, the Kafka server and the HTTP endpoints, and blocks
// until ctx ends (a signal) or the listener fails.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	mode, err := storage.ParseSyncMode(cfg.durability)
	if err != nil {
		return fmt.Errorf("--durability: %w", err)
	}
	store, err := storage.Open(storage.Options{Dir: cfg.dataDir, Sync: mode, RetentionCheckInterval: cfg.retentionCheck,
		CompactionCheckInterval: cfg.compactionCheck, ProducerIDExpiration: cfg.producerIDExpiry, Logger: log})
	if err != nil {
		return fmt.Errorf("open data dir %s: %w", cfg.dataDir, err)
	}
	closeStore := func() error {
		if err := store.Close(); err != nil {
			return fmt.Errorf("close store: %w", err)
		}
		return nil
	}
	if err := ensureTopics(store, cfg.topicsFile, log); err != nil {
		closeStore()
		return err
	}
	clusterID, err := loadClusterID(cfg.dataDir)
	if err != nil {
		closeStore()
		return err
	}

	initialDelay := cfg.groupInitialDelay
	if initialDelay == 0 {
		initialDelay = -1 // disabled
	}
	groups, err := server.OpenGroups(store, group.Config{
		Dir:                   filepath.Join(cfg.dataDir, "groups"),
		NoSync:                mode != storage.SyncEveryAck,
		Logger:                log,
		InitialRebalanceDelay: initialDelay,
		MinSessionTimeout:     cfg.groupMinSession,
		OffsetsRetention:      cfg.offsetsRetention,
	})
	if err != nil {
		closeStore()
		return fmt.Errorf("open consumer groups: %w", err)
	}

	sec, tlsFiles, listeners, err := securityConfig(cfg)
	if err != nil {
		groups.Close()
		closeStore()
		return err
	}

	txns, err := server.OpenTxns(store, groups, txn.Config{
		Dir:           filepath.Join(cfg.dataDir, "transactions"),
		NoSync:        mode != storage.SyncEveryAck,
		Logger:        log,
		MaxTimeout:    cfg.txnMaxTimeout,
		CheckInterval: cfg.txnCheck,
		IDExpiration:  cfg.txnIDExpiry,
	})
	if err != nil {
		groups.Close()
		closeStore()
		return fmt.Errorf("open transactions: %w", err)
	}

	metrics := server.NewMetrics()
	metrics.Registry.MustRegister(groups.Collector())
	srv, err := server.New(server.Config{
		Groups:           groups,
		Txns:             txns,
		Addr:             cfg.listen,
		AdvertisedAddr:   cfg.advertised,
		Store:            store,
		AutoCreateTopics: cfg.autoCreate,
		MaxFrameBytes:    int32(cfg.maxFrameBytes),

		MaxQueuedRequestBytes: cfg.maxQueuedRequestBytes,
		MaxConnectionsPerIP:   cfg.maxConnsPerIP,
		ConnectionsMaxIdle:    cfg.connsMaxIdle,
		ClusterID:             clusterID,
		Metrics:               metrics,
		Logger:                log,
		Listeners:             listeners,
		Security:              sec,
	})
	if err != nil {
		txns.Close()
		groups.Close()
		closeStore()
		return err
	}

	var ready atomic.Bool
	var httpSrv *http.Server
	httpErr := make(chan error, 1)
	if cfg.httpAddr != "" {
		ln, err := net.Listen("tcp", cfg.httpAddr)
		if err != nil {
			srv.Shutdown(context.Background())
			closeStore()
			return fmt.Errorf("--http %s: %w", cfg.httpAddr, err)
		}
		httpSrv = &http.Server{Handler: httpHandler(metrics, &ready), ReadHeaderTimeout: 10 * time.Second}
		go func() { httpErr <- httpSrv.Serve(ln) }()
		log.Info("http endpoints up", "http", ln.Addr().String(), "paths", "/healthz /readyz /metrics")
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	ready.Store(true)
	host, port := srv.AdvertisedHostPort()
	log.Info("listening", "addr", srv.Addr().String(), "advertised", net.JoinHostPort(host, fmt.Sprint(port)),
		"data_dir", cfg.dataDir, "durability", mode.String(), "cluster_id", clusterID)

	for _, l := range listeners {
		log.Info("listener", "protocol", string(l.Protocol), "addr", srv.ListenerAddr(l.Protocol).String())
	}
	hup := make(chan os.Signal, 1)
	if tlsFiles != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}

	var runErr error
wait:
	select {
	case <-hup:
		if err := tlsFiles.Load(); err != nil {
			log.Error("tls reload failed; keeping the previous certificate", "err", err)
		} else {
			log.Info("tls certificate reloaded", "cert", cfg.tlsCert)
		}
		goto wait
	case <-ctx.Done():
		log.Info("signal received, shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("kafka listener: %w", err)
	case err := <-httpErr:
		runErr = fmt.Errorf("http listener: %w", err)
	}
	ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	if err := closeStore(); err != nil {
		return errors.Join(runErr, err)
	}
	if httpSrv != nil {
		httpSrv.Shutdown(sctx)
	}
	log.Info("stopped", "data_dir", cfg.dataDir)
	return runErr
}

// httpHandler serves /healthz (the process is up), /readyz (the Kafka
// listener accepts clients), /metrics and /debug/pprof/.
func httpHandler(m *server.Metrics, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", m.Handler())
	// Profiles for operators; the HTTP listener is loopback by default.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// loadClusterID returns the cluster id stored in dir/cluster.id, creating a
// random one (crash-safely: temp file, fsync, rename, fsync dir) on first start.
func loadClusterID(dir string) (string, error) {
	path := filepath.Join(dir, "cluster.id")
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate cluster id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write cluster id: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("write cluster id: %w", err)
	}
	_, werr := f.WriteString(id + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return "", fmt.Errorf("write cluster id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write cluster id: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return "", fmt.Errorf("fsync data dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return "", fmt.Errorf("fsync data dir: %w", err)
	}
	return id, nil
}
