// Command simulator stands in for the checkout lanes, dock scanners and warehouse scanners of
// every store: it posts sales, deliveries and warehouse counts to the POS API (POS_URL, default
// http://127.0.0.1:8081) at realistic rates until it is stopped or -duration has passed, and
// prints what it sent, what was accepted and what failed.
//
//	simulator [-rate 1] [-stores S001,S002] [-seed N] [-duration 0] [-start RFC3339] [-workers 16]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/simulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

func run() error {
	rate := flag.Float64("rate", 1, "rate multiplier (100 = Black Friday)")
	stores := flag.String("stores", "", "comma-separated store ids to simulate (default: every store)")
	seed := flag.Uint64("seed", 0, "random seed; a fixed seed gives the same events (default: from the clock)")
	duration := flag.Duration("duration", 0, "how long to run (default: until interrupted)")
	start := flag.String("start", "", "simulated clock start, RFC3339 (default: now)")
	workers := flag.Int("workers", 16, "requests in flight at most")
	report := flag.Duration("report", 10*time.Second, "how often to log progress")
	flag.Parse()

	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(env("LOG_LEVEL", "info"))); err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cat, err := catalog.Load()
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	var ids []string
	if *stores != "" {
		ids = strings.Split(*stores, ",")
	}
	ss, ps, err := simulator.FromCatalog(cat, ids)
	if err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	if *start != "" {
		if t0, err = time.Parse(time.RFC3339, *start); err != nil {
			return fmt.Errorf("-start: %w", err)
		}
	}
	gen, err := simulator.New(simulator.Config{Stores: ss, Products: ps, Seed: *seed, Start: t0, Rate: *rate})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pos := env("POS_URL", "http://127.0.0.1:8081")
	log.Info("simulating", "pos_url", pos, "stores", len(ss), "products", len(ps), "rate", *rate, "seed", *seed,
		"start", t0.Format(time.RFC3339), "duration", duration.String())
	r := &simulator.Runner{BaseURL: pos, Workers: *workers, ReportEvery: *report, Logger: log}
	st, err := r.Run(ctx, gen, *duration)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(st)
	fmt.Println(string(out))
	return nil
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
