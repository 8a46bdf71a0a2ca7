// Command complaints is the benchmark of the complaints service (`make bench-complaints`): a
// replay of -complaints (1,000,000) complaints over -stores (200) stores × -skus (5,000) SKUs
// through the service, then the alert latency at a steady rate. It measures, on this machine:
//
//   - phase 1, the fold: the complaints are produced straight to customer-complaints (the
//     idempotent acks=all producer of package events, so every envelope is valid), drawn by the
//     simulator's generator over the catalog (0.5 background complaints per store per minute and
//     a bad batch of fresh produce every -bad-batch-every, 1 minute: about 5% of them, each a
//     spike; their filed_at spans days and ends an hour before now); then the complaints service starts in this process and the benchmark times it from
//     its start until its consumer has consumed them all (the sum of complaints.consumer_offsets
//     reaches the topic's end offsets): complaints folded per second. The spike rule runs for
//     every store and SKU as in production, the episodes it finds raise alerts through the
//     outbox, and those already over are resolved by their timers, which fire at once; the time
//     until the outbox is relayed and no timer is due is reported too;
//   - phase 2, the alert latency: -rate complaints per second (100) for -duration (30 s) through
//     POST /v1/complaints, three for each store and SKU that phase 1 left untouched (the
//     first, second and third of a round of -rate/2 pairs, a round every 1.5 s at 100/s,
//     filed_at the time of posting), so each third complaint makes a spike by the rule (3
//     within 30 minutes); the time from the 202 of a pair's last complaint to its
//     alert.complaint_spike being read from store-alerts, p50, p99 and max.
//
// The catalog is synthetic (catalog.Parse of generated JSON: stores S0001..S0200 in five US time
// zones, SKUs PRD-00001..PRD-05000 over the eleven departments of the real one, 50 vendors), given
// to the service by complaints/app.Config.Catalog. The benchmark starts its own throwaway
// Postgres (fsync off, package pgcluster) and our broker (fsync on, package brokerproc), and
// removes them afterwards. The service runs in the benchmark's process, so it shares the CPUs
// with the load. Where fsync is slow, the tails of phase 2 are the broker's fsyncs (the broker
// reads BROKER_DURABILITY from the environment: =none shows the difference).
//
// A quick run: `go run ./services/bench/complaints -complaints 100000` (make bench-complaints
// ARGS="-complaints 100000").
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokerproc"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/pgcluster"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/complaints/app"
	"github.com/freshmart/platform/services/simulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-complaints:", err)
		os.Exit(1)
	}
}

type options struct {
	complaints    int
	stores, skus  int
	badBatchEvery time.Duration
	rate          int
	duration      time.Duration
	producers     int
	seed          uint64
	timeout       time.Duration
}

