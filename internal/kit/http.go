package kit

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/httpx"
)

// httpMetrics are the kit's request metrics, the same for every service.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshmart_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "freshmart_http_request_seconds",
			Help:    "HTTP request latency by route pattern (websocket sessions excluded).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// newRouter returns the service's router: recovery from panics (500 problem+json, logged with
// the stack), request logging and metrics, a deadline on every request, and the health
// endpoints.
func newRouter(s *Service) chi.Router {
	m := newHTTPMetrics(s.Registry)
	r := chi.NewRouter()
	r.Use(
		func(next http.Handler) http.Handler { return httpx.Log(s.Log, next) },
		func(next http.Handler) http.Handler { return instrument(m, next) },
		func(next http.Handler) http.Handler { return httpx.Recover(s.Log, next) },
		func(next http.Handler) http.Handler { return Deadline(s.opts.RequestTimeout, next) },
	)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusNotFound, Title: "Not found",
			Detail: "nothing at " + r.URL.Path})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusMethodNotAllowed, Title: "Method not allowed",
			Detail: r.Method + " is not served at " + r.URL.Path})
	})
	s.Health.Mount(r)
	return r
}

// Deadline gives every request a context that ends after timeout, so a handler waiting on a
// frozen broker or database gives up and answers (503 with Retry-After, through
// httpx.ProblemFor) instead of hanging. Websocket upgrades are exempt: their sessions live as
// long as the connection.
func Deadline(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if timeout <= 0 || isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

func (c *codeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func instrument(m *httpMetrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &codeWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		code := cw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
		if !isUpgrade(r) {
			m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	})
}
