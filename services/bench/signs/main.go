// Command signs is `make bench-signs`: the shelf-signs hub against a hub built on
// github.com/centrifugal/centrifuge, side by side in one run, on this machine.
//
// It starts a throwaway Postgres (pgcluster, migrations applied) and the FreshMart broker
// (brokerproc), builds the two hubs (services/bench/signs/hub: signsapp on the kit;
// services/bench/signs/centrifugehub: the peer) and runs each in turn as its own process, so
// that the CPU time and RSS read from /proc/<pid> are the hub's alone. For each hub:
//
//   - -signs websocket clients (default 10,000) connect over loopback, spread over the six
//     stores, each showing 1 to 12 SKUs; -hot-signs of them (default 2,000) show the hot SKU.
//     Ours authenticate with a token each (issued before); the peer's speak centrifuge's JSON
//     protocol and are subscribed server-side to one channel per SKU. Both acknowledge every
//     message they receive, as the signs' protocol has them do: ours with the ack frame, the
//     peer's with the same frame in centrifuge's async message ("send"), which the peer reads
//     and keeps per client (-no-ack: neither acknowledges).
//   - (a) one chain-wide price change of the hot SKU: a price.changed per store;
//   - (b) a promotion on every SKU of the catalog at once: -skus SKUs (default 500), so a
//     promo.started per store and SKU (3,000 events). The chain's catalog has 230 products;
//     the bench runs every process (pricing, both hubs, the migrations' seed) on a catalog of
//     its own (CATALOG_FILE) holding them and as many more, copies of them under new SKUs
//     (BEN-0231 ...), as -skus asks for.
//
// The trigger (-trigger api, the default) is the real pricing service (services/cmd/pricing,
// started by the bench with PRICING_SIGNS=off, so that the measured hub is the only hub on the
// machine): (a) is PUT /v1/prices/{sku} without a store, (b) POST /v1/promotions
// starting now, and a phase's clock starts at the API's answer. With -trigger events the same
// events are produced to display-updates with acks=all and the clock starts when the broker has
// acknowledged the last of them (the hub alone, without pricing's transaction and outbox relay).
// Each sign's time is when it has received every
// change it shows (for (a) the hot SKU's new price; for (b) the promotion on each of its SKUs).
// A sign that got its frames before the last acknowledgement counts 0. Every phase starts on
// an idle machine (settle: below 10% busy over 250 ms), so what one phase leaves behind (the
// hub storing 10,000 acknowledgements, Postgres) does not delay the next, and a hub's CPU of a
// phase is read once the machine is idle after it, so that work is charged to its phase.
// Reported: p50, p99 and max over the signs, how many got everything, and the hub's CPU seconds and RSS, per 1,000
// connections. The goal: p99 under 0.5 s for (a) and (b), and ahead of the centrifuge hub.
//
// The open-file limit is raised to its hard limit first (the hubs inherit it).
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/internal/brokerproc"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/loopback"
	"github.com/freshmart/platform/internal/pgcluster"
	"github.com/freshmart/platform/migrations"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/signs/signsapp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-signs:", err)
		os.Exit(1)
	}
}

type options struct {
	signs, hot int
	hubs       string
	seed       uint64
	timeout    time.Duration
	noAck      bool
	trigger    string
	profile    string
	perf       bool
	rounds     int
	skus       int
}