func run() error {
	var o options
	flag.IntVar(&o.complaints, "complaints", 1_000_000, "complaints of phase 1 (produced to customer-complaints, then folded)")
	flag.IntVar(&o.stores, "stores", 200, "stores of the synthetic catalog (at most 9999)")
	flag.IntVar(&o.skus, "skus", 5000, "SKUs of the synthetic catalog (at most 999999)")
	flag.DurationVar(&o.badBatchEvery, "bad-batch-every", time.Minute, "mean time between bad batches in phase 1's simulated time (each makes a spike)")
	flag.IntVar(&o.rate, "rate", 100, "complaints per second through POST /v1/complaints in phase 2")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of phase 2")
	flag.IntVar(&o.producers, "producers", 4, "goroutines producing phase 1 (each validates its complaints against the schema)")
	flag.Uint64Var(&o.seed, "seed", 2026, "seed of the complaints")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on a phase after this long")
	flag.Parse()
	switch {
	case o.complaints < 1:
		return fmt.Errorf("-complaints %d: want at least 1", o.complaints)
	case o.stores < 1 || o.stores > 9999 || o.skus < 1 || o.skus > 999_999:
		return fmt.Errorf("-stores %d -skus %d: want 1 to 9999 stores and 1 to 999999 SKUs", o.stores, o.skus)
	case o.rate < 2 || o.duration <= 0:
		return fmt.Errorf("-rate %d -duration %s: want at least 2 complaints a second for a positive duration", o.rate, o.duration)
	case o.producers < 1:
		return fmt.Errorf("-producers %d: want at least 1", o.producers)
	}
	cat, err := syntheticCatalog(o.stores, o.skus)
	if err != nil {
		return err
	}
	env, err := startEnv()
	if err != nil {
		return err
	}
	defer env.stop()
	ctx, stop := kit.SignalContext()
	defer stop()

	fmt.Fprintf(os.Stderr, "bench-complaints: phase 1: producing %d complaints over %d stores × %d SKUs\n", o.complaints, o.stores, o.skus)
	p1, err := produce(ctx, o, cat, env.broker.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-complaints: produced in %s; starting the complaints service\n", p1.produceTime.Round(100*time.Millisecond))
	svc, err := startService(ctx, env, cat)
	if err != nil {
		return err
	}
	defer svc.stop()
	if err := fold(ctx, o, svc, p1); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-complaints: folded in %s (%.0f/s); waiting for the outbox and the timers\n",
		p1.foldTime.Round(100*time.Millisecond), float64(p1.records)/p1.foldTime.Seconds())
	if err := drain(ctx, o, svc, p1); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-complaints: phase 2: %d complaints/s through POST /v1/complaints for %s\n", o.rate, o.duration)
	pairs := pickPairs(o, cat, p1.used)
	p1.used = nil // the collector may have it
	if len(pairs) == 0 {
		return errors.New("phase 2: every store and SKU has complaints from phase 1: use more -stores or -skus")
	}
	p2, err := latency(ctx, o, svc, env.broker.Addr, pairs)
	if err != nil {
		return err
	}

	fmt.Printf("\nFreshMart complaints benchmark — %d stores × %d SKUs, own Postgres (fsync off) and broker (fsync on), service in-process, %d CPUs\n\n",
		o.stores, o.skus, runtime.NumCPU())
	fmt.Printf("%-64s %s\n", "metric", "value")
	fmt.Printf("%-64s %s\n", strings.Repeat("-", 64), strings.Repeat("-", 28))
	row := func(k, v string) { fmt.Printf("%-64s %s\n", k, v) }
	row("phase 1: complaints produced to customer-complaints", fmt.Sprintf("%d in %s (%.0f/s, %d producers)", p1.records,
		p1.produceTime.Round(100*time.Millisecond), float64(p1.records)/p1.produceTime.Seconds(), o.producers))
	row("phase 1: simulated span of their filed_at", fmt.Sprintf("%s (%d with a SKU, %d in bad batches)", p1.span.Round(time.Minute), p1.withSKU, p1.inBatches))
	row("phase 1: complaints folded/s (service start -> all consumed)", fmt.Sprintf("%.0f", float64(p1.records)/p1.foldTime.Seconds()))
	row("phase 1: time to consume them all", p1.foldTime.Round(100*time.Millisecond).String())
	row("phase 1: service start -> first batch committed", p1.firstBatch.Round(10*time.Millisecond).String())
	row("phase 1: folded/s from the first batch on", fmt.Sprintf("%.0f", float64(p1.records)/(p1.foldTime-p1.firstBatch).Seconds()))
	row("phase 1: complaints stored / episodes (resolved) / chain spikes", fmt.Sprintf("%d / %d (%d) / %d", p1.stored, p1.episodes, p1.resolved, p1.chains))
	row("phase 1: alerts emitted (outbox rows)", fmt.Sprintf("%d", p1.alerts))
	row("phase 1: after the fold, until relayed and no timer due", p1.drainTime.Round(10*time.Millisecond).String())
	row(fmt.Sprintf("phase 2: steady rate (target %d/s for %s), achieved", o.rate, o.duration), fmt.Sprintf("%.1f complaints/s", p2.achieved))
	row("phase 2: POST /v1/complaints 202 p50 / p99", fmt.Sprintf("%s / %s", ms(p2.post50), ms(p2.post99)))
	row("phase 2: non-202 answers / transport errors", fmt.Sprintf("%d / %d", p2.rejected, p2.errors))
	row("phase 2: third complaint's 202 -> alert on store-alerts p50", ms(p2.p50))
	row("phase 2: third complaint's 202 -> alert on store-alerts p99", ms(p2.p99))
	row("phase 2: third complaint's 202 -> alert on store-alerts max", ms(p2.max))
	row("phase 2: spike alerts seen / pairs given a third complaint", fmt.Sprintf("%d / %d", p2.seen, p2.pairs))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[int(p*float64(len(ds)-1))]
}

