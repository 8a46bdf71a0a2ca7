// Command loyalty is the benchmark of the loyalty service (`make bench-loyalty`). It measures,
// on this machine:
//
//   - phase 1, the fold: -events (200,000) pos-sales events drawn by the simulator's generator
//     over the real catalog (sales, 45% of them with a loyalty card among 20,000, and 1 in 200
//     voided a few minutes later) are produced straight to pos-sales; then the loyalty service
//     starts in this process and the benchmark times it from its start until its consumer has
//     stored positions covering them all: events folded per second through the real consumer
//     (offsets in the same transaction) into Postgres;
//   - phase 2, the lag: the generator at -rate (100, the simulator's Black Friday) for
//     -duration (60 s), each event produced to pos-sales when its simulated time comes (the
//     simulated clock runs at wall-clock pace, as the simulator does); every 200 ms the
//     benchmark reads the consumer's stored positions and takes, per partition, the age of the
//     oldest produced record not yet consumed: the consumer lag in seconds (p50, p99, max) and in
//     records.
//
// The events go to the broker directly rather than through the POS (bench-dashboard measures
// the POS path), so the figures are the loyalty service's alone. The benchmark starts its own
// throwaway Postgres (fsync off, package pgcluster) and our broker (package brokerproc) and
// removes them afterwards; the service shares the CPUs with the load.
//
// A quick run: `go run ./services/bench/loyalty -events 50000 -duration 20s`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokerproc"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/pgcluster"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/loyalty/app"
	"github.com/freshmart/platform/services/simulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-loyalty:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench-loyalty: "+format+"\n", a...) }

