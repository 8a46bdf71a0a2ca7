// Command reorder is the benchmark of the reorder service (`make bench-reorder`). It starts
// its own throwaway Postgres (fsync off, package pgcluster) and our broker (fsync on, package
// brokerproc), runs the reorder service in this process (the real consumer, outbox relay,
// timers and email sender, spooling to a temporary directory) and measures:
//
//   - phase 1, the fold: -events (200,000) events produced straight to the topics first, then
//     the service started and timed until its consumer's positions reach the topics' ends:
//     events folded per second. The mix is what store-alerts and vendor-deliveries carry: 60%
//     alert.low_stock for a random store and SKU of a synthetic catalog of the chain's size
//     (-stores 6 × -skus 230 over 50 vendors: the first alert of a store and SKU makes an order
//     line, grouped per vendor and store, a later alert outside the window sealing the order and
//     composing its email; the rest find the line open), 30% alert.restocked (passed over, as
//     the service's own alerts are), 10% delivery.received without a purchase order (a
//     mismatch alert through the outbox). -stores 200 -skus 2000 is the worst case, where
//     nearly every alert makes a line, every order's seal timer is due at once (the events are
//     two days old) and every order's email is written and synced;
//   - phase 2, the lag: -rate events per second (500) for -duration (30 s), the same mix, each
//     event's time from the broker's acknowledgement until the consumer's stored position covers
//     it (consumer_offsets, polled every 10 ms), p50, p99 and max. The default rate is the
//     simulator's `-rate 100` bound for the chain's six stores: 100 × 50 sales a minute × 6
//     stores is 500 sales a second, and each sale can cross at most one SKU below its threshold
//     (plus 100 × 5 deliveries an hour per store), so store-alerts and vendor-deliveries carry
//     fewer events than that.
//
// A quick run: `go run ./services/bench/reorder -events 50000 -duration 10s`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	"github.com/freshmart/platform/services/reorder/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-reorder:", err)
		os.Exit(1)
	}
}

type options struct {
	events       int
	stores, skus int
	rate         int
	duration     time.Duration
	seed         uint64
	timeout      time.Duration
}

