package httpx

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil when the dependency is usable.
type Check func(ctx context.Context) error

// Health serves /healthz (the process is up), /readyz (every registered check passes, each
// within CheckTimeout) and /metrics (Prometheus).
type Health struct {
	// Gatherer is what /metrics exposes. Default prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// CheckTimeout bounds each readiness check. Default 2s.
	CheckTimeout time.Duration

	mu     sync.Mutex
	checks map[string]Check
}

// AddCheck registers a readiness check under name ("postgres", "broker", "consumer"...).
func (h *Health) AddCheck(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.checks == nil {
		h.checks = map[string]Check{}
	}
	h.checks[name] = c
}

// Mount registers the three endpoints on mux.
func (h *Health) Mount(mux interface {
	Handle(pattern string, handler http.Handler)
}) {
	g := h.Gatherer
	if g == nil {
		g = prometheus.DefaultGatherer
	}
	mux.Handle("/healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.Handle("/readyz", http.HandlerFunc(h.ready))
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}

// Ready runs every check concurrently and returns each failure by name.
func (h *Health) Ready(ctx context.Context) map[string]string {
	h.mu.Lock()
	checks := make(map[string]Check, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	h.mu.Unlock()
	timeout := h.CheckTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	var mu sync.Mutex
	failed := map[string]string{}
	var wg sync.WaitGroup
	for name, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := c(cctx); err != nil {
				mu.Lock()
				failed[name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

func (h *Health) ready(w http.ResponseWriter, r *http.Request) {
	failed := h.Ready(r.Context())
	if len(failed) == 0 {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	names := make([]string, 0, len(failed))
	for n := range failed {
		names = append(names, n)
	}
	slices.Sort(names)
	p := Problem{Status: http.StatusServiceUnavailable, Title: "Not ready", Detail: "dependencies unavailable"}
	for _, n := range names {
		p.Errors = append(p.Errors, FieldError{Field: n, Message: failed[n]})
	}
	WriteProblem(w, p)
}

// Pinger is anything with a Ping method: *pgxpool.Pool, *kgo.Client.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingCheck is a Check that pings p.
func PingCheck(p Pinger) Check { return func(ctx context.Context) error { return p.Ping(ctx) } }

// FlagCheck is a Check that fails with msg while ok() is false (for example a consumer that
// has not joined its group yet).
func FlagCheck(ok func() bool, msg string) Check {
	return func(context.Context) error {
		if !ok() {
			return errors.New(msg)
		}
		return nil
	}
}