func run() error {
	var o options
	flag.IntVar(&o.signs, "signs", 10000, "signs connected to each hub")
	flag.IntVar(&o.hot, "hot-signs", 2000, "signs showing the SKU of the chain-wide price change")
	flag.StringVar(&o.hubs, "hubs", "ours,centrifuge", "hubs to measure, in order")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the signs' SKUs")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "longest wait for a phase's frames")
	flag.StringVar(&o.trigger, "trigger", "api", "api: the pricing service's PUT /v1/prices and POST /v1/promotions; events: produce the events directly")
	flag.IntVar(&o.skus, "skus", 500, "SKUs of the bench's catalog, all promoted in (b): the chain's products, then copies of them under new SKUs")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of (a) and (b) per hub; the round with the median p99 is reported (with -trigger api each (b) waits for a new minute)")
	flag.StringVar(&o.profile, "profile", "", "directory for each hub's pprof profiles: heap and goroutines with every sign connected, CPU of each phase")
	flag.BoolVar(&o.perf, "perf", false, "with -profile: record the whole machine (every process, the kernel's part too) during each phase with perf record -a -g, into <kind>-<phase>.perf.data")
	flag.BoolVar(&o.noAck, "no-ack", false, "the signs do not acknowledge frames (to see what acks cost; not the protocol)")
	flag.Parse()
	if o.hot > o.signs {
		return errors.New("-hot-signs exceeds -signs")
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}
	if o.perf && o.profile == "" {
		return errors.New("-perf needs -profile (the directory of its recordings)")
	}
	if o.perf {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("-perf: %w", err)
		}
	}
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	if err := raiseNoFile(); err != nil {
		return err
	}
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "bench-signs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// Every process of the bench (this one's migrations, pricing, the hubs) loads this catalog.
	catFile := filepath.Join(tmp, "catalog.json")
	if err := writeCatalog(catFile, o.skus); err != nil {
		return err
	}
	if err := os.Setenv(catalog.EnvFile, catFile); err != nil {
		return err
	}
	cat, err := catalog.Load()
	if err != nil {
		return err
	}
	fmt.Println("bench-signs: starting Postgres, the broker, building the hubs ...")
	pg, err := pgcluster.Start()
	if err != nil {
		return err
	}
	defer pg.Stop()
	dsn, err := pg.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	if err := migrations.ApplyDSN(ctx, dsn); err != nil {
		return err
	}
	br, err := brokerproc.Start(brokerproc.FreshMart, filepath.Join(tmp, "broker"))
	if err != nil {
		return err
	}
	defer br.Stop()
	if err := build(tmp); err != nil {
		return err
	}
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: []string{br.Addr}, Source: "freshmart/pricing"})
	if err != nil {
		return err
	}
	defer prod.Close()
	var api *pricingAPI
	switch o.trigger {
	case "api":
		if api, err = startPricing(tmp, br.Addr, dsn); err != nil {
			return err
		}
		defer api.stop()
	case "events":
	default:
		return fmt.Errorf("-trigger %q: want api or events", o.trigger)
	}
	plan := makePlan(cat, o)
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	fmt.Printf("bench-signs: %d signs (%d show %s), %d SKU subscriptions, 6 stores, open-file limit %d\n",
		len(plan.signs), o.hot, plan.hot, plan.subs, lim.Cur)
	var results []result
	for i, kind := range strings.Split(o.hubs, ",") {
		r, err := measure(ctx, kind, i, tmp, br.Addr, dsn, cat, prod, api, plan, o)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		results = append(results, r)
	}
	report(results, len(plan.signs))
	return nil
}

func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-file limit to %d: %w", lim.Max, err)
	}
	return nil
}

func build(dir string) error {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./services/bench/signs/hub", "./services/bench/signs/centrifugehub", "./services/cmd/pricing")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the hubs: %w", err)
	}
	return nil
}