func run() error {
	var o options
	flag.IntVar(&o.events, "events", 200_000, "events of phase 1 (produced first, then folded)")
	flag.IntVar(&o.stores, "stores", 6, "stores of the synthetic catalog (at most 9999; the chain has 6)")
	flag.IntVar(&o.skus, "skus", 230, "SKUs of the synthetic catalog (at most 99999; the chain has 230)")
	flag.IntVar(&o.rate, "rate", 500, "events per second in phase 2")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of phase 2")
	flag.Uint64Var(&o.seed, "seed", 2026, "seed of the events")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up on a phase after this long")
	flag.Parse()
	if o.events < 1 || o.stores < 1 || o.stores > 9999 || o.skus < 1 || o.skus > 99_999 || o.rate < 1 || o.duration <= 0 {
		return fmt.Errorf("want -events ≥ 1, -stores 1..9999, -skus 1..99999, -rate ≥ 1, -duration > 0")
	}
	cat, err := syntheticCatalog(o.stores, o.skus)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "freshmart-bench-reorder-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "bench-reorder: starting Postgres and the broker")
	pg, err := pgcluster.Start()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pg.Stop() //nolint:errcheck // a throwaway cluster
	dsn, err := pg.CreateDatabase(context.Background())
	if err != nil {
		return err
	}
	broker, err := brokerproc.Start(brokerproc.FreshMart, filepath.Join(dir, "broker"))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	defer broker.Stop() //nolint:errcheck // a throwaway broker
	ctx, stop := kit.SignalContext()
	defer stop()
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: []string{broker.Addr}, Source: "freshmart/bench",
		DeliveryTimeout: time.Minute, Opts: []kgo.Opt{kgo.ProducerLinger(2 * time.Millisecond), kgo.MaxBufferedRecords(50_000)}})
	if err != nil {
		return err
	}
	defer prod.Close()
	g := &gen{rng: rand.New(rand.NewPCG(o.seed, o.seed+1)), stores: cat.Stores(), products: cat.Products(),
		at: time.Now().UTC().Add(-48 * time.Hour)}

	fmt.Fprintf(os.Stderr, "bench-reorder: phase 1: producing %d events\n", o.events)
	t0 := time.Now()
	var wg sync.WaitGroup
	var perr error
	var mu sync.Mutex
	for range o.events {
		out := g.next(time.Second / 20)
		f, err := prod.Start(out)
		if err != nil {
			return err
		}
		wg.Go(func() {
			<-f.Done()
			if err := f.Err(); err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if perr != nil {
		return perr
	}
	fmt.Fprintf(os.Stderr, "bench-reorder: produced in %s; starting the reorder service\n", time.Since(t0).Round(100*time.Millisecond))
	opts := app.Options
	opts.Env = kit.Map(map[string]string{"KAFKA_BROKERS": broker.Addr, "DATABASE_URL": dsn, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn"})
	bctx, cancel := context.WithTimeout(ctx, time.Minute)
	s, err := kit.New(bctx, opts)
	cancel()
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := app.New(s, app.Config{Catalog: cat, SpoolDir: filepath.Join(dir, "mail")}); err != nil {
		return err
	}
	runCtx, stopSvc := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Run(runCtx) }()
	defer func() { stopSvc(); <-done }()
	total := int64(o.events)
	for {
		n, err := consumed(ctx, s.Pool)
		if err != nil {
			return err
		}
		if n >= total {
			break
		}
		if time.Since(start) > o.timeout || ctx.Err() != nil {
			return fmt.Errorf("phase 1: %d of %d consumed after %s", n, total, time.Since(start).Round(time.Second))
		}
		time.Sleep(20 * time.Millisecond)
	}
	foldTime := time.Since(start)
	var orders, lines, emails int64
	if err := s.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM reorder.purchase_orders), (SELECT count(*) FROM reorder.po_lines),
		(SELECT count(*) FROM reorder.emails)`).Scan(&orders, &lines, &emails); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-reorder: folded in %s\n", foldTime.Round(10*time.Millisecond))

	fmt.Fprintf(os.Stderr, "bench-reorder: phase 2: %d events/s for %s\n", o.rate, o.duration)
	g.at = time.Now().UTC()
	lat, err := lag(ctx, o, g, prod, s.Pool)
	if err != nil {
		return err
	}
	fmt.Printf("reorder benchmark (stores %d, SKUs %d, GOMAXPROCS %d)\n", o.stores, o.skus, runtime.GOMAXPROCS(0))
	fmt.Printf("phase 1: %d events (60%% alert.low_stock, 30%% alert.restocked, 10%% delivery.received) folded in %s: %.0f events/s\n",
		o.events, foldTime.Round(10*time.Millisecond), float64(o.events)/foldTime.Seconds())
	fmt.Printf("         %d purchase orders, %d lines, %d emails composed\n", orders, lines, emails)
	fmt.Printf("phase 2: %d events/s for %s (%d events): lag from ack to folded p50 %s, p99 %s, max %s\n",
		o.rate, o.duration, len(lat), ms(pct(lat, 0.50)), ms(pct(lat, 0.99)), ms(pct(lat, 1)))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s)-1)+0.5))]
}

// consumed is how many records the consumer has stored positions past.
func consumed(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT coalesce(sum(next_offset), 0)::bigint FROM reorder.consumer_offsets WHERE group_id = $1`, app.Group).Scan(&n)
	return n, err
}

// lag produces at o.rate for o.duration and returns each event's time from its
// acknowledgement to the consumer's stored position passing it.
func lag(ctx context.Context, o options, g *gen, prod *events.Producer, pool *pgxpool.Pool) ([]time.Duration, error) {
	type pending struct {
		key   string
		off   int64
		acked time.Time
	}
	var mu sync.Mutex
	var waiting []pending
	var out []time.Duration
	byTopic := map[string][]time.Duration{}
	stopPoll := make(chan struct{})
	pollDone := make(chan error, 1)
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopPoll:
				pollDone <- nil
				return
			case <-t.C:
			}
			rows, err := pool.Query(ctx, `SELECT topic || '/' || partition, next_offset FROM reorder.consumer_offsets WHERE group_id = $1`, app.Group)
			if err != nil {
				pollDone <- err
				return
			}
			pos := map[string]int64{}
			for rows.Next() {
				var k string
				var n int64
				if err := rows.Scan(&k, &n); err != nil {
					rows.Close()
					pollDone <- err
					return
				}
				pos[k] = n
			}
			rows.Close()
			now := time.Now()
			mu.Lock()
			kept := waiting[:0]
			for _, p := range waiting {
				if pos[p.key] > p.off {
					out = append(out, now.Sub(p.acked))
					topic := p.key[:strings.LastIndexByte(p.key, '/')]
					byTopic[topic] = append(byTopic[topic], now.Sub(p.acked))
				} else {
					kept = append(kept, p)
				}
			}
			waiting = kept
			mu.Unlock()
		}
	}()
	interval := time.Second / time.Duration(o.rate)
	start := time.Now()
	var wg sync.WaitGroup
	n := 0
	for time.Since(start) < o.duration {
		due := start.Add(time.Duration(n) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		n++
		ev := g.next(interval)
		f, err := prod.Start(ev)
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			<-f.Done()
			if f.Err() != nil {
				return
			}
			mu.Lock()
			waiting = append(waiting, pending{key: fmt.Sprintf("%s/%d", ev.Topic, f.Partition), off: f.Offset, acked: time.Now()})
			mu.Unlock()
		})
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		left := len(waiting)
		mu.Unlock()
		if left == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stopPoll)
	if err := <-pollDone; err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waiting) > 0 {
		return nil, fmt.Errorf("phase 2: %d events not folded a minute after the last was produced", len(waiting))
	}
	topics := make([]string, 0, len(byTopic))
	for k := range byTopic {
		topics = append(topics, k)
	}
	slices.Sort(topics)
	for _, k := range topics {
		fmt.Fprintf(os.Stderr, "bench-reorder: phase 2 lag on %s: %d events, p50 %s, p99 %s, max %s\n", k, len(byTopic[k]),
			ms(pct(byTopic[k], 0.5)), ms(pct(byTopic[k], 0.99)), ms(pct(byTopic[k], 1)))
	}
	return out, nil
}

