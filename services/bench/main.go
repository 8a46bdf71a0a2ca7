// Command bench is the platform benchmark of the POS and inventory services (run by
// scripts/bench.sh, `make bench`). It measures, on this machine:
//
//   - throughput: sales accepted per second by POST /v1/sales (acks=all, idempotent producer)
//     with -clients concurrent lanes for -duration, and the p50/p99 of the 202; then how long
//     the inventory takes to catch up, and so the rate at which it folded those sales;
//   - freshness: at a steady -rate sales per second (default 200) for -duration, the time from a
//     sale's 202 to its stock change being visible in GET /v1/stock, p50/p99, over the probed
//     sales (every -probe-every'th sale is polled every -poll, backing off to a tenth of the time
//     waited so far).
//
// Target: -pos and -inventory name a running platform (for example `make run`: the defaults
// http://127.0.0.1:8081 and :8082 are used when both answer /healthz). Otherwise, or with
// -own, it starts its own: a throwaway Postgres (fsync off, package pgcluster), the broker
// (-broker freshmart, the default, or kfake; package brokerproc) with fsync on, and the pos and
// inventory binaries, all on free ports, and removes them afterwards; the broker's warnings and
// errors are printed when it stops. Against a platform whose simulator is running, the freshness figure
// is approximate (a simulated sale of the same item can be taken for the probe's).
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
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/brokerproc"
	"github.com/freshmart/platform/internal/loopback"
	"github.com/freshmart/platform/internal/pgcluster"
	"github.com/freshmart/platform/services/catalog"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	posURL, invURL string
	own            bool
	broker         string
	clients        int
	duration       time.Duration
	rate           int
	probeEvery     int
	poll           time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.posURL, "pos", "", "POS base URL of a running platform (default: http://127.0.0.1:8081 if it answers)")
	flag.StringVar(&o.invURL, "inventory", "", "inventory base URL of a running platform (default: http://127.0.0.1:8082 if it answers)")
	flag.BoolVar(&o.own, "own", false, "always start an own platform on free ports")
	flag.StringVar(&o.broker, "broker", "freshmart", "broker of an own platform: freshmart or kfake")
	flag.IntVar(&o.clients, "clients", 64, "concurrent POS clients in the throughput phase")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "length of each phase")
	flag.IntVar(&o.rate, "rate", 200, "sales per second in the freshness phase")
	flag.IntVar(&o.probeEvery, "probe-every", 4, "probe every n-th sale of the freshness phase")
	flag.DurationVar(&o.poll, "poll", 5*time.Millisecond, "GET /v1/stock polling interval of a probe")
	flag.Parse()

	cat, err := catalog.Load()
	if err != nil {
		return err
	}
	target := "running platform"
	if !o.own && o.posURL == "" && o.invURL == "" && healthy("http://127.0.0.1:8081") && healthy("http://127.0.0.1:8082") {
		o.posURL, o.invURL = "http://127.0.0.1:8081", "http://127.0.0.1:8082"
	}
	if o.own || o.posURL == "" || o.invURL == "" {
		p, err := startPlatform(o.broker)
		if err != nil {
			return err
		}
		defer p.stop()
		o.posURL, o.invURL = p.posURL, p.invURL
		target = fmt.Sprintf("own platform (broker %s, fsync on; Postgres fsync off)", o.broker)
	}
	fmt.Fprintf(os.Stderr, "bench: POS %s, inventory %s (%s)\n", o.posURL, o.invURL, target)

	var stores []string
	for _, s := range cat.Stores() {
		stores = append(stores, s.StoreID)
	}
	var skus []string
	for _, p := range cat.Products() {
		skus = append(skus, p.SKU)
	}

	fmt.Fprintf(os.Stderr, "bench: throughput phase: %d clients for %s\n", o.clients, o.duration)
	tp, err := throughput(o, stores, skus)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: waiting for the inventory to catch up")
	t0 := time.Now()
	if err := waitCaughtUp(o, stores, skus, 10*time.Minute); err != nil {
		return err
	}
	catchUp := time.Since(t0)
	fmt.Fprintf(os.Stderr, "bench: freshness phase: %d sales/s for %s\n", o.rate, o.duration)
	fr, err := freshness(o, stores, skus)
	if err != nil {
		return err
	}

	fmt.Printf("\nFreshMart platform benchmark — %s, %d CPUs\n\n", target, runtime.NumCPU())
	fmt.Printf("%-52s %s\n", "metric", "value")
	fmt.Printf("%-52s %s\n", strings.Repeat("-", 52), strings.Repeat("-", 22))
	row := func(k, v string) { fmt.Printf("%-52s %s\n", k, v) }
	row(fmt.Sprintf("POS sales accepted/s (acks=all, %d clients, %s)", o.clients, o.duration), fmt.Sprintf("%.0f", tp.perSec))
	row("POS 202 latency p50 / p99 (throughput phase)", fmt.Sprintf("%s / %s", ms(tp.p50), ms(tp.p99)))
	row("POS non-202 answers / transport errors", fmt.Sprintf("%d / %d", tp.rejected, tp.errors))
	row("inventory catch-up after the throughput phase", catchUp.Round(100*time.Millisecond).String())
	// The inventory folds the phase's sales from its start until it has caught up: a lower
	// bound of its capacity when it falls behind the POS (and just the POS rate when it does not).
	row("inventory sales folded/s over phase + catch-up", fmt.Sprintf("%.0f", float64(tp.accepted)/(tp.elapsed+catchUp).Seconds()))
	row(fmt.Sprintf("steady rate (target %d/s), achieved", o.rate), fmt.Sprintf("%.1f sales/s", fr.achieved))
	row("POS 202 latency p50 / p99 (steady rate)", fmt.Sprintf("%s / %s", ms(fr.post50), ms(fr.post99)))
	row("sale 202 -> visible in GET /v1/stock p50 / p99", fmt.Sprintf("%s / %s", ms(fr.p50), ms(fr.p99)))
	row("freshness probes (seen / sent)", fmt.Sprintf("%d / %d", fr.seen, fr.probes))
	row("probe resolution", fmt.Sprintf("%s, then 10%% of the wait", o.poll))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func healthy(base string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// sale returns a one-line sale body.
func sale(store, sku string, qty int) []byte {
	b, _ := json.Marshal(map[string]any{
		"sale_id": uuid.NewString(), "store_id": store, "register": "R90",
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano),
		"lines":       []map[string]any{{"sku": sku, "qty": qty, "unit_price_cents": 199}},
		"payment":     map[string]any{"method": "card"},
	})
	return b
}