// writeCatalog writes to path the chain's catalog with n products: its own first, then copies
// of them in turn under new SKUs (BEN-0231, ...) and names; n below the chain's keeps the first n.
func writeCatalog(path string, n int) error {
	if n < 2 {
		return errors.New("-skus must be at least 2 (the hot SKU and another)")
	}
	var doc map[string]any
	if err := json.Unmarshal(catalog.Embedded(), &doc); err != nil {
		return fmt.Errorf("the embedded catalog: %w", err)
	}
	own, _ := doc["products"].([]any)
	if len(own) == 0 {
		return errors.New("the embedded catalog has no products")
	}
	products := slices.Clone(own[:min(n, len(own))])
	for i := len(own); i < n; i++ {
		p, _ := own[i%len(own)].(map[string]any)
		cp := maps.Clone(p)
		cp["sku"], cp["name"] = fmt.Sprintf("BEN-%04d", i+1), fmt.Sprintf("%v no. %d", p["name"], i+1)
		products = append(products, cp)
	}
	doc["products"] = products
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// plan is which SKUs each sign shows.
type plan struct {
	hot   string
	signs []signPlan
	subs  int
}

type signPlan struct {
	store, name string
	skus        []string
}

func makePlan(cat *catalog.Catalog, o options) plan {
	r := rand.New(rand.NewPCG(o.seed, 7))
	ps := cat.Products()
	stores := cat.Stores()
	p := plan{hot: ps[0].SKU}
	hot := make([]bool, o.signs)
	for _, i := range r.Perm(o.signs)[:o.hot] {
		hot[i] = true
	}
	for i := range o.signs {
		n := 1 + r.IntN(12)
		var skus []string
		if hot[i] {
			skus = append(skus, p.hot)
		}
		for len(skus) < n {
			sku := ps[1+r.IntN(len(ps)-1)].SKU
			if !slices.Contains(skus, sku) {
				skus = append(skus, sku)
			}
		}
		p.subs += len(skus)
		p.signs = append(p.signs, signPlan{store: stores[i%len(stores)].StoreID, name: fmt.Sprintf("bench-%05d", i), skus: skus})
	}
	return p
}

// result is one hub's figures.
type result struct {
	kind                string
	connect             time.Duration
	connectCPU, idleRSS float64 // CPU seconds connecting; RSS before connecting (MB)
	rss                 float64 // RSS with every sign connected (MB)
	a, b                phase   // the round with the median p99 of each phase
	as, bs              []phase // every round's
}

type phase struct {
	events      int
	got, want   int
	frames      int64         // websocket messages received by the signs in the phase
	first       time.Duration // the first sign served
	p50, p99, m time.Duration
	cpu         float64 // hub CPU seconds from the trigger until the last frame
	benchCPU    float64 // this process's (the signs') CPU seconds, the same span
}

func measure(ctx context.Context, kind string, idx int, dir, brokers, dsn string, cat *catalog.Catalog, prod *events.Producer,
	api *pricingAPI, p plan, o options) (result, error) {
	res := result{kind: kind}
	port, err := loopback.Port()
	if err != nil {
		return res, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	prof := profiler{dir: o.profile, kind: kind, perf: o.perf}
	if prof.dir != "" {
		pport, err := loopback.Port()
		if err != nil {
			return res, err
		}
		prof.addr = fmt.Sprintf("127.0.0.1:%d", pport)
	}
	var cmd *exec.Cmd
	tokens := make([]string, len(p.signs))
	switch kind {
	case "ours":
		if err := issueTokens(ctx, dsn, cat, p, tokens); err != nil {
			return res, err
		}
		cmd = exec.Command(filepath.Join(dir, "hub"))
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers, "DATABASE_URL="+dsn, "HTTP_ADDR="+addr, "LOG_LEVEL="+envOr("BENCH_HUB_LOG_LEVEL", "warn"))
	case "centrifuge":
		cmd = exec.Command(filepath.Join(dir, "centrifugehub"))
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers, "HTTP_ADDR="+addr)
	default:
		return res, fmt.Errorf("unknown hub %q: want ours or centrifuge", kind)
	}
	cmd.Env = append(cmd.Env, prof.env()...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	pid := cmd.Process.Pid
	ready := "/healthz"
	if kind == "ours" {
		ready = "/readyz" // caught up with display-updates (a later round resumes from the stored view)
	}
	if err := waitHealthy("http://"+addr+ready, kind); err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond) // the follower has listed its partitions
	res.idleRSS = rssMB(pid)
	cpu0 := cpuSeconds(pid)
	start := time.Now()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("bench-signs: %s: connecting %d signs (load average %s) ...\n", kind, len(p.signs), strings.Join(strings.Fields(string(load))[:3], " "))
	clients, err := connectAll(ctx, kind, "http://"+addr, p, tokens, o.noAck)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.conn.CloseNow()
			}
		}
	}()
	if err != nil {
		return res, err
	}
	res.connect = time.Since(start)
	res.connectCPU = cpuSeconds(pid) - cpu0
	time.Sleep(2 * time.Second) // let the connect burst settle before reading RSS
	res.rss = rssMB(pid)
	prof.snapshot("connected")
	for round := range o.rounds {
		a, b, err := measureRound(ctx, idx*100+round, pid, clients, cat, prod, api, p, o, prof, round)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", round+1, err)
		}
		res.as, res.bs = append(res.as, a), append(res.bs, b)
	}
	prof.snapshot("end") // against "connected": what the rounds allocated (pprof -base, alloc_space)
	res.a, res.b = medianRound(res.as), medianRound(res.bs)
	return res, nil
}

