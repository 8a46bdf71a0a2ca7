package kit

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of the shared variables.
const (
	DefaultBrokers       = "127.0.0.1:9092"
	DefaultPOSURL        = "http://127.0.0.1:8081"
	DefaultInventoryURL  = "http://127.0.0.1:8082"
	DefaultBrokerHTTPURL = "http://127.0.0.1:9644"
)

// Env looks up configuration variables: the process environment (OS) in a service, a map
// (Map) in tests that run several services in one process.
type Env func(name string) string

// OS is the process environment.
var OS Env = os.Getenv

// Map returns an Env that reads m.
func Map(m map[string]string) Env { return func(k string) string { return m[k] } }

// String returns the variable name, or def when it is unset or empty.
func (e Env) String(name, def string) string {
	if v := strings.TrimSpace(e(name)); v != "" {
		return v
	}
	return def
}

// Required returns the variable name or an error saying it must be set.
func (e Env) Required(name string) (string, error) {
	v := strings.TrimSpace(e(name))
	if v == "" {
		return "", fmt.Errorf("kit: %s is required", name)
	}
	return v, nil
}

// Int returns the variable name parsed as an integer, def when unset, or an error naming the
// variable when it is not an integer.
func (e Env) Int(name string, def int) (int, error) {
	v := strings.TrimSpace(e(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("kit: %s=%q: not an integer", name, v)
	}
	return n, nil
}

// Duration returns the variable name parsed by time.ParseDuration ("500ms", "30s"), def when
// unset, or an error naming the variable.
func (e Env) Duration(name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(e(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("kit: %s=%q: not a duration like 30s", name, v)
	}
	return d, nil
}

// Brokers returns KAFKA_BROKERS split on commas (default 127.0.0.1:9092).
func (e Env) Brokers() []string {
	var out []string
	for _, b := range strings.Split(e.String("KAFKA_BROKERS", DefaultBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Logger returns a logger writing to w (stderr when nil) at LOG_LEVEL (info) in LOG_FORMAT
// (text or json; text), tagged with service.
func (e Env) Logger(service string, w io.Writer) (*slog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.String("LOG_LEVEL", "info"))); err != nil {
		return nil, fmt.Errorf("kit: LOG_LEVEL=%q: want debug, info, warn or error", e("LOG_LEVEL"))
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch f := e.String("LOG_FORMAT", "text"); f {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("kit: LOG_FORMAT=%q: want text or json", f)
	}
	return slog.New(h).With("service", service), nil
}