func run() error {
	n := flag.Int("events", 200_000, "pos-sales events of phase 1 (produced, then folded)")
	rate := flag.Float64("rate", 100, "the simulator's rate multiplier in phase 2 (100 = Black Friday)")
	duration := flag.Duration("duration", 60*time.Second, "length of phase 2")
	seed := flag.Uint64("seed", 2026, "seed of the generator")
	timeout := flag.Duration("timeout", 20*time.Minute, "give up on phase 1 after this long")
	flag.Parse()
	if *n < 1 || *rate <= 0 || *duration <= 0 {
		return fmt.Errorf("want -events >= 1, -rate > 0 and a positive -duration")
	}
	cat, err := catalog.Load()
	if err != nil {
		return err
	}
	stores, products, err := simulator.FromCatalog(cat, nil)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "freshmart-bench-loyalty-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("starting Postgres and the broker")
	pg, err := pgcluster.Start()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pg.Stop()
	dsn, err := pg.CreateDatabase(context.Background())
	if err != nil {
		return err
	}
	broker, err := brokerproc.Start(brokerproc.FreshMart, filepath.Join(dir, "broker"))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	defer broker.Stop()
	ctx, stop := kit.SignalContext()
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr), kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(50_000),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return err
	}
	defer cl.Close()
	tr := &tracker{sent: map[int32][]sentAt{}}

	// Phase 1: a backlog, then the service.
	start := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)
	g, err := simulator.New(simulator.Config{Stores: stores, Products: products, Seed: *seed, Start: start, Rate: 1,
		CountsPerMinute: 1e-9, DeliveriesPerHour: 1e-9, Voids: true})
	if err != nil {
		return err
	}
	logf("phase 1: producing %d events to pos-sales", *n)
	t0 := time.Now()
	var cards, voids int
	for produced := 0; produced < *n; {
		ev := g.Next()
		rec, ok := record(ev)
		if !ok {
			continue
		}
		if ev.Sale != nil && ev.Sale.LoyaltyID != "" {
			cards++
		}
		if ev.Void != nil {
			voids++
		}
		cl.Produce(ctx, rec, tr.ackAt(time.Now()))
		produced++
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err := tr.err(); err != nil {
		return err
	}
	produceTime := time.Since(t0)
	total := tr.count()
	logf("produced %d in %s; starting the loyalty service", total, produceTime.Round(100*time.Millisecond))
	svc, err := kit.New(ctx, withEnv(app.Options, map[string]string{"KAFKA_BROKERS": broker.Addr, "DATABASE_URL": dsn,
		"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn"}))
	if err != nil {
		return err
	}
	defer svc.Close()
	t1 := time.Now()
	if _, err := app.New(svc, app.Config{}); err != nil {
		return err
	}
	sctx, sstop := context.WithCancel(ctx)
	defer sstop()
	done := make(chan error, 1)
	go func() { done <- svc.Run(sctx) }()
	pool := svc.Pool
	deadline := time.Now().Add(*timeout)
	for {
		c, err := consumed(ctx, pool)
		if err != nil {
			return err
		}
		if c >= total {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("phase 1: %d of %d consumed after %s", c, total, *timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	foldTime := time.Since(t1)
	var rows, members int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM loyalty.ledger), (SELECT count(*) FROM loyalty.members)`).Scan(&rows, &members); err != nil {
		return err
	}
	logf("folded in %s (%.0f/s)", foldTime.Round(100*time.Millisecond), float64(total)/foldTime.Seconds())

	// Phase 2: the simulator's pace at -rate, and the lag.
	logf("phase 2: generator at -rate %g for %s, produced as simulated time comes", *rate, *duration)
	simStart := time.Now().UTC()
	g2, err := simulator.New(simulator.Config{Stores: stores, Products: products, Seed: *seed + 1, Start: simStart, Rate: *rate,
		CountsPerMinute: 1e-9, DeliveriesPerHour: 1e-9, Voids: true})
	if err != nil {
		return err
	}
	var lags []time.Duration
	var recLags []int64
	var sampleErr error
	sdone := make(chan struct{})
	pstop := make(chan struct{})
	go func() {
		defer close(sdone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pstop:
				return
			case <-tick.C:
			}
			pos, err := positions(ctx, pool)
			if err != nil {
				sampleErr = err
				return
			}
			l, r := tr.lag(pos, time.Now())
			lags, recLags = append(lags, l), append(recLags, r)
		}
	}()
	before := tr.count()
	wall0 := time.Now()
	for {
		ev := g2.Next()
		at := wall0.Add(ev.At.Sub(simStart))
		if at.After(wall0.Add(*duration)) {
			break
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		if rec, ok := record(ev); ok {
			cl.Produce(ctx, rec, tr.ackAt(time.Now()))
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	sent2 := tr.count() - before
	achieved := float64(sent2) / time.Since(wall0).Seconds()
	// Let the consumer catch up, then stop sampling.
	for c, _ := consumed(ctx, pool); c < tr.count() && time.Since(wall0) < *duration+time.Minute; c, _ = consumed(ctx, pool) {
		time.Sleep(20 * time.Millisecond)
	}
	close(pstop)
	<-sdone
	if sampleErr != nil {
		return sampleErr
	}
	sstop()
	<-done

	fmt.Printf("\nFreshMart loyalty benchmark — real catalog (%d stores), own Postgres (fsync off) and broker, service in-process, %d CPUs\n\n",
		len(stores), runtime.NumCPU())
	row := func(k, v string) { fmt.Printf("%-62s %s\n", k, v) }
	row("metric", "value")
	row(strings.Repeat("-", 62), strings.Repeat("-", 30))
	row("phase 1: pos-sales events produced", fmt.Sprintf("%d in %s (%d with a card, %d voids)", total, produceTime.Round(100*time.Millisecond), cards, voids))
	row("phase 1: events folded/s (service start -> all consumed)", fmt.Sprintf("%.0f", float64(total)/foldTime.Seconds()))
	row("phase 1: time to consume them all", foldTime.Round(100*time.Millisecond).String())
	row("phase 1: ledger rows / members", fmt.Sprintf("%d / %d", rows, members))
	row(fmt.Sprintf("phase 2: -rate %g for %s, events produced", *rate, *duration), fmt.Sprintf("%d (%.1f/s)", sent2, achieved))
	row("phase 2: consumer lag p50 / p99 / max (age of oldest unconsumed)", fmt.Sprintf("%s / %s / %s", ms(pct(lags, 0.5)), ms(pct(lags, 0.99)), ms(pct(lags, 1))))
	row("phase 2: consumer lag in records p50 / max", fmt.Sprintf("%d / %d", pcti(recLags, 0.5), pcti(recLags, 1)))
	row("phase 2: lag samples", fmt.Sprintf("%d (every 200 ms)", len(lags)))
	return nil
}

func withEnv(o kit.Options, env map[string]string) kit.Options {
	o.Env = kit.Map(env)
	return o
}

// record turns a generated sale or void into its pos-sales record (key store_id), as the POS
// produces it.
func record(ev simulator.Event) (*kgo.Record, bool) {
	var typ string
	var payload any
	switch {
	case ev.Sale != nil:
		typ, payload = schemas.TypeSaleCompleted, ev.Sale
	case ev.Void != nil:
		typ, payload = schemas.TypeSaleVoided, ev.Void
	default:
		return nil, false
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, false
	}
	env := events.Envelope{ID: uuid.NewString(), Type: typ, Source: "freshmart/pos", Time: ev.At.UTC()}
	return events.NewRecord(schemas.TopicPOSSales, ev.StoreID, env, b), true
}

type sentAt struct {
	offset int64
	at     time.Time
}

// tracker keeps when every acknowledged record was sent, per partition in offset order.
type tracker struct {
	mu    sync.Mutex
	sent  map[int32][]sentAt
	n     int64
	first error
}

// ackAt returns the produce callback of a record sent at sent.
func (t *tracker) ackAt(sent time.Time) func(*kgo.Record, error) {
	return func(r *kgo.Record, err error) { t.ack(r, sent, err) }
}

func (t *tracker) ack(r *kgo.Record, sent time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if t.first == nil {
			t.first = err
		}
		return
	}
	t.sent[r.Partition] = append(t.sent[r.Partition], sentAt{r.Offset, sent})
	t.n++
}

func (t *tracker) count() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *tracker) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first
}

// lag returns the age of the oldest record not consumed yet by pos (next offset per
// partition) and how many records are not consumed.
func (t *tracker) lag(pos map[int32]int64, now time.Time) (time.Duration, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var age time.Duration
	var behind int64
	for p, s := range t.sent {
		next := pos[p]
		i := sort.Search(len(s), func(i int) bool { return s[i].offset >= next })
		if i < len(s) {
			age = max(age, now.Sub(s[i].at))
			behind += int64(len(s) - i)
		}
	}
	return age, behind
}

func positions(ctx context.Context, pool *pgxpool.Pool) (map[int32]int64, error) {
	rows, err := pool.Query(ctx, `SELECT partition, next_offset FROM loyalty.consumer_offsets WHERE group_id = $1 AND topic = $2`,
		app.Group, schemas.TopicPOSSales)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var p int32
		var o int64
		if err := rows.Scan(&p, &o); err != nil {
			return nil, err
		}
		out[p] = o
	}
	return out, rows.Err()
}

func consumed(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT coalesce(sum(next_offset), 0) FROM loyalty.consumer_offsets WHERE group_id = $1 AND topic = $2`,
		app.Group, schemas.TopicPOSSales).Scan(&n)
	return n, err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[int(p*float64(len(ds)-1))]
}

func pcti(xs []int64, p float64) int64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[int(p*float64(len(xs)-1))]
}