func postSale(posURL string, body []byte) (int, error) {
	resp, err := hc.Post(posURL+"/v1/sales", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(p * float64(len(ds)-1))
	return ds[i]
}

type tpResult struct {
	accepted         int64         // sales answered 202
	elapsed          time.Duration // length of the phase
	perSec           float64
	p50, p99         time.Duration
	rejected, errors int64
}

func throughput(o options, stores, skus []string) (tpResult, error) {
	var r tpResult
	var ok, rejected, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var mine []time.Duration
			for time.Now().Before(deadline) {
				body := sale(stores[rng.IntN(len(stores))], skus[rng.IntN(len(skus))], 1)
				t0 := time.Now()
				code, err := postSale(o.posURL, body)
				switch {
				case err != nil:
					errs.Add(1)
				case code == http.StatusAccepted:
					ok.Add(1)
					mine = append(mine, time.Since(t0))
				default:
					rejected.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	if ok.Load() == 0 {
		return r, fmt.Errorf("throughput phase: no sale accepted (%d rejected, %d errors)", rejected.Load(), errs.Load())
	}
	r.accepted, r.elapsed = ok.Load(), el
	r.perSec = float64(ok.Load()) / el.Seconds()
	r.p50, r.p99 = pct(lat, 0.50), pct(lat, 0.99)
	r.rejected, r.errors = rejected.Load(), errs.Load()
	return r, nil
}

// waitCaughtUp posts one sale per store and waits until each is visible in GET /v1/stock: a
// store's sales share one partition, so then the inventory has caught up with everything posted
// before.
func waitCaughtUp(o options, stores, skus []string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for i, store := range stores {
		sku := skus[i%len(skus)]
		before, err := onHand(o.invURL, store, sku)
		if err != nil {
			return err
		}
		if code, err := postSale(o.posURL, sale(store, sku, 1)); err != nil || code != http.StatusAccepted {
			return fmt.Errorf("catch-up sale for %s: %d %v", store, code, err)
		}
		for {
			v, err := onHand(o.invURL, store, sku)
			if err == nil && v <= before-1 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("inventory did not catch up within %s (store %s)", d, store)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The inventory also reads back its own stock.level events (inventory-updates): wait until
	// the outbox is relayed and every partition's lag is zero, twice in a row.
	zero := 0
	for zero < 2 {
		pending, lag, err := backlog(o.invURL)
		if err == nil && pending == 0 && lag == 0 {
			zero++
		} else {
			zero = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("inventory backlog not worked off within %s (outbox %v, lag %v, %v)", d, pending, lag, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return nil
}

// backlog reads the inventory's unsent outbox rows and total consumer lag from /metrics.
func backlog(invURL string) (pending, lag float64, err error) {
	resp, err := hc.Get(invURL + "/metrics")
	if err != nil {
		return -1, -1, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1, -1, err
	}
	seen := 0
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(f[1], &v); err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, `freshmart_outbox_pending{schema="inventory"}`):
			pending += v
			seen |= 1
		case strings.HasPrefix(line, `freshmart_consumer_lag{group="inventory"`):
			lag += v
			seen |= 2
		}
	}
	if seen != 3 {
		return -1, -1, errors.New("outbox or lag metrics missing")
	}
	return pending, lag, nil
}

type frResult struct {
	achieved       float64
	probes, seen   int
	p50, p99       time.Duration
	post50, post99 time.Duration
}

func onHand(invURL, store, sku string) (int64, error) {
	resp, err := hc.Get(invURL + "/v1/stock?store_id=" + store + "&sku=" + sku)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Items []struct {
			OnHand int64 `json:"on_hand"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Items) != 1 {
		return 0, fmt.Errorf("GET /v1/stock %s %s: %d items, %v", store, sku, len(v.Items), err)
	}
	return v.Items[0].OnHand, nil
}

// freshness sends sales at a steady rate; every probeEvery'th one sells one unit of an item no
// other probe is using, reads the item's level first, and polls GET /v1/stock from the 202 on
// until the level has dropped.
func freshness(o options, stores, skus []string) (frResult, error) {
	var r frResult
	var mu sync.Mutex
	var vis, posts []time.Duration
	var sent atomic.Int64
	interval := time.Second / time.Duration(o.rate)
	n := int(o.duration / interval)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		store, sku := stores[i%len(stores)], skus[(i/len(stores))%len(skus)]
		// Consecutive sales walk through every store/SKU, so no two sales in flight share an item.
		probe := i%o.probeEvery == 0
		wg.Go(func() {
			var before int64
			if probe {
				var err error
				if before, err = onHand(o.invURL, store, sku); err != nil {
					probe = false
				}
			}
			t0 := time.Now()
			code, err := postSale(o.posURL, sale(store, sku, 1))
			if err != nil || code != http.StatusAccepted {
				return
			}
			acked := time.Now()
			sent.Add(1)
			mu.Lock()
			posts = append(posts, acked.Sub(t0))
			if probe {
				r.probes++
			}
			mu.Unlock()
			if !probe {
				return
			}
			// Poll every -poll at first, then back off to a tenth of the time waited so far, so
			// that slow answers do not multiply the polling load and slow the inventory further.
			for deadline := acked.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(max(o.poll, min(time.Since(acked)/10, 250*time.Millisecond))) {
				if v, err := onHand(o.invURL, store, sku); err == nil && v <= before-1 {
					mu.Lock()
					vis = append(vis, time.Since(acked))
					r.seen++
					mu.Unlock()
					return
				}
			}
		})
	}
	sendDone := time.Since(start)
	wg.Wait()
	r.achieved = float64(sent.Load()) / sendDone.Seconds()
	if len(vis) == 0 {
		return r, errors.New("freshness phase: no probe became visible in GET /v1/stock")
	}
	r.p50, r.p99 = pct(vis, 0.50), pct(vis, 0.99)
	r.post50, r.post99 = pct(posts, 0.50), pct(posts, 0.99)
	return r, nil
}

// platform is a self-started Postgres, broker, POS and inventory.
type platform struct {
	pg             *pgcluster.Cluster
	broker         *brokerproc.Broker
	dir            string
	procs          []*exec.Cmd // the services
	posURL, invURL string
}

func startPlatform(broker string) (*platform, error) {
	p := &platform{}
	var err error
	if p.dir, err = os.MkdirTemp("", "freshmart-bench-"); err != nil {
		return nil, err
	}
	fail := func(err error) (*platform, error) { p.stop(); return nil, err }
	if broker != brokerproc.FreshMart && broker != brokerproc.KFake {
		return fail(fmt.Errorf("-broker %q: want %s or %s", broker, brokerproc.FreshMart, brokerproc.KFake))
	}
	pkgs := map[string]string{
		"pos":       "./services/cmd/pos",
		"inventory": "./services/cmd/inventory",
	}
	for name, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(p.dir, name), pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fail(fmt.Errorf("go build %s (run from the repository root): %w", pkg, err))
		}
	}
	fmt.Fprintln(os.Stderr, "bench: starting Postgres")
	if p.pg, err = pgcluster.Start(); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	dsn, err := p.pg.CreateDatabase(context.Background())
	if err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	fmt.Fprintf(os.Stderr, "bench: starting the broker (%s)\n", broker)
	if p.broker, err = brokerproc.Start(broker, filepath.Join(p.dir, "broker")); err != nil {
		return fail(fmt.Errorf("broker: %w", err))
	}
	env := []string{"KAFKA_BROKERS=" + p.broker.Addr, "DATABASE_URL=" + dsn, "LOG_LEVEL=warn"}
	for _, svc := range []string{"pos", "inventory"} {
		addr, err := loopback.Addr()
		if err != nil {
			return fail(err)
		}
		if err := p.start(filepath.Join(p.dir, svc), append(env, "HTTP_ADDR="+addr)); err != nil {
			return fail(err)
		}
		url := "http://" + addr
		if svc == "pos" {
			p.posURL = url
		} else {
			p.invURL = url
		}
		deadline := time.Now().Add(time.Minute)
		for !healthy(url) {
			if time.Now().After(deadline) {
				return fail(fmt.Errorf("%s did not answer /healthz within a minute", svc))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return p, nil
}

func (p *platform) start(bin string, env []string) error {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	p.procs = append(p.procs, cmd)
	return nil
}

func (p *platform) stop() {
	for i := len(p.procs) - 1; i >= 0; i-- {
		cmd := p.procs[i]
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	if p.broker != nil {
		if err := p.broker.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stop the broker:", err)
		}
		// The broker logs to a file in p.dir: pass on what it warned about before that goes.
		for _, line := range strings.Split(p.broker.Log(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				fmt.Fprintln(os.Stderr, "bench: broker:", line)
			}
		}
	}
	if p.pg != nil {
		if err := p.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stop Postgres:", err)
		}
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}