// medianRound is the round whose p99 is the median of the rounds'.
func medianRound(ps []phase) phase {
	s := slices.Clone(ps)
	slices.SortFunc(s, func(x, y phase) int { return cmp.Compare(x.p99, y.p99) })
	return s[len(s)/2]
}

// measureRound runs phases (a) and (b) once; seq makes the round's price and title unique.
func measureRound(ctx context.Context, seq, pid int, clients []*client, cat *catalog.Catalog, prod *events.Producer,
	api *pricingAPI, p plan, o options, prof profiler, round int) (phase, phase, error) {
	var err error
	var ra, rb phase
	name := func(ph string) string {
		if round == 0 {
			return ph
		}
		return fmt.Sprintf("%s%d", ph, round+1)
	}
	// (a) a chain-wide price change of the hot SKU.
	price := int64(100000 + seq)
	newPrice, newRegular := matchInt(`"price_cents":`, price), matchInt(`"regular_price_cents":`, price)
	var evA []events.Out
	for _, st := range cat.Stores() {
		evA = append(evA, events.Out{Topic: schemas.TopicDisplayUpdates, Key: st.StoreID, Type: schemas.TypePriceChanged,
			Payload: schemas.PriceChanged{ChangeID: uuid.NewString(), StoreID: st.StoreID, SKU: p.hot, PriceCents: price,
				Reason: "bench", EffectiveAt: time.Now().UTC()}})
	}
	trigA := func() error { return produceAll(ctx, prod, evA) }
	if api != nil {
		trigA = func() error { return api.putPrice(p.hot, price) }
	}
	ra, err = runPhase(pid, clients, prof.phase(name("a")), trigA, len(evA), o.timeout, func(c *client) []string {
		if slices.Contains(c.plan.skus, p.hot) {
			return []string{p.hot}
		}
		return nil
	}, func(raw []byte) bool { // during a promotion the new price is the regular one
		return newPrice(raw) || newRegular(raw)
	})
	if err != nil {
		return ra, rb, err
	}
	// (b) a promotion on every SKU at once, in every store.
	title := fmt.Sprintf("Bench deal %d", seq)
	if api != nil {
		api.nextMinute()
	}
	now := time.Now().UTC()
	var evB []events.Out
	for _, st := range cat.Stores() {
		for _, pr := range cat.Products() {
			evB = append(evB, events.Out{Topic: schemas.TopicDisplayUpdates, Key: st.StoreID, Type: schemas.TypePromoStarted,
				Payload: schemas.PromoStarted{PromoID: uuid.NewString(), StoreID: st.StoreID, SKU: pr.SKU, Title: title,
					PromoPriceCents: pr.PriceCents * 8 / 10, RegularPriceCents: pr.PriceCents, StartsAt: now, EndsAt: now.Add(24 * time.Hour)}})
		}
	}
	trigB := func() error { return produceAll(ctx, prod, evB) }
	var promoID string
	if api != nil {
		trigB = func() (err error) { promoID, err = api.postPromotion(cat, title, time.Now().UTC()); return err }
	}
	rb, err = runPhase(pid, clients, prof.phase(name("b")), trigB, len(evB), o.timeout, allSKUs, matchTitle(title))
	if err == nil && promoID != "" {
		// End it (the next round's promotion must not overlap it) and wait until every sign
		// shows the end, so the next round's (a) does not race its promo.ended events.
		_, err = runPhase(pid, clients, func() func() { return func() {} }, func() error { return api.endPromotion(promoID) },
			len(evB), o.timeout, allSKUs, matchTitle(""))
	}
	return ra, rb, err
}

// allSKUs is a phase's want of every SKU the sign shows.
func allSKUs(c *client) []string { return c.plan.skus }

func waitHealthy(url, kind string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s hub did not answer %s within 60s", kind, url)
}

