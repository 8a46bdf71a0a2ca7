// Command pos runs the POS (store edge) service: POST /v1/sales, /v1/deliveries and
// /v1/stock-counts produce sale.completed, delivery.received and stock.counted with acks=all;
// GET /v1/stores and /v1/products serve the catalog.
//
// Environment: KAFKA_BROKERS (default 127.0.0.1:9092, comma-separated), DATABASE_URL (required:
// accepted ids are remembered in pos.accepted so a retry on any instance is answered, not
// produced again), HTTP_ADDR (default
// 127.0.0.1:8081), LOG_LEVEL (debug, info, warn, error; default info).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/freshmart/platform/services/pos/app"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level(os.Getenv("LOG_LEVEL"))}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, app.Config{
		Brokers:     strings.Split(env("KAFKA_BROKERS", "127.0.0.1:9092"), ","),
		DatabaseURL: os.Getenv("DATABASE_URL"),
		HTTPAddr:    env("HTTP_ADDR", "127.0.0.1:8081"),
		Logger:      log,
	})
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	if err := a.Run(ctx); err != nil {
		log.Error("run", "err", err)
		os.Exit(1)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
