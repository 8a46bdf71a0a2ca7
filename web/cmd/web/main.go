// Command web serves the store manager's live dashboard at HTTP_ADDR (default 127.0.0.1:8080).
//
// Environment: KAFKA_BROKERS (127.0.0.1:9092), INVENTORY_URL (http://127.0.0.1:8082), POS_URL
// (http://127.0.0.1:8081), BROKER_HTTP_URL (http://127.0.0.1:9644), LOG_LEVEL (info).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/freshmart/platform/web/dashboard"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
}

func run() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env("LOG_LEVEL", "info"))); err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := dashboard.New(dashboard.Config{
		Brokers:      strings.Split(env("KAFKA_BROKERS", "127.0.0.1:9092"), ","),
		InventoryURL: env("INVENTORY_URL", "http://127.0.0.1:8082"),
		POSURL:       env("POS_URL", "http://127.0.0.1:8081"),
		BrokerHTTP:   env("BROKER_HTTP_URL", "http://127.0.0.1:9644"),
		Logger:       log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.ListenAndServe(ctx, env("HTTP_ADDR", "127.0.0.1:8080"))
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
