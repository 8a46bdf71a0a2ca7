// Package config reads service configuration from the environment, each setting with a
// documented default, and builds the service logger.
//
// The variables shared by every service (platform contract):
//
//	KAFKA_BROKERS    comma-separated seed brokers          127.0.0.1:9092
//	DATABASE_URL     Postgres connection string             (required by services with state)
//	HTTP_ADDR        the service's listen address           (per service: pos 127.0.0.1:8081 ...)
//	LOG_LEVEL        debug | info | warn | error            info
//	LOG_FORMAT       text | json                            text
//	POS_URL          the POS API                            http://127.0.0.1:8081
//	INVENTORY_URL    the inventory API                      http://127.0.0.1:8082
//	BROKER_HTTP_URL  the broker's health and metrics        http://127.0.0.1:9644
package config

import (
	"errors"
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

// Getenv is the lookup used by this package; tests replace it.
var Getenv = os.Getenv

// String returns the variable name, or def when it is unset or empty.
func String(name, def string) string {
	if v := strings.TrimSpace(Getenv(name)); v != "" {
		return v
	}
	return def
}

// Required returns the variable name or an error saying it must be set.
func Required(name string) (string, error) {
	v := strings.TrimSpace(Getenv(name))
	if v == "" {
		return "", fmt.Errorf("config: %s is required", name)
	}
	return v, nil
}

// Int returns the variable name parsed as an integer, def when unset, or an error naming the
// variable when it is not an integer.
func Int(name string, def int) (int, error) {
	v := strings.TrimSpace(Getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("config: %s=%q: not an integer", name, v)
	}
	return n, nil
}

// Duration returns the variable name parsed by time.ParseDuration ("500ms", "30s"), def when
// unset, or an error naming the variable.
func Duration(name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(Getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("config: %s=%q: not a duration like 30s", name, v)
	}
	return d, nil
}

// Brokers returns KAFKA_BROKERS split on commas (default 127.0.0.1:9092).
func Brokers() []string {
	var out []string
	for _, b := range strings.Split(String("KAFKA_BROKERS", DefaultBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// DatabaseURL returns DATABASE_URL, which services with state require.
func DatabaseURL() (string, error) { return Required("DATABASE_URL") }

// HTTPAddr returns HTTP_ADDR, or the service's default address.
func HTTPAddr(def string) string { return String("HTTP_ADDR", def) }

// Logger returns a logger writing to w (stderr when nil) at LOG_LEVEL (info) in LOG_FORMAT
// (text or json; text), tagged with service.
func Logger(service string, w io.Writer) (*slog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(String("LOG_LEVEL", "info"))); err != nil {
		return nil, fmt.Errorf("config: LOG_LEVEL=%q: want debug, info, warn or error", Getenv("LOG_LEVEL"))
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch f := String("LOG_FORMAT", "text"); f {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, errors.New("config: LOG_FORMAT=" + strconv.Quote(f) + ": want text or json")
	}
	return slog.New(h).With("service", service), nil
}
