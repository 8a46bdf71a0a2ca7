// Command freshmart-run starts the whole FreshMart platform on this machine (what `make run`
// runs): a local Postgres, the bundled broker, the migrations and every built service, each
// supervised and restarted with backoff, their logs prefixed with their names. Ctrl-C (or
// SIGTERM) stops everything cleanly; a second Ctrl-C exits at once.
//
//	freshmart-run [-root DIR]          run the platform (default)
//	freshmart-run [-root DIR] migrate  apply the migrations to DATABASE_URL and exit
//	freshmart-run [-root DIR] topics   create the FreshMart topics on KAFKA_BROKERS and exit
//
// The two one-shot commands are what a deployment on a real Kafka cluster and Postgres runs
// before the services (see deploy/). Configuration comes from the environment (see package run
// and the README): DATABASE_URL, KAFKA_BROKERS, LOG_LEVEL, FRESHMART_DATA_DIR,
// FRESHMART_BIN_DIR, FRESHMART_HOST, FRESHMART_PORT_BASE, FRESHMART_SKIP,
// FRESHMART_STOP_TIMEOUT. The repository root is the working directory unless -root is given.
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
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: freshmart-run [-root DIR] [run|migrate|topics]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	command := "run"
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if flag.NArg() == 1 {
		command = flag.Arg(0)
	}

	cfg, err := run.ConfigFromEnv(os.Getenv, *root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "freshmart-run: %v\n", err)
		os.Exit(2)
	}
	width := len("postgres")
	for _, s := range run.Services {
		width = max(width, len(s.Name))
	}
	out := run.NewOutput(os.Stdout, run.IsTerminal(os.Stdout), width)

	switch command {
	case "run":
		os.Exit(runPlatform(cfg, out))
	case "migrate":
		err = oneShot(func(ctx context.Context) error {
			if cfg.DatabaseURL == "" {
				return fmt.Errorf("DATABASE_URL is not set")
			}
			return run.ApplyMigrations(ctx, cfg.DatabaseURL)
		})
	case "topics":
		err = oneShot(func(ctx context.Context) error {
			if cfg.KafkaBrokers == "" {
				return fmt.Errorf("KAFKA_BROKERS is not set")
			}
			return run.EnsureTopics(ctx, cfg.KafkaBrokers, out)
		})
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "freshmart-run %s: %v\n", command, err)
		os.Exit(1)
	}
	out.Printf("run", "%s: done", command)
}

// oneShot runs f with a context cancelled by SIGINT/SIGTERM or after five minutes.
func oneShot(f func(context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return f(ctx)
}

// runPlatform runs the platform until the first SIGINT/SIGTERM and returns the exit status.
func runPlatform(cfg run.Config, out *run.Output) int {
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

	if err := run.New(cfg, out, run.ApplyMigrations).Run(ctx); err != nil {
		out.Printf("run", "error: %v", err)
		return 1
	}
	return 0
}
