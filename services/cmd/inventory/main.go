// Command inventory runs the inventory service: it folds sales, deliveries and warehouse counts
// into stock per store and SKU, emits stock levels, low-stock alerts and shelf badges, and serves
// GET /v1/stock and GET /v1/alerts.
//
// Usage:
//
//	inventory           run the service
//	inventory rebuild   replay the topics into a fresh view and compare it with the live one
//	                    (exit status 1 when they differ)
//
// Environment: KAFKA_BROKERS (default 127.0.0.1:9092, comma-separated), DATABASE_URL (required),
// HTTP_ADDR (default 127.0.0.1:8082), LOG_LEVEL (debug, info, warn, error; default info).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/freshmart/platform/services/inventory/app"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level(os.Getenv("LOG_LEVEL"))}))
	cfg := app.Config{
		Brokers:     strings.Split(env("KAFKA_BROKERS", "127.0.0.1:9092"), ","),
		DatabaseURL: os.Getenv("DATABASE_URL"),
		HTTPAddr:    env("HTTP_ADDR", "127.0.0.1:8082"),
		Logger:      log,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "rebuild":
			os.Exit(rebuild(ctx, cfg))
		default:
			fmt.Fprintf(os.Stderr, "inventory: unknown command %q (want no argument or \"rebuild\")\n", os.Args[1])
			os.Exit(2)
		}
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	if err := a.Run(ctx); err != nil {
		log.Error("run", "err", err)
		os.Exit(1)
	}
}

func rebuild(ctx context.Context, cfg app.Config) int {
	if cfg.DatabaseURL == "" {
		fmt.Fprintln(os.Stderr, "inventory rebuild: DATABASE_URL is required")
		return 2
	}
	rep, err := app.Rebuild(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory rebuild:", err)
		return 2
	}
	fmt.Printf("replayed %d records into schema %s: %d live stock rows, %d rebuilt\n",
		rep.Records, app.RebuildSchema, rep.LiveRows, rep.RebuiltRows)
	if rep.Equal() {
		fmt.Println("rebuilt view equals the live view")
		return 0
	}
	fmt.Printf("rebuilt view differs from the live view in %d store/SKUs:\n", rep.DiffCount)
	for _, d := range rep.Diffs {
		fmt.Println("  " + d)
	}
	return 1
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
