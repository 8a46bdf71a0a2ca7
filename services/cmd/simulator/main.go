// Command simulator stands in for the checkout lanes, dock scanners and warehouse scanners of
// every store, and for its customers: it posts sales, their voids, deliveries and warehouse
// counts to the POS API (POS_URL, default http://127.0.0.1:8081) and complaints to the
// complaints service (COMPLAINTS_URL, default http://127.0.0.1:8083) at realistic rates until
// it is stopped or -duration has passed, and prints what it sent, what was accepted and what
// failed (and the voids skipped because their sale was not accepted).
//
//	simulator [-rate 1] [-stores S001,S002] [-seed N] [-duration 0] [-start RFC3339] [-workers 16]
//	          [-complaints=true] [-voids=true] [-probe ws://127.0.0.1:8080/ws]
//
// Complaints come about 3 a minute for the chain at -rate 1, now and then a bad batch of fresh
// produce among them that makes a spike alert (the first within the first few minutes); see
// package simulator. Their filed_at is the simulated clock, so they are turned off (with a
// warning) when -start is more than a day in the past or more than a few minutes ahead, which
// the complaints intake would refuse. A complaints service that does not answer does not hold up
// the rest: its complaints are counted as failed. -complaints=false files none.
//
// About 1 accepted sale in 200 is voided at its register 2 to 6 simulated minutes later (POST
// /v1/sales/{sale_id}/void, with a reason such as "duplicate scan"), once the POS accepted it;
// the voids of sales it did not accept are skipped (counted). The POS refuses a voided_at more
// than 5 minutes past its clock, so they are turned off (with a warning) when -start is more
// than a few minutes ahead. -voids=false voids none.
//
// By default it first takes each store's stock from the inventory service (INVENTORY_URL,
// default http://127.0.0.1:8082), so a restart carries on from the real shelves; -sync-stock=false
// starts from the catalog's initial stock (what a repeatable seeded run wants, with
// -purchasing=false).
//
// Sales are charged the prices in force (promotions included) of the pricing service
// (PRICING_URL, default http://127.0.0.1:8084), read for every store every 3 seconds; when it
// does not answer, the catalog's prices (or the last ones read) are charged and the log says so.
// About 1 line in 2,000 is charged a stale price on purpose, for the price-accuracy panel to
// find. -prices=false, or a -start that is not now, charges the catalog's prices.
//
// It also answers the reorder service's purchase orders (REORDER_URL, default
// http://127.0.0.1:8087), as the vendors would: each order whose email was sent is delivered
// through the POS dock API -deliver-after later (2 minutes: the vendor's lead days, compressed),
// now and then short or over, and invoiced to the reorder service 30 s after that, now and then
// at a changed price (package simulator, Purchasing). A reorder service that does not answer
// holds up nothing: the simulator says so and carries on. With purchasing on (the default) these
// are the only deliveries: the lanes' stream sends none of its own (a delivery naming no real
// order would be a mismatch alert), and the units each delivery brings are added to the
// simulated shelves, so the stores restock from their purchase orders (low stock -> alert ->
// order -> delivery). -purchasing=false turns it off, and then the simulated scheduled trucks
// restock the shelves instead (about 5 deliveries per store an hour, naming no purchase order).
//
// With -probe it also watches the dashboard's live websocket and reports, at exit, how long
// accepted sales took from the POS's 202 to their appearance on the dashboard (p50, p99, max).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/freshmart/platform/internal/kit"
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
	fileComplaints := flag.Bool("complaints", true, "file customer complaints to the complaints service (COMPLAINTS_URL)")
	voids := flag.Bool("voids", true, "void about 1 accepted sale in 200 a few minutes after it")
	syncStock := flag.Bool("sync-stock", true, "start from the inventory service's stock (INVENTORY_URL) when it answers; false starts from the catalog's initial stock")
	charge := flag.Bool("prices", true, "charge the prices in force of the pricing service (PRICING_URL), read every few seconds; false charges the catalog's")
	probeURL := flag.String("probe", "", "dashboard websocket to measure sale-to-dashboard latency on, e.g. ws://127.0.0.1:8080/ws")
	purchasing := flag.Bool("purchasing", true, "deliver and invoice the reorder service's purchase orders (REORDER_URL)")
	deliverAfter := flag.Duration("deliver-after", 2*time.Minute, "time from a purchase order's email to its delivery (the vendor's lead days, compressed)")
	flag.Parse()

	if *rate <= 0 {
		return fmt.Errorf("-rate %v: want a positive multiplier (1 = normal day, 100 = Black Friday)", *rate)
	}
	if *workers <= 0 {
		return fmt.Errorf("-workers %d: want at least 1", *workers)
	}
	log, err := kit.OS.Logger("simulator", nil)
	if err != nil {
		return err
	}

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
	wallStart := time.Now()
	if *start != "" {
		if t0, err = time.Parse(time.RFC3339, *start); err != nil {
			return fmt.Errorf("-start: %w", err)
		}
	}
	if now := time.Now(); *fileComplaints && (t0.Before(now.Add(-24*time.Hour+time.Minute)) || t0.After(now.Add(4*time.Minute))) {
		log.Warn("not filing complaints: the complaints intake takes a filed_at from 24 hours back to 5 minutes ahead, and -start is not within that",
			"start", t0.Format(time.RFC3339))
		*fileComplaints = false
	}
	if *voids && t0.After(time.Now().Add(4*time.Minute)) {
		log.Warn("not voiding sales: the POS takes a voided_at at most 5 minutes ahead of its clock, and -start is further ahead",
			"start", t0.Format(time.RFC3339))
		*voids = false
	}
	gen, err := simulator.New(simulator.Config{Stores: ss, Products: ps, Seed: *seed, Start: t0, Rate: *rate,
		Complaints: *fileComplaints, Voids: *voids, Purchasing: *purchasing})
	if err != nil {
		return err
	}
	ctx, stop := kit.SignalContext()
	defer stop()
	if *syncStock {
		inv := kit.OS.String("INVENTORY_URL", kit.DefaultInventoryURL)
		// The inventory service may still be starting next to us: give it half a minute.
		var n int
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err = simulator.LoadStock(ctx, &http.Client{Timeout: 5 * time.Second}, inv, gen)
			if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			log.Warn("starting from the catalog's initial stock: inventory did not answer", "inventory_url", inv, "err", err)
		} else {
			log.Info("starting from the inventory's stock", "inventory_url", inv, "figures", n)
		}
	}
	pos := kit.OS.String("POS_URL", kit.DefaultPOSURL)
	complaints := ""
	if *fileComplaints {
		complaints = kit.OS.String("COMPLAINTS_URL", defaultComplaintsURL)
		if !healthy(ctx, complaints) {
			log.Warn("the complaints service does not answer /healthz (yet): complaints it does not take are counted as failed",
				"complaints_url", complaints)
		}
	}
	log.Info("simulating", "pos_url", pos, "complaints_url", complaints, "stores", len(ss), "products", len(ps), "rate", *rate,
		"voids", *voids, "seed", *seed, "start", t0.Format(time.RFC3339), "duration", duration.String())
	r := &simulator.Runner{BaseURL: pos, ComplaintsURL: complaints, Workers: *workers, ReportEvery: *report, Logger: log}
	if now := time.Now(); *charge && (t0.Before(now.Add(-5*time.Minute)) || t0.After(now.Add(5*time.Minute))) {
		log.Warn("charging the catalog's prices: the prices in force are today's, and -start is not now", "start", t0.Format(time.RFC3339))
		*charge = false
	}
	var prices *simulator.Prices
	if *charge {
		prices = &simulator.Prices{URL: kit.OS.String("PRICING_URL", defaultPricingURL), Logger: log, Seed: *seed}
		for _, s := range ss {
			prices.Stores = append(prices.Stores, s.ID)
		}
		prices.Refresh(ctx) //nolint:errcheck // logged; Run reads again every few seconds
		go prices.Run(ctx)
		r.Charge = prices.Charge
	}
	var probe *simulator.Probe
	probeDone := make(chan error, 1)
	probeCtx, stopProbe := context.WithCancel(context.Background())
	defer stopProbe()
	if *probeURL != "" {
		probe = simulator.NewProbe()
		r.OnAccepted = func(ev simulator.Event, at time.Time) {
			if ev.Kind == simulator.KindSale {
				probe.Accepted(ev.ID(), at)
			}
		}
		go func() { probeDone <- probe.Watch(probeCtx, *probeURL) }()
	}
	var buyer *simulator.Purchasing
	buyerDone := make(chan struct{})
	buyerCtx, stopBuyer := context.WithCancel(ctx)
	defer stopBuyer()
	if *purchasing {
		buyer = &simulator.Purchasing{POSURL: pos, ReorderURL: kit.OS.String("REORDER_URL", defaultReorderURL), DeliverAfter: *deliverAfter,
			Seed: *seed, Logger: log, OnDelivered: gen.Restock, Now: func() time.Time { return t0.Add(time.Since(wallStart)) }}
		go func() { buyer.Run(buyerCtx); close(buyerDone) }()
	} else {
		close(buyerDone)
	}
	began := time.Now()
	st, err := r.Run(ctx, gen, *duration)
	stopBuyer()
	<-buyerDone
	if err != nil {
		return err
	}
	elapsed := time.Since(began)
	out := map[string]any{"stats": st, "seconds": elapsed.Seconds(),
		"sales_accepted_per_second": float64(st.Sales.Accepted) / elapsed.Seconds()}
	if prices != nil {
		n, stale := prices.Stale()
		out["prices"] = map[string]int64{"lines_at_prices_in_force": n, "lines_stale_on_purpose": stale}
	}
	if buyer != nil {
		out["purchasing"] = buyer.Stats()
	}
	if probe != nil {
		// Give the last sales a moment to reach the dashboard.
		wait := time.Now().Add(5 * time.Second)
		for probe.Summary().Missing > 0 && time.Now().Before(wait) {
			time.Sleep(50 * time.Millisecond)
		}
		stopProbe()
		if err := <-probeDone; err != nil {
			log.Warn("probe", "err", err)
		}
		out["dashboard"] = probe.Summary()
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	return nil
}

// defaultPricingURL is where the pricing service answers by default (make run).
const defaultPricingURL = "http://127.0.0.1:8084"

// defaultReorderURL is where the reorder service answers by default (make run).
const defaultReorderURL = "http://127.0.0.1:8087"

// defaultComplaintsURL is where the complaints service answers by default (make run).
const defaultComplaintsURL = "http://127.0.0.1:8083"

// healthy reports whether base answers GET /healthz with 200 within a few seconds.
func healthy(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