func issueTokens(ctx context.Context, dsn string, cat *catalog.Catalog, p plan, out []string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	t := signsapp.NewTokens(pool, cat)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.signs) {
					return
				}
				tok, err := t.Issue(ctx, p.signs[i].store, p.signs[i].name)
				if err != nil {
					errs <- err
					return
				}
				out[i] = tok
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// item is one item of a frame as the bench reads it: its SKU and its JSON (from after
// {"sku":" to the next item), which a phase's match looks into without decoding it.
type item struct {
	SKU string
	raw []byte
}

// matchInt is a match: the item's field name (`"price_cents":`) has the value v.
func matchInt(name string, v int64) func([]byte) bool {
	n := strconv.AppendInt([]byte(name), v, 10)
	comma, brace := append(slices.Clip(n), ','), append(slices.Clip(n), '}')
	return func(raw []byte) bool { return bytes.Contains(raw, comma) || bytes.Contains(raw, brace) }
}

// matchTitle is a match: the item's promo_title is title ("": none).
func matchTitle(title string) func([]byte) bool {
	if title == "" {
		return func(raw []byte) bool {
			return !bytes.Contains(raw, []byte(`"promo_title":"`)) || bytes.Contains(raw, []byte(`"promo_title":""`))
		}
	}
	want := []byte(`"promo_title":"` + title + `"`)
	return func(raw []byte) bool { return bytes.Contains(raw, want) }
}

// client is one connected sign.
type client struct {
	plan  signPlan
	conn  *websocket.Conn
	kind  string
	noAck bool
	// frames counts the websocket messages received (reset by each phase).
	frames atomic.Int64

	mu        sync.Mutex
	remaining []string // SKUs still to see in this phase (at most 12: a scan beats a map)
	match     func(raw []byte) bool
	done      time.Time
	finished  func()
}

// frame records the items of a frame received at at.
func (c *client) frame(at time.Time, items []item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.remaining) == 0 || c.match == nil {
		return
	}
	for _, it := range items {
		if i := slices.Index(c.remaining, it.SKU); i >= 0 && c.match(it.raw) {
			c.remaining = slices.Delete(c.remaining, i, i+1)
		}
	}
	if len(c.remaining) == 0 {
		c.done = at
		c.finished()
	}
}

func connectAll(ctx context.Context, kind, base string, p plan, tokens []string, noAck bool) ([]*client, error) {
	clients := make([]*client, len(p.signs))
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.signs) || firstErr.Load() != nil {
					return
				}
				c, err := connect(ctx, kind, base, p.signs[i], tokens[i], noAck)
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("sign %d: %w", i, err))
					return
				}
				clients[i] = c
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return clients, err
	}
	return clients, nil
}

