// Command freshmart-run starts the whole FreshMart platform on this machine (what `make run`
// runs): a local Postgres, the bundled broker, the migrations and every built service, each
// supervised and restarted with backoff, their logs prefixed with their names. Ctrl-C (or
// SIGTERM) stops everything cleanly; a second Ctrl-C exits at once.
//
// Configuration comes from the environment (see package run and the README): DATABASE_URL,
// KAFKA_BROKERS, LOG_LEVEL, FRESHMART_DATA_DIR, FRESHMART_BIN_DIR, FRESHMART_HOST,
// FRESHMART_PORT_BASE, FRESHMART_SKIP, FRESHMART_STOP_TIMEOUT. The repository root is the
// working directory unless -root is given.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/freshmart/platform/scripts/run"
)

func main() {
	root := flag.String("root", ".", "repository root (holds bin/ and .data/)")
	flag.Parse()

	cfg, err := run.ConfigFromEnv(os.Getenv, *root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "freshmart-run: %v\n", err)
		os.Exit(2)
	}
	width := len("broker")
	for _, s := range run.Services {
		width = max(width, len(s.Name))
	}
	out := run.NewOutput(os.Stdout, run.IsTerminal(os.Stdout), width)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sigs
		cancel()
		first := time.Now()
		for {
			<-sigs
			// A signal sent to the process and to its group arrives twice; only a later one
			// is a second interrupt.
			if time.Since(first) > time.Second {
				break
			}
		}
		out.Printf("run", "second interrupt: exiting now (the children get SIGTERM; Postgres keeps running and is reused next time)")
		os.Exit(130)
	}()

	p := run.New(cfg, out, run.ApplyMigrations)
	if err := p.Run(ctx); err != nil {
		out.Printf("run", "error: %v", err)
		os.Exit(1)
	}
}