// gen draws the benchmark's events, their times advancing by step each.
type gen struct {
	rng      *rand.Rand
	stores   []catalog.Store
	products []catalog.Product
	at       time.Time
}

func (g *gen) next(step time.Duration) events.Out {
	g.at = g.at.Add(step)
	st := g.stores[g.rng.IntN(len(g.stores))]
	p := g.products[g.rng.IntN(len(g.products))]
	switch r := g.rng.IntN(10); {
	case r < 6:
		a := schemas.StockAlert{AlertID: uuid.NewString(), StoreID: st.StoreID, SKU: p.SKU, OnHand: 2, Threshold: 10, At: g.at}
		return events.Out{Topic: schemas.TopicStoreAlerts, Key: st.StoreID, Type: schemas.TypeAlertLowStock, ID: a.AlertID, Payload: a}
	case r < 9:
		a := schemas.StockAlert{AlertID: uuid.NewString(), StoreID: st.StoreID, SKU: p.SKU, OnHand: 40, Threshold: 10, At: g.at}
		return events.Out{Topic: schemas.TopicStoreAlerts, Key: st.StoreID, Type: schemas.TypeAlertRestocked, ID: a.AlertID, Payload: a}
	default:
		d := schemas.DeliveryReceived{DeliveryID: uuid.NewString(), StoreID: st.StoreID, VendorID: p.VendorID, ReceivedAt: g.at,
			Lines: []schemas.QtyLine{{SKU: p.SKU, Qty: 24}}}
		return events.Out{Topic: schemas.TopicVendorDeliveries, Key: st.StoreID, Type: schemas.TypeDeliveryReceived, ID: d.DeliveryID, Payload: d}
	}
}

// syntheticCatalog is n stores and m SKUs over 50 vendors (with emails and lead days), packs
// of 12.
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
		d.Vendors = append(d.Vendors, catalog.Vendor{VendorID: fmt.Sprintf("V%03d", i+1), Name: fmt.Sprintf("Vendor %d", i+1),
			Email: fmt.Sprintf("orders@vendor-%d.example", i+1), LeadDays: 1 + i%4})
	}
	zones := []string{"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix"}
	for i := range n {
		d.Stores = append(d.Stores, catalog.Store{StoreID: fmt.Sprintf("S%04d", i+1), Name: fmt.Sprintf("FreshMart %04d", i+1),
			City: "Springfield", State: "US", Timezone: zones[i%len(zones)], Address: fmt.Sprintf("%d Main St", i+1), PostalCode: "12345"})
	}
	for i := range m {
		dept := d.Departments[i%len(d.Departments)]
		d.Products = append(d.Products, catalog.Product{SKU: fmt.Sprintf("PRD-%05d", i+1), Name: fmt.Sprintf("%s item %05d", dept.Name, i+1),
			Department: dept.ID, Unit: "each", PriceCents: int64(99 + (i*37)%900), LowStockThreshold: 10, ReorderQty: 30,
			VendorID: d.Vendors[i%len(d.Vendors)].VendorID, InitialStock: 100, PackSize: 12, NetQty: 1, NetUnit: "ct"})
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	c, err := catalog.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("synthetic catalog: %w", err)
	}
	return c, nil
}