// syntheticCatalog builds a catalog of n stores and m SKUs over the departments of the real one.
func syntheticCatalog(n, m int) (*catalog.Catalog, error) {
	base, err := catalog.Load()
	if err != nil {
		return nil, err
	}
	type doc struct {
		Departments []catalog.Department `json:"departments"`
		Vendors     []catalog.Vendor     `json:"vendors"`
		Stores      []catalog.Store      `json:"stores"`
		Products    []catalog.Product    `json:"products"`
	}
	d := doc{Departments: base.Departments()}
	for i := range 50 {
		d.Vendors = append(d.Vendors, catalog.Vendor{VendorID: fmt.Sprintf("V%03d", i+1), Name: fmt.Sprintf("Vendor %d", i+1)})
	}
	zones := []string{"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix"}
	for i := range n {
		d.Stores = append(d.Stores, catalog.Store{StoreID: fmt.Sprintf("S%04d", i+1), Name: fmt.Sprintf("FreshMart %04d", i+1),
			City: "Springfield", State: "US", Timezone: zones[i%len(zones)]})
	}
	for i := range m {
		dept := d.Departments[i%len(d.Departments)]
		d.Products = append(d.Products, catalog.Product{SKU: fmt.Sprintf("PRD-%05d", i+1), Name: fmt.Sprintf("%s item %05d", dept.Name, i+1),
			Department: dept.ID, Unit: "each", PriceCents: int64(99 + (i*37)%900), LowStockThreshold: 10, ReorderQty: 24,
			VendorID: d.Vendors[i%len(d.Vendors)].VendorID, InitialStock: 100})
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return catalog.Parse(b)
}

// benchEnv is the throwaway Postgres and broker.
type benchEnv struct {
	dir    string
	pg     *pgcluster.Cluster
	dsn    string
	broker *brokerproc.Broker
}

func startEnv() (*benchEnv, error) {
	e := &benchEnv{}
	var err error
	if e.dir, err = os.MkdirTemp("", "freshmart-bench-complaints-"); err != nil {
		return nil, err
	}
	fail := func(err error) (*benchEnv, error) { e.stop(); return nil, err }
	fmt.Fprintln(os.Stderr, "bench-complaints: starting Postgres")
	if e.pg, err = pgcluster.Start(); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	if e.dsn, err = e.pg.CreateDatabase(context.Background()); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	fmt.Fprintln(os.Stderr, "bench-complaints: starting the broker")
	if e.broker, err = brokerproc.Start(brokerproc.FreshMart, filepath.Join(e.dir, "broker")); err != nil {
		return fail(fmt.Errorf("broker: %w", err))
	}
	return e, nil
}

func (e *benchEnv) stop() {
	if e.broker != nil {
		if err := e.broker.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-complaints: stop the broker:", err)
		}
		for _, line := range strings.Split(e.broker.Log(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				fmt.Fprintln(os.Stderr, "bench-complaints: broker:", line)
			}
		}
	}
	if e.pg != nil {
		if err := e.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-complaints: stop Postgres:", err)
		}
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// phase1 is what phase 1 produced and found.
type phase1 struct {
	records              int64
	ends                 map[int32]int64 // end offset per partition of customer-complaints
	used                 map[string]bool // store/SKU pairs complained about
	span                 time.Duration
	withSKU, inBatches   int
	produceTime          time.Duration
	foldTime, firstBatch time.Duration
	drainTime            time.Duration
	stored, episodes     int64
	resolved             int64
	chains, alerts       int64
}

// produce draws the complaints with the simulator's generator and produces them, each store's
// in filed_at order (a producer goroutine per share of the stores).
func produce(ctx context.Context, o options, cat *catalog.Catalog, broker string) (*phase1, error) {
	stores, products, err := simulator.FromCatalog(cat, nil)
	if err != nil {
		return nil, err
	}
	perMinute := simulator.DefaultComplaintsPerMinute*float64(len(stores)) + 5/o.badBatchEvery.Minutes()
	span := time.Duration(float64(o.complaints) / perMinute * float64(time.Minute))
	start := time.Now().UTC().Add(-time.Hour - span).Truncate(time.Second)
	g, err := simulator.New(simulator.Config{Stores: stores, Products: products, Seed: o.seed, Start: start,
		SalesPerMinute: 1e-9, CountsPerMinute: 1e-9, DeliveriesPerHour: 1e-9,
		Complaints: true, BadBatchEvery: o.badBatchEvery})
	if err != nil {
		return nil, err
	}
	p, err := events.NewProducer(events.ProducerConfig{Brokers: []string{broker}, Source: "freshmart/bench",
		DeliveryTimeout: time.Minute, Opts: []kgo.Opt{kgo.ProducerLinger(2 * time.Millisecond), kgo.MaxBufferedRecords(50_000)}})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	r := &phase1{ends: map[int32]int64{}, used: map[string]bool{}}
	work := make([]chan *schemas.ComplaintFiled, o.producers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now()
	for i := range work {
		work[i] = make(chan *schemas.ComplaintFiled, 1024)
		wg.Go(func() {
			var flights []*events.Flight
			wait := func() {
				for _, f := range flights {
					<-f.Done()
					mu.Lock()
					if err := f.Err(); err != nil && firstErr == nil {
						firstErr = err
					} else if err == nil {
						r.ends[f.Partition] = max(r.ends[f.Partition], f.Offset+1)
					}
					mu.Unlock()
				}
				flights = flights[:0]
			}
			for c := range work[i] {
				b, err := json.Marshal(c)
				if err == nil {
					var f *events.Flight
					if f, err = p.Start(events.Out{Topic: schemas.TopicCustomerComplaints, Key: c.StoreID, Type: schemas.TypeComplaintFiled,
						ID: c.ComplaintID, Payload: json.RawMessage(b)}); err == nil {
						flights = append(flights, f)
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = firstOf(firstErr, err)
					mu.Unlock()
				}
				if len(flights) >= 5000 {
					wait()
				}
			}
			wait()
		})
	}
	shard := map[string]int{}
	for i, s := range stores {
		shard[s.ID] = i % o.producers
	}
	var last time.Time
	for n := 0; n < o.complaints && ctx.Err() == nil; {
		ev := g.Next()
		if ev.Kind != simulator.KindComplaint {
			continue
		}
		c := ev.Complaint
		if c.SKU != "" {
			r.withSKU++
			r.used[c.StoreID+"/"+c.SKU] = true
		}
		if ev.BadBatch > 0 {
			r.inBatches++
		}
		last = c.FiledAt
		work[shard[c.StoreID]] <- c
		n++
	}
	for _, w := range work {
		close(w)
	}
	wg.Wait()
	if err := firstOf(ctx.Err(), firstErr); err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	r.produceTime = time.Since(t0)
	r.span = last.Sub(start)
	for _, n := range r.ends {
		r.records += n
	}
	if r.records != int64(o.complaints) {
		return nil, fmt.Errorf("produce: %d records on the topic for %d complaints", r.records, o.complaints)
	}
	return r, nil
}

// firstOf returns the first error that is not nil.
func firstOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// service is the complaints service running in this process.
type service struct {
	s     *kit.Service
	url   string
	pool  *pgxpool.Pool
	start time.Time
	stopF context.CancelFunc
	done  chan error
}

func startService(ctx context.Context, e *benchEnv, cat *catalog.Catalog) (*service, error) {
	opts := app.Options
	opts.Env = kit.Map(map[string]string{"KAFKA_BROKERS": e.broker.Addr, "DATABASE_URL": e.dsn, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn"})
	bctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := kit.New(bctx, opts)
	if err != nil {
		return nil, fmt.Errorf("complaints service: %w", err)
	}
	if _, err := app.New(s, app.Config{Catalog: cat}); err != nil {
		s.Close()
		return nil, fmt.Errorf("complaints service: %w", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	svc := &service{s: s, pool: s.Pool, stopF: stop, done: make(chan error, 1), start: time.Now()}
	go func() { svc.done <- s.Run(runCtx) }()
	select {
	case <-s.Listening():
	case err := <-svc.done:
		stop()
		s.Close()
		return nil, fmt.Errorf("complaints service stopped before listening: %v", err)
	}
	svc.url = "http://" + s.Addr().String()
	return svc, nil
}

func (svc *service) stop() {
	svc.stopF()
	select {
	case err := <-svc.done:
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-complaints: the complaints service stopped with", err)
		}
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "bench-complaints: the complaints service did not stop within 30s")
	}
	svc.s.Close()
}

func (svc *service) count(ctx context.Context, q string) (int64, error) {
	var n int64
	err := svc.pool.QueryRow(ctx, q).Scan(&n)
	return n, err
}

// fold waits until the service's consumer has consumed every record of phase 1.
func fold(ctx context.Context, o options, svc *service, r *phase1) error {
	deadline := time.Now().Add(o.timeout)
	lastReport := time.Now()
	for {
		n, err := svc.count(ctx, `SELECT coalesce(sum(next_offset), 0)::bigint FROM complaints.consumer_offsets
			WHERE group_id = 'complaints' AND topic = 'customer-complaints'`)
		if err != nil {
			return fmt.Errorf("fold: %w", err)
		}
		now := time.Now()
		if n > 0 && r.firstBatch == 0 {
			r.firstBatch = now.Sub(svc.start)
		}
		if n >= r.records {
			r.foldTime = now.Sub(svc.start)
			break
		}
		if now.After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("fold: %d of %d consumed after %s", n, r.records, now.Sub(svc.start).Round(time.Second))
		}
		if now.Sub(lastReport) >= 10*time.Second {
			lastReport = now
			fmt.Fprintf(os.Stderr, "bench-complaints: %d of %d consumed (%.0f/s so far)\n", n, r.records, float64(n)/now.Sub(svc.start).Seconds())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var err error
	if r.stored, err = svc.count(ctx, `SELECT count(*) FROM complaints.complaints`); err != nil {
		return err
	}
	if r.stored != r.records {
		return fmt.Errorf("fold: %d complaints stored of %d consumed", r.stored, r.records)
	}
	return nil
}

// drain waits until the outbox is relayed and no timer is due, then counts what phase 1 made.
func drain(ctx context.Context, o options, svc *service, r *phase1) error {
	t0 := time.Now()
	deadline := t0.Add(o.timeout)
	for {
		pending, err := svc.count(ctx, `SELECT count(*) FROM complaints.outbox WHERE sent_at IS NULL`)
		if err != nil {
			return err
		}
		due, err := svc.count(ctx, `SELECT count(*) FROM complaints.consumer_timers WHERE fire_at <= now()`)
		if err != nil {
			return err
		}
		if pending == 0 && due == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("drain: %d alerts not relayed, %d timers due after %s", pending, due, time.Since(t0).Round(time.Second))
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.drainTime = time.Since(t0)
	var err error
	if r.episodes, err = svc.count(ctx, `SELECT count(*) FROM complaints.episodes`); err != nil {
		return err
	}
	if r.resolved, err = svc.count(ctx, `SELECT count(*) FROM complaints.episodes WHERE status = 'resolved'`); err != nil {
		return err
	}
	if r.chains, err = svc.count(ctx, `SELECT count(*) FROM complaints.chain_spikes`); err != nil {
		return err
	}
	r.alerts, err = svc.count(ctx, `SELECT count(*) FROM complaints.outbox`)
	return err
}

type phase2 struct {
	achieved         float64
	post50, post99   time.Duration
	rejected, errors int64
	p50, p99, max    time.Duration
	seen, pairs      int
}

// pairState is one store and SKU of phase 2: its complaints' 202s, and when its alert was read.
type pairState struct {
	store, sku string
	acked      int
	lastAck    time.Time
	alertAt    time.Time
}

var hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// pickPairs returns the store/SKU pairs of phase 2, in posting order: as many as take three
// complaints each at rate for duration, in whole rounds of rate/2, none of them in used.
func pickPairs(o options, cat *catalog.Catalog, used map[string]bool) []*pairState {
	stores, products := cat.Stores(), cat.Products()
	rng := rand.New(rand.NewPCG(o.seed, 2))
	per := max(o.rate/2, 1)
	n := int(o.duration.Seconds() * float64(o.rate))
	rounds := max(n/(3*per), 1)
	seen := map[string]bool{}
	order := make([]*pairState, 0, rounds*per)
	for tries := 0; len(order) < rounds*per && tries < 100*rounds*per; tries++ {
		s, p := stores[rng.IntN(len(stores))].StoreID, products[rng.IntN(len(products))].SKU
		k := s + "/" + p
		if used[k] || seen[k] {
			continue
		}
		seen[k] = true
		order = append(order, &pairState{store: s, sku: p})
	}
	return order[:len(order)/per*per]
}

// latency posts rate complaints a second, three for each pair of order in rounds of rate/2
// pairs that get their first, second and third complaint in turn, and times each pair's alert
// from the 202 of its last complaint.
func latency(ctx context.Context, o options, svc *service, broker string, order []*pairState) (phase2, error) {
	var r phase2
	adm, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return r, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, schemas.TopicStoreAlerts)
	adm.Close()
	if err != nil {
		return r, fmt.Errorf("store-alerts end offsets: %w", err)
	}
	from := map[string]map[int32]kgo.Offset{schemas.TopicStoreAlerts: {}}
	if err := ends.Error(); err != nil {
		return r, fmt.Errorf("store-alerts end offsets: %w", err)
	}
	ends.Each(func(e kadm.ListedOffset) { from[schemas.TopicStoreAlerts][e.Partition] = kgo.NewOffset().At(e.Offset) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumePartitions(from), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return r, err
	}
	defer cl.Close()

	var mu sync.Mutex
	pairs := map[string]*pairState{}
	for _, ps := range order {
		pairs[ps.store+"/"+ps.sku] = ps
	}
	r.pairs = len(order)
	per := max(o.rate/2, 1)
	rounds := len(order) / per

	// Read the alerts as they come.
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for readCtx.Err() == nil {
			fs := cl.PollFetches(readCtx)
			at := time.Now()
			fs.EachRecord(func(rec *kgo.Record) {
				ev, err := events.Parse(rec)
				if err != nil || ev.Type != schemas.TypeAlertComplaintSpike {
					return
				}
				sp, err := events.Decode[schemas.ComplaintSpike](ev)
				if err != nil {
					return
				}
				mu.Lock()
				if ps := pairs[sp.StoreID+"/"+sp.SKU]; ps != nil && ps.alertAt.IsZero() {
					ps.alertAt = at
				}
				mu.Unlock()
			})
		}
	}()

	var posts []time.Duration
	var sent, rejected, errs atomic.Int64
	interval := time.Second / time.Duration(o.rate)
	var wg sync.WaitGroup
	start := time.Now()
	i := 0
	for round := 0; round < rounds && ctx.Err() == nil; round++ {
		batch := order[round*per : (round+1)*per]
		for nth := range 3 {
			for _, ps := range batch {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				i++
				wg.Go(func() {
					body := complaintBody(ps.store, ps.sku, nth)
					t0 := time.Now()
					resp, err := hc.Post(svc.url+"/v1/complaints", "application/json", bytes.NewReader(body))
					if err != nil {
						errs.Add(1)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					acked := time.Now()
					if resp.StatusCode != http.StatusAccepted {
						rejected.Add(1)
						return
					}
					sent.Add(1)
					mu.Lock()
					posts = append(posts, acked.Sub(t0))
					ps.acked++
					if acked.After(ps.lastAck) {
						ps.lastAck = acked
					}
					mu.Unlock()
				})
			}
		}
	}
	sendTime := time.Since(start)
	wg.Wait()
	r.achieved = float64(sent.Load()) / sendTime.Seconds()
	r.rejected, r.errors = rejected.Load(), errs.Load()
	// Wait for the last alerts (at most half a minute).
	complete := func() (seen, want int) {
		mu.Lock()
		defer mu.Unlock()
		for _, ps := range order {
			if ps.acked == 3 {
				want++
				if !ps.alertAt.IsZero() {
					seen++
				}
			}
		}
		return seen, want
	}
	for wait := time.Now().Add(30 * time.Second); time.Now().Before(wait); time.Sleep(50 * time.Millisecond) {
		if seen, want := complete(); seen == want {
			break
		}
	}
	stopRead()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for _, ps := range order {
		if ps.acked == 3 && !ps.alertAt.IsZero() {
			lat = append(lat, max(ps.alertAt.Sub(ps.lastAck), 0))
		}
	}
	r.seen = len(lat)
	if len(lat) == 0 {
		return r, errors.New("phase 2: no spike alert was read from store-alerts")
	}
	r.post50, r.post99 = pct(posts, 0.50), pct(posts, 0.99)
	r.p50, r.p99, r.max = pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1)
	return r, nil
}

var phase2Texts = []string{"The strawberries were mouldy the day after I bought them.", "Already rotten inside.", "Smelled off straight out of the bag."}

func complaintBody(store, sku string, nth int) []byte {
	b, _ := json.Marshal(map[string]any{
		"complaint_id": uuid.NewString(), "store_id": store, "sku": sku,
		"filed_at": time.Now().UTC().Format(time.RFC3339Nano), "channel": "app", "category": "product_quality",
		"severity": 4, "text": phase2Texts[nth%len(phase2Texts)],
	})
	return b
}
