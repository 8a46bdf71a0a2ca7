package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
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

// Ready runs every check concurrently, each bounded by CheckTimeout, and returns the outcome
// of each by name: "ok" or what failed. It returns within CheckTimeout (plus scheduling) even
// when a check ignores its context: such a check is reported as timed out and left to finish
// on its own.
func (h *Health) Ready(ctx context.Context) (results map[string]string, ok bool) {
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
	type outcome struct {
		name string
		err  error
	}
	done := make(chan outcome, len(checks)) // buffered: a late check never blocks
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for name, c := range checks {
		go func() { done <- outcome{name, c(cctx)} }()
	}
	results = make(map[string]string, len(checks))
	ok = true
	timer := time.NewTimer(timeout + 100*time.Millisecond)
	defer timer.Stop()
	for range checks {
		select {
		case o := <-done:
			if o.err != nil {
				ok = false
				if errors.Is(o.err, context.DeadlineExceeded) {
					results[o.name] = fmt.Sprintf("no answer within %s", timeout)
				} else {
					results[o.name] = o.err.Error()
				}
			} else {
				results[o.name] = "ok"
			}
		case <-timer.C:
			for name := range checks {
				if _, seen := results[name]; !seen {
					results[name] = fmt.Sprintf("no answer within %s", timeout)
				}
			}
			return results, false
		}
	}
	return results, ok
}

// readiness is the body of a /readyz answer: every check by name, "ok" or what failed.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (h *Health) ready(w http.ResponseWriter, r *http.Request) {
	results, ok := h.Ready(r.Context())
	if ok {
		WriteJSON(w, http.StatusOK, readiness{Status: "ready", Checks: results})
		return
	}
	names := make([]string, 0, len(results))
	for n, v := range results {
		if v != "ok" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	p := Problem{Status: http.StatusServiceUnavailable, Title: "Not ready",
		Detail: "unavailable: " + strings.Join(names, ", "), Checks: results}
	for _, n := range names {
		p.Errors = append(p.Errors, FieldError{Field: n, Message: results[n]})
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