func connect(ctx context.Context, kind, base string, sp signPlan, token string, noAck bool) (*client, error) {
	c := &client{plan: sp, kind: kind, noAck: noAck}
	q := url.Values{"store_id": {sp.store}, "skus": {strings.Join(sp.skus, ",")}}
	path := "/v1/signs/ws"
	if kind == "ours" {
		q.Set("token", token)
	} else {
		path = "/connection/websocket"
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(base, "http")+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	c.conn = conn
	// The first answer: our snapshot, or centrifuge's connect reply.
	if kind == "centrifuge" {
		if err := conn.Write(dctx, websocket.MessageText, []byte(`{"id":1,"connect":{"name":"bench"}}`)); err != nil {
			return nil, err
		}
	}
	_, b, err := conn.Read(dctx)
	if err != nil {
		return nil, fmt.Errorf("first frame: %w", err)
	}
	if kind == "ours" && !bytes.HasPrefix(b, []byte(`{"type":"snapshot"`)) {
		return nil, fmt.Errorf("first frame %.80s", b)
	}
	if kind == "centrifuge" && !bytes.Contains(b, []byte(`"connect"`)) {
		return nil, fmt.Errorf("connect reply %.200s", b)
	}
	go c.read(ctx)
	return c, nil
}

// read reads the sign's frames until the websocket ends, into a buffer of its own, and finds
// their items with scanItems rather than encoding/json: 10,000 signs decoding every frame
// with reflection cost this process more CPU than the hub spends serving them, on the same
// two cores, which would measure the bench rather than the hub. Our signs ack every frame.
func (c *client) read(ctx context.Context) {
	buf := make([]byte, 0, 8<<10) // a 12-SKU frame is about 3 KB
	items := make([]item, 0, 16)
	for {
		var err error
		if buf, err = readMessage(ctx, c.conn, buf[:0]); err != nil {
			return
		}
		at := time.Now()
		c.frames.Add(1)
		if c.kind == "ours" {
			v, ok := frameVersion(buf)
			if !ok {
				continue
			}
			items = scanItems(buf, items[:0])
			c.frame(at, items)
			if c.noAck {
				continue
			}
			_ = c.conn.Write(ctx, websocket.MessageText, append(strconv.AppendInt([]byte(`{"type":"ack","version":`), v, 10), '}'))
			continue
		}
		// centrifuge: one or more JSON replies separated by newlines; {} is a ping. A
		// publication's data (our update frame) is embedded as JSON, so its items are found
		// the same way. The sign acknowledges the newest version the message showed, once per
		// message as ours do, with an async message (centrifuge's "send").
		var top int64 = -1
		for rest := buf; len(rest) > 0; {
			line := rest
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				line, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			if string(line) == "{}" {
				_ = c.conn.Write(ctx, websocket.MessageText, []byte("{}"))
				continue
			}
			if bytes.Contains(line, []byte(`"push"`)) {
				items = scanItems(line, items[:0])
				c.frame(at, items)
				if v, ok := frameVersion(line); ok {
					top = max(top, v)
				}
			}
		}
		if top >= 0 && !c.noAck {
			_ = c.conn.Write(ctx, websocket.MessageText, append(strconv.AppendInt([]byte(`{"send":{"data":{"type":"ack","version":`), top, 10), "}}}"...))
		}
	}
}

// readMessage reads the next message into dst.
func readMessage(ctx context.Context, conn *websocket.Conn, dst []byte) ([]byte, error) {
	_, r, err := conn.Reader(ctx)
	if err != nil {
		return dst, err
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// frameVersion is the "version" of one of our frames.
func frameVersion(b []byte) (int64, bool) {
	_, rest, ok := bytes.Cut(b, []byte(`"version":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return v, err == nil
}

// scanItems appends to out the items of a frame: each starts at {"sku": (the item's first
// field, as signs.Item marshals) and runs to the next one. Names and titles hold no JSON
// punctuation the scan could trip on (the catalog's and the bench's own). The items point
// into b (no allocation per item): they are valid only while b is, which for the signs'
// reader is until its next read.
func scanItems(b []byte, out []item) []item {
	start := []byte(`{"sku":"`)
	i := bytes.Index(b, start)
	for i >= 0 {
		b = b[i+len(start):]
		raw := b
		if i = bytes.Index(b, start); i >= 0 {
			raw = b[:i]
		}
		if k := bytes.IndexByte(raw, '"'); k >= 0 {
			out = append(out, item{SKU: unsafe.String(unsafe.SliceData(raw), k), raw: raw})
		}
	}
	return out
}

// runPhase arms every client with what it must see, runs trigger (whose return is the
// clock's start) and waits for the signs.
func runPhase(pid int, clients []*client, profile func() func(), trigger func() error, nEvents int, timeout time.Duration,
	want func(*client) []string, match func(raw []byte) bool) (phase, error) {
	ph := phase{events: nEvents}
	var pending atomic.Int64
	all := make(chan struct{})
	var waiting []*client
	for _, c := range clients {
		w := want(c)
		c.mu.Lock()
		c.remaining, c.match, c.done = slices.Clone(w), match, time.Time{}
		if len(w) > 0 {
			waiting = append(waiting, c)
			pending.Add(1)
			c.finished = func() {
				if pending.Add(-1) == 0 {
					close(all)
				}
			}
		}
		c.mu.Unlock()
		c.frames.Store(0)
	}
	ph.want = len(waiting)
	settle() // what the previous phase left (the hub storing acks, Postgres) must not run into this one
	profiled := profile()
	defer profiled()
	cpu0, self0 := cpuSeconds(pid), cpuSeconds(os.Getpid())
	if err := trigger(); err != nil {
		return ph, err
	}
	t0 := time.Now()
	select {
	case <-all:
	case <-time.After(timeout):
	}
	ph.benchCPU = cpuSeconds(os.Getpid()) - self0
	// The hub's CPU includes what it does after the last frame because of the phase (storing
	// the acknowledgements), up to the machine being idle again.
	settle()
	ph.cpu = cpuSeconds(pid) - cpu0
	for _, c := range clients {
		ph.frames += c.frames.Load()
	}
	var lat []time.Duration
	for _, c := range waiting {
		c.mu.Lock()
		if !c.done.IsZero() {
			lat = append(lat, max(0, c.done.Sub(t0)))
		}
		c.match = nil
		c.mu.Unlock()
	}
	ph.got = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		ph.first = lat[0]
		ph.p50 = lat[len(lat)/2]
		ph.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
		ph.m = lat[len(lat)-1]
	}
	return ph, nil
}

// settle waits (at most settleMax) until the machine is idle: below settleBusy of its CPUs
// busy over settleWindow (/proc/stat). Every phase starts on an idle machine, whichever hub
// it measures, and a hub's CPU of a phase is read once the machine is idle after it. The
// hubs' keepalive pings of 10,000 idle signs cost a few percent of the machine, below the bar.
func settle() {
	const (
		settleWindow = 250 * time.Millisecond
		settleBusy   = 0.10
		settleMax    = 15 * time.Second
	)
	deadline := time.Now().Add(settleMax)
	busy0, total0 := machineCPU()
	if total0 == 0 {
		return // no /proc/stat: nothing to wait for
	}
	for time.Now().Before(deadline) {
		time.Sleep(settleWindow)
		busy, total := machineCPU()
		if total > total0 && (busy-busy0)/(total-total0) < settleBusy {
			return
		}
		busy0, total0 = busy, total
	}
}

// machineCPU is the machine's busy and total CPU time so far, in clock ticks (/proc/stat).
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, f := range fields[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// cpuSeconds is the user and system CPU time of process pid (/proc/<pid>/stat).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (u + st) / 100 // USER_HZ is 100 on Linux
}

// rssMB is the resident set of process pid (/proc/<pid>/status VmRSS), in MB.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func report(rs []result, n int) {
	k := float64(n) / 1000
	w := 22 // a column, wide enough for "p99 of each round" ("1520 / 745 / ... ms")
	for _, r := range rs {
		w = max(w, 7*len(r.bs)+5)
	}
	fmt.Println()
	fmt.Printf("%-28s", "")
	for _, r := range rs {
		fmt.Printf("%*s", w, r.kind)
	}
	fmt.Println()
	row := func(name string, f func(r result) string) {
		fmt.Printf("%-28s", name)
		for _, r := range rs {
			fmt.Printf("%*s", w, f(r))
		}
		fmt.Println()
	}
	row("connect all", func(r result) string { return fmt.Sprintf("%.1f s", r.connect.Seconds()) })
	row("CPU connecting /1k conns", func(r result) string { return fmt.Sprintf("%.2f s", r.connectCPU/k) })
	row("RSS /1k conns", func(r result) string { return fmt.Sprintf("%.1f MB", (r.rss-r.idleRSS)/k) })
	row("RSS total (idle before)", func(r result) string { return fmt.Sprintf("%.0f (%.0f) MB", r.rss, r.idleRSS) })
	for _, ph := range []struct {
		name string
		get  func(r result) phase
		all  func(r result) []phase
	}{{"(a) price change", func(r result) phase { return r.a }, func(r result) []phase { return r.as }},
		{"(b) promo, all SKUs", func(r result) phase { return r.b }, func(r result) []phase { return r.bs }}} {
		row(ph.name+" events", func(r result) string { return strconv.Itoa(ph.get(r).events) })
		row("  signs served", func(r result) string { p := ph.get(r); return fmt.Sprintf("%d/%d", p.got, p.want) })
		row("  first", func(r result) string { return ms(ph.get(r).first) })
		row("  p50", func(r result) string { return ms(ph.get(r).p50) })
		row("  p99", func(r result) string { return ms(ph.get(r).p99) })
		row("  max", func(r result) string { return ms(ph.get(r).m) })
		row("  p99 of each round", func(r result) string {
			var out []string
			for _, p := range ph.all(r) {
				out = append(out, strconv.FormatInt(p.p99.Milliseconds(), 10))
			}
			return strings.Join(out, " / ") + " ms"
		})
		row("  messages per sign served", func(r result) string {
			p := ph.get(r)
			return fmt.Sprintf("%.2f", float64(p.frames)/float64(max(1, p.want)))
		})
		row("  hub CPU /1k conns", func(r result) string { return fmt.Sprintf("%.3f s", ph.get(r).cpu/k) })
		row("  signs' CPU (this process)", func(r result) string { return fmt.Sprintf("%.2f s", ph.get(r).benchCPU) })
	}
	fmt.Println("\n(each figure of a phase is from its median round, by p99)")
	fmt.Println("(latency: from the trigger's answer (the pricing API's, or the broker's ack of the last event) to a sign holding every change it shows)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// produceAll produces evs and returns once the broker acknowledged every one.
func produceAll(ctx context.Context, prod *events.Producer, evs []events.Out) error {
	flights := make([]*events.Flight, 0, len(evs))
	for _, e := range evs {
		f, err := prod.Start(e)
		if err != nil {
			return err
		}
		flights = append(flights, f)
	}
	for _, f := range flights {
		if err := f.Wait(ctx, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// pricingAPI is the pricing service (services/cmd/pricing) the phases are triggered through.
type pricingAPI struct {
	base  string
	cmd   *exec.Cmd
	ended time.Time // when the last promotion was ended
}

func startPricing(dir, brokers, dsn string) (*pricingAPI, error) {
	port, err := loopback.Port()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(filepath.Join(dir, "pricing"))
	// The price book alone: the measured hub is the only one on the machine (pricing's own
	// would be a second replica folding and storing every event on the same two cores).
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers, "DATABASE_URL="+dsn, "HTTP_ADDR="+addr, "LOG_LEVEL=warn",
		"PRICING_SIGNS=off")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	api := &pricingAPI{base: "http://" + addr, cmd: cmd}
	if err := waitHealthy(api.base+"/readyz", "pricing"); err != nil {
		api.stop()
		return nil, err
	}
	return api, nil
}

func (a *pricingAPI) stop() {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

func (a *pricingAPI) call(method, path string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var p bytes.Buffer
		_, _ = p.ReadFrom(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, p.String())
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// putPrice changes sku's price chain-wide (no store_id).
func (a *pricingAPI) putPrice(sku string, cents int64) error {
	return a.call(http.MethodPut, "/v1/prices/"+sku, map[string]any{"price_cents": cents, "reason": "bench-signs"}, http.StatusOK, nil)
}

// nextMinute waits, when the previous promotion ended in this minute, for the next one:
// windows are whole minutes, and a promotion starting in the minute the previous one ended
// would overlap it.
func (a *pricingAPI) nextMinute() {
	if !a.ended.IsZero() && !time.Now().Truncate(time.Minute).After(a.ended) {
		time.Sleep(time.Until(a.ended.Truncate(time.Minute).Add(time.Minute + 100*time.Millisecond)))
	}
}

// postPromotion starts 20% off every SKU of the catalog in every store, now (the minute that
// began: a start in the coming minute would wait for the pricing service's clock job).
func (a *pricingAPI) postPromotion(cat *catalog.Catalog, title string, now time.Time) (string, error) {
	var skus []string
	for _, p := range cat.Products() {
		skus = append(skus, p.SKU)
	}
	var out struct {
		PromoID string `json:"promo_id"`
	}
	err := a.call(http.MethodPost, "/v1/promotions", map[string]any{"skus": skus, "title": title, "percent_off": 20,
		"starts_at": now.Truncate(time.Minute).Format(time.RFC3339), "ends_at": now.Add(24 * time.Hour).Format(time.RFC3339)},
		http.StatusCreated, &out)
	return out.PromoID, err
}

func (a *pricingAPI) endPromotion(id string) error {
	req, err := http.NewRequest(http.MethodDelete, a.base+"/v1/promotions/"+id, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("DELETE /v1/promotions/%s: %d", id, resp.StatusCode)
	}
	a.ended = time.Now()
	return nil
}
