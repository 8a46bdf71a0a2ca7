package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// t0 is the services' clock at the start of every test: 12:00 UTC on Saturday 5 December
// 2026, 07:00 in New York (S001) and 04:00 in Los Angeles (S004).
var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// env is one test's broker, database, clock and display-updates reader.
type env struct {
	broker *brokertest.Broker
	dsn    string
	clk    *clock.Manual
	cat    *catalog.Catalog
	disp   *display
	db     *pgxpool.Pool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{broker: brokertest.Start(t), dsn: pgtest.New(t), clk: clock.NewManual(t0), cat: catalog.MustLoad()}
	e.disp = readDisplay(t, e.broker)
	return e
}

// set moves the clock to when and waits until the scheduler has dealt with the slot that makes
// due (when, to the minute): a move while a run is still going would see its slot skipped, and
// the next slot never comes on a Manual clock.
func (e *env) set(t *testing.T, when time.Time) {
	t.Helper()
	// A scheduler that has not read the clock yet (a service just started) would take when
	// for its start and wait for the slot after it, never running when's own.
	next := e.clk.Now().Truncate(time.Minute).Add(time.Minute)
	eventually(t, "the scheduler waiting for "+next.Format(time.RFC3339), func() string {
		if !e.clk.Waiting(next) {
			return "not yet"
		}
		return ""
	})
	e.clk.Set(when)
	slot := when.Truncate(time.Minute)
	pool := e.pool(t)
	eventually(t, "slot "+slot.Format(time.RFC3339)+" of "+DueJob, func() string {
		var status string
		err := pool.QueryRow(context.Background(), `SELECT status FROM platform.job_runs WHERE job = $1 AND scheduled_for = $2`,
			DueJob, slot).Scan(&status)
		if err != nil {
			return err.Error()
		}
		if status == "running" {
			return status
		}
		return ""
	})
}

func (e *env) pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	if e.db == nil {
		e.db = pgtest.Pool(t, e.dsn)
	}
	return e.db
}

func (e *env) vars() map[string]string {
	return map[string]string{"KAFKA_BROKERS": e.broker.Addr, "DATABASE_URL": e.dsn}
}

// start runs a pricing service on e until the test ends and returns its base URL and App.
func (e *env) start(t *testing.T) (string, *App) {
	t.Helper()
	var a *App
	s := kittest.Start(t, Options, e.vars(), func(_ context.Context, s *kit.Service) error {
		var err error
		a, err = New(s, Config{Clock: e.clk})
		return err
	})
	return kittest.URL(s), a
}

// startStoppable runs a pricing service on e and returns its URL and a function that stops it
// gracefully and waits until it has stopped.
func (e *env) startStoppable(t *testing.T) (string, func()) {
	t.Helper()
	s := kittest.Build(t, Options, e.vars())
	if _, err := New(s, Config{Clock: e.clk}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Listening():
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return kittest.URL(s), stop
}

// display collects every event on display-updates.
type display struct {
	mu  sync.Mutex
	evs []events.Event
}

func readDisplay(t testing.TB, b *brokertest.Broker) *display {
	t.Helper()
	d := &display{}
	cl := b.Client(t, kgo.ConsumeTopics(schemas.TopicDisplayUpdates), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				ev, err := events.Parse(r)
				if err != nil {
					return
				}
				if string(r.Key) != storeOf(ev) {
					t.Errorf("event %s keyed %q, want its store %q", ev.Type, r.Key, storeOf(ev))
				}
				d.mu.Lock()
				d.evs = append(d.evs, ev)
				d.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func storeOf(ev events.Event) string {
	var p struct {
		StoreID string `json:"store_id"`
	}
	_ = json.Unmarshal(ev.Data, &p)
	return p.StoreID
}

// matching returns the events of type typ whose payload satisfies keep.
func (d *display) matching(typ string, keep func(map[string]any) bool) []map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []map[string]any
	for _, ev := range d.evs {
		if ev.Type != typ {
			continue
		}
		var m map[string]any
		_ = json.Unmarshal(ev.Data, &m)
		m["_id"] = ev.ID
		if keep == nil || keep(m) {
			out = append(out, m)
		}
	}
	return out
}

// wait waits (up to 20 s) until n events of type typ satisfy keep, and returns them.
func (d *display) wait(t testing.TB, typ string, n int, keep func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := d.matching(typ, keep)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s events after 20s, want %d: %v", len(got), typ, n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func field(k, v string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m[k] == v }
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func call(t testing.TB, method, url string, body any) answer {
	t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		b, _ := json.Marshal(v)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func price(t *testing.T, base, store, sku string) Price {
	t.Helper()
	a := call(t, "GET", base+"/v1/prices?store_id="+store+"&sku="+sku, nil)
	if a.status != 200 {
		t.Fatalf("GET price %s %s: %d %s", store, sku, a.status, a.raw)
	}
	var p Price
	if err := json.Unmarshal([]byte(a.raw), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually polls check (up to 20 s) until it returns "" and fails with its last answer.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after 20s", what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func catalogPrice(t *testing.T, sku string) int64 {
	t.Helper()
	p, err := catalog.MustLoad().Product(sku)
	if err != nil {
		t.Fatal(err)
	}
	return p.PriceCents
}

// TestPriceChanges: a chain-wide change reaches every store without an override, an override
// changes one store and survives later chain-wide changes, a scheduled change applies at its
// time (and not before), and the history records who, why, old and new.
func TestPriceChanges(t *testing.T) {
	e := newEnv(t)
	base, _ := e.start(t)
	const sku = "PRD-0001"
	orig := catalogPrice(t, sku)
	if p := price(t, base, "S001", sku); p.PriceCents != orig || p.RegularPriceCents != orig || p.Override || p.Promo != nil {
		t.Fatalf("seeded price %+v, want the catalog's %d", p, orig)
	}
	all := call(t, "GET", base+"/v1/prices?store_id=S003", nil)
	if n := len(all.body["prices"].([]any)); all.status != 200 || n != len(e.cat.Products()) {
		t.Fatalf("GET /v1/prices?store_id=S003: %d with %d prices, want every SKU (%d)", all.status, n, len(e.cat.Products()))
	}

	// Chain-wide, now.
	a := call(t, "PUT", base+"/v1/prices/"+sku, map[string]any{"price_cents": 111, "reason": "vendor cost up", "changed_by": "ana"})
	if a.status != 200 || a.body["status"] != "applied" || len(a.body["prices"].([]any)) != 6 {
		t.Fatalf("chain-wide change: %d %s", a.status, a.raw)
	}
	chg1 := a.body["change_id"].(string)
	evs := e.disp.wait(t, schemas.TypePriceChanged, 6, field("change_id", chg1))
	for _, ev := range evs {
		if ev["price_cents"] != 111.0 || ev["old_price_cents"] != float64(orig) || ev["reason"] != "vendor cost up" {
			t.Fatalf("price.changed %v, want 111 from %d", ev, orig)
		}
	}

	// A store override: one store, one event.
	a = call(t, "PUT", base+"/v1/prices/"+sku, map[string]any{"price_cents": 99, "store_id": "S002", "reason": "local competitor"})
	if a.status != 200 || len(a.body["prices"].([]any)) != 1 {
		t.Fatalf("override: %d %s", a.status, a.raw)
	}
	ovr := a.body["change_id"].(string)
	ev := e.disp.wait(t, schemas.TypePriceChanged, 1, field("change_id", ovr))[0]
	if ev["store_id"] != "S002" || ev["old_price_cents"] != 111.0 || ev["price_cents"] != 99.0 {
		t.Fatalf("override event %v", ev)
	}
	if p := price(t, base, "S002", sku); p.PriceCents != 99 || !p.Override {
		t.Fatalf("S002 after override: %+v", p)
	}
	if p := price(t, base, "S001", sku); p.PriceCents != 111 || p.Override {
		t.Fatalf("S001 after S002's override: %+v", p)
	}

	// Chain-wide again: S002 keeps its own price and hears nothing.
	a = call(t, "PUT", base+"/v1/prices/"+sku, map[string]any{"price_cents": 125})
	chg2 := a.body["change_id"].(string)
	if a.status != 200 || len(a.body["prices"].([]any)) != 5 {
		t.Fatalf("second chain-wide change: %d %s", a.status, a.raw)
	}
	e.disp.wait(t, schemas.TypePriceChanged, 5, field("change_id", chg2))
	if got := e.disp.matching(schemas.TypePriceChanged, func(m map[string]any) bool { return m["change_id"] == chg2 && m["store_id"] == "S002" }); len(got) != 0 {
		t.Fatalf("S002 with an override was told of the chain-wide change: %v", got)
	}
	if p := price(t, base, "S002", sku); p.PriceCents != 99 {
		t.Fatalf("S002's override changed by a chain-wide change: %+v", p)
	}

	// Scheduled: 30 minutes ahead, in S001's local time.
	a = call(t, "PUT", base+"/v1/prices/"+sku, map[string]any{"price_cents": 150, "store_id": "S001", "effective_at": "2026-12-05T07:30", "reason": "weekend"})
	if a.status != 202 || a.body["status"] != "scheduled" || a.body["effective_at"] != "2026-12-05T12:30:00Z" {
		t.Fatalf("scheduled change: %d %s", a.status, a.raw)
	}
	sched := a.body["change_id"].(string)
	e.set(t, t0.Add(29*time.Minute)) // the 12:29 slot has run
	if p := price(t, base, "S001", sku); p.PriceCents != 125 {
		t.Fatalf("scheduled change applied early: %+v", p)
	}
	e.set(t, t0.Add(30*time.Minute))
	eventually(t, "scheduled change", func() string {
		if p := price(t, base, "S001", sku); p.PriceCents != 150 {
			return fmt.Sprintf("price %d", p.PriceCents)
		}
		return ""
	})
	ev = e.disp.wait(t, schemas.TypePriceChanged, 1, field("change_id", sched))[0]
	if ev["old_price_cents"] != 125.0 || ev["effective_at"] != "2026-12-05T12:30:00Z" {
		t.Fatalf("scheduled event %v", ev)
	}

	// History, newest first, with the catalog's seed at the bottom.
	var h History
	hist := call(t, "GET", base+"/v1/prices/"+sku+"/history", nil)
	if err := json.Unmarshal([]byte(hist.raw), &h); err != nil || hist.status != 200 {
		t.Fatalf("history: %d %s", hist.status, hist.raw)
	}
	if len(h.Changes) != 5 {
		t.Fatalf("history has %d changes, want 5: %s", len(h.Changes), hist.raw)
	}
	want := []struct {
		id    string
		price int64
		old   int64
	}{{sched, 150, 125}, {chg2, 125, 111}, {ovr, 99, 111}, {chg1, 111, orig}}
	for i, w := range want {
		c := h.Changes[i]
		if c.ChangeID != w.id || c.PriceCents != w.price || c.OldPriceCents == nil || *c.OldPriceCents != w.old || c.Status != "applied" {
			t.Fatalf("history[%d] = %+v, want %+v", i, c, w)
		}
	}
	if h.Changes[3].ChangedBy != "ana" || h.Changes[3].Reason != "vendor cost up" {
		t.Fatalf("history lost who and why: %+v", h.Changes[3])
	}
	if last := h.Changes[4]; last.Reason != "catalog" || last.PriceCents != orig {
		t.Fatalf("oldest entry %+v, want the catalog's price", last)
	}
}

func postPromo(t *testing.T, base string, body map[string]any) (string, answer) {
	t.Helper()
	a := call(t, "POST", base+"/v1/promotions", body)
	if a.status != 201 {
		t.Fatalf("POST /v1/promotions: %d %s", a.status, a.raw)
	}
	return a.body["promo_id"].(string), a
}

// TestPromotionInStoreZones: one promotion at 08:00-20:00 local time starts and ends in New York
// three hours before Los Angeles, on the Manual clock, and the price in force follows it.
func TestPromotionInStoreZones(t *testing.T) {
	e := newEnv(t)
	base, _ := e.start(t)
	skus := []string{"PRD-0002", "PRD-0003"}
	id, a := postPromo(t, base, map[string]any{"skus": skus, "store_ids": []string{"S001", "S004"}, "percent_off": 20,
		"title": "20% off", "starts_at": "2026-12-05T08:00", "ends_at": "2026-12-05T20:00"})
	stores := a.body["stores"].([]any)
	if len(stores) != 2 || stores[0].(map[string]any)["starts_at"] != "2026-12-05T13:00:00Z" ||
		stores[1].(map[string]any)["starts_at"] != "2026-12-05T16:00:00Z" || stores[0].(map[string]any)["state"] != "scheduled" {
		t.Fatalf("promotion windows %s", a.raw)
	}
	reg := catalogPrice(t, "PRD-0002")
	promo := (reg*80 + 50) / 100
	inPromo := func(store string, want bool) func() string {
		return func() string {
			p := price(t, base, store, "PRD-0002")
			if (p.Promo != nil) != want {
				return fmt.Sprintf("%s promo %+v", store, p.Promo)
			}
			if want && (p.PriceCents != promo || p.RegularPriceCents != reg) {
				return fmt.Sprintf("%s price %d regular %d, want %d and %d", store, p.PriceCents, p.RegularPriceCents, promo, reg)
			}
			return ""
		}
	}
	started := func(store string) func(map[string]any) bool {
		return func(m map[string]any) bool { return m["promo_id"] == id && m["store_id"] == store }
	}

	e.set(t, time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)) // 08:00 in New York, 05:00 in Los Angeles
	eventually(t, "S001 started", inPromo("S001", true))
	if msg := inPromo("S004", false)(); msg != "" {
		t.Fatalf("S004 started at 05:00 local: %s", msg)
	}
	evs := e.disp.wait(t, schemas.TypePromoStarted, 2, started("S001"))
	if evs[0]["promo_price_cents"] != float64(promo) && evs[1]["promo_price_cents"] != float64(promo) {
		t.Fatalf("promo.started %v, want price %d", evs, promo)
	}

	e.set(t, time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC)) // 08:00 in Los Angeles
	eventually(t, "S004 started", inPromo("S004", true))
	e.disp.wait(t, schemas.TypePromoStarted, 2, started("S004"))

	// A base price change during the promotion: announced as price.changed, and the promotion
	// again with the new regular and promotional prices.
	a = call(t, "PUT", base+"/v1/prices/PRD-0002", map[string]any{"price_cents": 500})
	if a.status != 200 {
		t.Fatalf("PUT during promotion: %d %s", a.status, a.raw)
	}
	if p := price(t, base, "S001", "PRD-0002"); p.PriceCents != 400 || p.RegularPriceCents != 500 || p.Promo == nil {
		t.Fatalf("price during promotion after a base change: %+v", p)
	}
	again := e.disp.wait(t, schemas.TypePromoStarted, 2, func(m map[string]any) bool {
		return m["promo_id"] == id && m["sku"] == "PRD-0002" && m["regular_price_cents"] == 500.0
	})
	for _, ev := range again {
		if ev["promo_price_cents"] != 400.0 {
			t.Fatalf("re-announced promotion %v, want 400", ev)
		}
	}
	reg, promo = 500, 400

	e.set(t, time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)) // 20:00 in New York
	eventually(t, "S001 ended", inPromo("S001", false))
	if msg := inPromo("S004", true)(); msg != "" {
		t.Fatalf("S004 ended at 17:00 local: %s", msg)
	}
	ended := e.disp.wait(t, schemas.TypePromoEnded, 2, started("S001"))
	if ended[0]["ended_at"] != "2026-12-06T01:00:00Z" {
		t.Fatalf("promo.ended %v", ended[0])
	}
	e.set(t, time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC))
	eventually(t, "S004 ended", inPromo("S004", false))
	e.disp.wait(t, schemas.TypePromoEnded, 2, started("S004"))

	g := call(t, "GET", base+"/v1/promotions/"+id, nil)
	for _, s := range g.body["stores"].([]any) {
		if s.(map[string]any)["state"] != "ended" {
			t.Fatalf("after both ends: %s", g.raw)
		}
	}
	// Each store and SKU started once by the clock (plus once re-announced), ended once.
	if n := len(e.disp.matching(schemas.TypePromoEnded, field("promo_id", id))); n != 4 {
		t.Fatalf("%d promo.ended, want 4", n)
	}
}

// TestPromotionNowAndDelete: a promotion whose start is past starts in the request, for every
// store when store_ids is omitted; GET lists it as active; DELETE ends it at once.
func TestPromotionNowAndDelete(t *testing.T) {
	e := newEnv(t)
	base, _ := e.start(t)
	id, a := postPromo(t, base, map[string]any{"skus": []string{"PRD-0004"}, "promo_price_cents": 99, "title": "Manager's special",
		"starts_at": "2026-12-05T11:00:00Z", "ends_at": "2026-12-06T11:00:00Z"})
	for _, s := range a.body["stores"].([]any) {
		if s.(map[string]any)["state"] != "running" {
			t.Fatalf("a promotion started in the past is not running at once: %s", a.raw)
		}
	}
	evs := e.disp.wait(t, schemas.TypePromoStarted, 6, field("promo_id", id))
	if evs[0]["promo_price_cents"] != 99.0 || evs[0]["title"] != "Manager's special" {
		t.Fatalf("promo.started %v", evs[0])
	}
	if p := price(t, base, "S005", "PRD-0004"); p.PriceCents != 99 || p.Promo == nil || p.Promo.PromoID != id {
		t.Fatalf("price during promotion %+v", p)
	}
	l := call(t, "GET", base+"/v1/promotions?store_id=S005&active=true", nil)
	if ps := l.body["promotions"].([]any); len(ps) != 1 || ps[0].(map[string]any)["promo_id"] != id {
		t.Fatalf("active promotions of S005: %s", l.raw)
	}
	if l := call(t, "GET", base+"/v1/promotions?active=false", nil); len(l.body["promotions"].([]any)) != 0 {
		t.Fatalf("inactive promotions: %s", l.raw)
	}
	e.set(t, t0.Add(10*time.Minute))
	d := call(t, "DELETE", base+"/v1/promotions/"+id, nil)
	if d.status != 200 || d.body["ended_at"] == nil {
		t.Fatalf("DELETE: %d %s", d.status, d.raw)
	}
	ended := e.disp.wait(t, schemas.TypePromoEnded, 6, field("promo_id", id))
	if ended[0]["ended_at"] != "2026-12-05T12:10:00Z" {
		t.Fatalf("promo.ended %v", ended[0])
	}
	if p := price(t, base, "S005", "PRD-0004"); p.Promo != nil || p.PriceCents != catalogPrice(t, "PRD-0004") {
		t.Fatalf("price after DELETE %+v", p)
	}
	if d := call(t, "DELETE", base+"/v1/promotions/"+id, nil); d.status != 200 {
		t.Fatalf("second DELETE: %d %s", d.status, d.raw)
	}
	if n := len(e.disp.matching(schemas.TypePromoEnded, field("promo_id", id))); n != 6 {
		t.Fatalf("%d promo.ended after a second DELETE, want 6", n)
	}
	// Its window is over, so the same SKU can have another promotion right after.
	postPromo(t, base, map[string]any{"skus": []string{"PRD-0004"}, "percent_off": 10, "title": "Next",
		"starts_at": "2026-12-05T12:10:00Z", "ends_at": "2026-12-05T18:00:00Z"})
	if d := call(t, "DELETE", base+"/v1/promotions/"+uuid.NewString(), nil); d.status != 404 {
		t.Fatalf("DELETE of an unknown promotion: %d", d.status)
	}
}

// TestBadInput: every refused request is problem+json naming the field, and changes nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	base, _ := e.start(t)
	postPromo(t, base, map[string]any{"skus": []string{"PRD-0005"}, "store_ids": []string{"S001"}, "percent_off": 10, "title": "existing",
		"starts_at": "2026-12-06T08:00", "ends_at": "2026-12-07T08:00"})
	promo := func(m map[string]any) map[string]any {
		b := map[string]any{"skus": []string{"PRD-0006"}, "percent_off": 10, "title": "t", "starts_at": "2026-12-06T08:00", "ends_at": "2026-12-07T08:00"}
		for k, v := range m {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"unknown SKU", "PUT", "/v1/prices/XYZ-0001", map[string]any{"price_cents": 100}, 422, "sku"},
		{"unknown store", "PUT", "/v1/prices/PRD-0001", map[string]any{"price_cents": 100, "store_id": "S999"}, 422, "store_id"},
		{"negative price", "PUT", "/v1/prices/PRD-0001", map[string]any{"price_cents": -1}, 422, "price_cents"},
		{"absurd price", "PUT", "/v1/prices/PRD-0001", map[string]any{"price_cents": 10_000_001}, 422, "price_cents"},
		{"missing price", "PUT", "/v1/prices/PRD-0001", map[string]any{"reason": "x"}, 422, "price_cents"},
		{"price as string", "PUT", "/v1/prices/PRD-0001", `{"price_cents": "12"}`, 422, "price_cents"},
		{"unknown field", "PUT", "/v1/prices/PRD-0001", `{"price_cents": 12, "colour": "red"}`, 422, "colour"},
		{"bad effective_at", "PUT", "/v1/prices/PRD-0001", map[string]any{"price_cents": 100, "effective_at": "soon"}, 422, "effective_at"},
		{"local time chain-wide", "PUT", "/v1/prices/PRD-0001", map[string]any{"price_cents": 100, "effective_at": "2026-12-06T08:00"}, 422, "effective_at"},
		{"malformed JSON", "PUT", "/v1/prices/PRD-0001", `{"price_cents": 1`, 400, ""},
		{"oversized body", "POST", "/v1/promotions", `{"title": "` + strings.Repeat("x", MaxBody) + `"}`, 413, ""},
		{"price of unknown store", "GET", "/v1/prices?store_id=S999", nil, 422, "store_id"},
		{"price without store", "GET", "/v1/prices?sku=PRD-0001", nil, 422, "store_id"},
		{"zero percent", "POST", "/v1/promotions", promo(map[string]any{"percent_off": 0}), 422, "percent_off"},
		{"over 100 percent", "POST", "/v1/promotions", promo(map[string]any{"percent_off": 101}), 422, "percent_off"},
		{"price and percent", "POST", "/v1/promotions", promo(map[string]any{"promo_price_cents": 100}), 422, "percent_off"},
		{"negative promo price", "POST", "/v1/promotions", promo(map[string]any{"percent_off": nil, "promo_price_cents": -5}), 422, "promo_price_cents"},
		{"no price at all", "POST", "/v1/promotions", promo(map[string]any{"percent_off": nil}), 422, "promo_price_cents"},
		{"unknown promo SKU", "POST", "/v1/promotions", promo(map[string]any{"skus": []string{"PRD-0006", "NOP-0001"}}), 422, "skus[1]"},
		{"no SKUs", "POST", "/v1/promotions", promo(map[string]any{"skus": []string{}}), 422, "skus"},
		{"unknown promo store", "POST", "/v1/promotions", promo(map[string]any{"store_ids": []string{"S001", "S777"}}), 422, "store_ids[1]"},
		{"stores not a list", "POST", "/v1/promotions", promo(map[string]any{"store_ids": "some"}), 422, "store_ids"},
		{"ends before it starts", "POST", "/v1/promotions", promo(map[string]any{"ends_at": "2026-12-06T07:00"}), 422, "ends_at"},
		{"ends in the past", "POST", "/v1/promotions", promo(map[string]any{"starts_at": "2026-12-01T08:00", "ends_at": "2026-12-02T08:00"}), 422, "ends_at"},
		{"bad start", "POST", "/v1/promotions", promo(map[string]any{"starts_at": "Monday"}), 422, "starts_at"},
		{"no title", "POST", "/v1/promotions", promo(map[string]any{"title": " "}), 422, "title"},
		{"overlap", "POST", "/v1/promotions", promo(map[string]any{"skus": []string{"PRD-0006", "PRD-0005"}, "starts_at": "2026-12-07T07:00"}), 422, "skus[1]"},
		{"accuracy of unknown store", "GET", "/v1/price-accuracy?store_id=S0", nil, 422, "store_id"},
		{"bad active", "GET", "/v1/promotions?active=maybe", nil, 422, "active"},
		{"unknown promotion", "GET", "/v1/promotions/" + uuid.NewString(), nil, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, tc.method, base+tc.path, tc.body)
			if a.status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, a.status, a.raw, tc.status)
			}
			if tc.field == "" {
				if a.body["title"] == nil {
					t.Fatalf("not a problem document: %s", a.raw)
				}
				return
			}
			errs, _ := a.body["errors"].([]any)
			for _, fe := range errs {
				if fe.(map[string]any)["field"] == tc.field {
					return
				}
			}
			t.Fatalf("no error on %q: %s", tc.field, a.raw)
		})
	}
	// Nothing was changed by any of them: one promotion, catalog prices, no price events.
	if l := call(t, "GET", base+"/v1/promotions", nil); len(l.body["promotions"].([]any)) != 1 {
		t.Fatalf("promotions after bad input: %s", l.raw)
	}
	if p := price(t, base, "S001", "PRD-0001"); p.PriceCents != catalogPrice(t, "PRD-0001") {
		t.Fatalf("price changed by bad input: %+v", p)
	}
}

// sale builds a sale.completed in store at at with the lines (sku, unit price).
func sale(store string, at time.Time, lines ...any) schemas.SaleCompleted {
	s := schemas.SaleCompleted{SaleID: uuid.NewString(), StoreID: store, Register: "R01", OccurredAt: at, Payment: schemas.Payment{Method: "card"}}
	for i := 0; i < len(lines); i += 2 {
		l := schemas.SaleLine{SKU: lines[i].(string), Qty: 1, UnitPriceCents: lines[i+1].(int64)}
		s.Lines = append(s.Lines, l)
		s.TotalCents += l.UnitPriceCents
	}
	s.Payment.AmountCents = s.TotalCents
	return s
}

// TestPriceAccuracy: sale lines at the price in force (the promotion's during one) are not
// counted; lines at another price are, per store and SKU, with the last prices, in the API
// and in /metrics; a sale consumed twice counts once.
func TestPriceAccuracy(t *testing.T) {
	e := newEnv(t)
	base, _ := e.start(t)
	p7, p8 := catalogPrice(t, "PRD-0007"), catalogPrice(t, "PRD-0008")
	// A promotion on PRD-0008 in S001 from 12:30 to 13:30 UTC, and a new price for PRD-0007
	// from 12:10.
	id, _ := postPromo(t, base, map[string]any{"skus": []string{"PRD-0008"}, "store_ids": []string{"S001"}, "promo_price_cents": 10, "title": "Flash",
		"starts_at": "2026-12-05T12:30:00Z", "ends_at": "2026-12-05T13:30:00Z"})
	// A promotion asked for at 12:00 that started "an hour ago" was not in force before 12:00.
	postPromo(t, base, map[string]any{"skus": []string{"PRD-0009"}, "store_ids": []string{"S001"}, "promo_price_cents": 10, "title": "Late",
		"starts_at": "2026-12-05T11:00:00Z", "ends_at": "2026-12-05T15:00:00Z"})
	e.set(t, t0.Add(10*time.Minute))
	if a := call(t, "PUT", base+"/v1/prices/PRD-0007", map[string]any{"price_cents": p7 + 100}); a.status != 200 {
		t.Fatalf("PUT: %d %s", a.status, a.raw)
	}
	state := func(want string) func() string {
		return func() string {
			g := call(t, "GET", base+"/v1/promotions/"+id, nil)
			if s := g.body["stores"].([]any)[0].(map[string]any)["state"]; s != want {
				return fmt.Sprint(s)
			}
			return ""
		}
	}
	e.set(t, t0.Add(30*time.Minute))
	eventually(t, "promotion started", state("running"))
	e.set(t, t0.Add(90*time.Minute))
	eventually(t, "promotion ended", state("ended"))
	p9 := catalogPrice(t, "PRD-0009")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	sales := []schemas.SaleCompleted{
		sale("S001", at(5), "PRD-0007", p7, "PRD-0008", p8), // both right (before the change)
		sale("S001", at(15), "PRD-0007", p7),                // stale: the old price after the change
		sale("S001", at(15), "PRD-0007", p7+100),            // right
		sale("S001", at(40), "PRD-0008", int64(10)),         // right: the promotion's price
		sale("S001", at(45), "PRD-0008", p8),                // wrong: the regular price during the promotion
		sale("S001", at(95), "PRD-0008", p8),                // right: the promotion is over
		sale("S002", at(40), "PRD-0008", p8),                // right: no promotion in S002
		sale("S001", at(-30), "PRD-0009", p9),               // right: the late promotion did not exist yet
		sale("S001", at(1), "PRD-0009", int64(10)),          // right: it did now
	}
	dup := sales[1]
	pr, err := events.NewProducer(events.ProducerConfig{Brokers: []string{e.broker.Addr}, Source: "freshmart/pos"})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx := context.Background()
	for _, s := range append(sales, dup) {
		if _, _, err := pr.Produce(ctx, events.Out{Topic: schemas.TopicPOSSales, Key: s.StoreID, Type: schemas.TypeSaleCompleted, Payload: s}); err != nil {
			t.Fatal(err)
		}
	}
	var acc Accuracy
	eventually(t, "accuracy of S001", func() string {
		a := call(t, "GET", base+"/v1/price-accuracy?store_id=S001", nil)
		acc = Accuracy{}
		_ = json.Unmarshal([]byte(a.raw), &acc)
		if acc.SalesLinesChecked != 9 {
			return fmt.Sprintf("%d lines checked", acc.SalesLinesChecked)
		}
		return ""
	})
	if acc.MismatchedLines != 2 || len(acc.SKUs) != 2 || acc.Accuracy != 7.0/9 {
		t.Fatalf("S001 accuracy %+v, want 2 of 9 lines wrong", acc)
	}
	bySKU := map[string]AccuracySKU{}
	for _, s := range acc.SKUs {
		bySKU[s.SKU] = s
	}
	if s := bySKU["PRD-0007"]; s.Mismatches != 1 || s.LastExpectedCents != p7+100 || s.LastChargedCents != p7 || !s.LastAt.Equal(at(15)) {
		t.Fatalf("PRD-0007 %+v", s)
	}
	if s := bySKU["PRD-0008"]; s.Mismatches != 1 || s.LastExpectedCents != 10 || s.LastChargedCents != p8 {
		t.Fatalf("PRD-0008 %+v", s)
	}
	eventually(t, "accuracy of S002", func() string {
		a := call(t, "GET", base+"/v1/price-accuracy?store_id=S002", nil)
		if a.body["sales_lines_checked"] != 1.0 || a.body["mismatched_lines"] != 0.0 || a.body["accuracy"] != 1.0 {
			return a.raw
		}
		return ""
	})
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`freshmart_pricing_price_mismatches_total{sku="PRD-0007",store="S001"} 1`,
		`freshmart_pricing_price_mismatches_total{sku="PRD-0008",store="S001"} 1`,
		`freshmart_pricing_sale_lines_checked_total{store="S001"} 9`,
	} {
		if !strings.Contains(string(m), line) {
			t.Fatalf("/metrics lacks %s", line)
		}
	}

	// `pricing rebuild`: replaying pos-sales against the price book gives the same accuracy.
	rb := kittest.Build(t, RebuildOptions, e.vars())
	rep, err := Rebuild(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	if shown, total := rep.Differences(); total != 0 || rep.LiveSales != 9 || rep.RebuiltSales != 9 || rep.Records < 9 {
		t.Fatalf("rebuild: %s; %d differences: %v", rep.Summary(), total, shown)
	}
	// A count changed behind the consumer's back is found.
	pool, err := pgxpool.New(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `UPDATE pricing.accuracy_skus SET last_charged_cents = last_charged_cents + 1 WHERE store_id = 'S001' AND sku = 'PRD-0007'`); err != nil {
		t.Fatal(err)
	}
	rep, err = Rebuild(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	if shown, total := rep.Differences(); total != 1 || !strings.Contains(shown[0], "store S001 sku PRD-0007") {
		t.Fatalf("rebuild after tampering: %d differences: %v", total, shown)
	}
}

// TestRestartKeepsSchedule: a promotion and a price change scheduled before the service stops
// start and apply after it comes back, each once.
func TestRestartKeepsSchedule(t *testing.T) {
	e := newEnv(t)
	base, stop := e.startStoppable(t)
	id, _ := postPromo(t, base, map[string]any{"skus": []string{"PRD-0009"}, "store_ids": []string{"S003"}, "percent_off": 50, "title": "Half price",
		"starts_at": "2026-12-05T12:30:00Z", "ends_at": "2026-12-05T14:00:00Z"})
	if a := call(t, "PUT", base+"/v1/prices/PRD-0010", map[string]any{"price_cents": 777, "effective_at": "2026-12-05T12:45:00Z"}); a.status != 202 {
		t.Fatalf("scheduled change: %d %s", a.status, a.raw)
	}
	stop()
	e.clk.Set(t0.Add(time.Hour)) // both came due while no service ran
	base, _ = e.start(t)
	eventually(t, "promotion after restart", func() string {
		if p := price(t, base, "S003", "PRD-0009"); p.Promo == nil || p.Promo.PromoID != id {
			return fmt.Sprintf("%+v", p)
		}
		if p := price(t, base, "S003", "PRD-0010"); p.PriceCents != 777 {
			return fmt.Sprintf("PRD-0010 at %d", p.PriceCents)
		}
		return ""
	})
	e.disp.wait(t, schemas.TypePromoStarted, 1, field("promo_id", id))
	e.disp.wait(t, schemas.TypePriceChanged, 6, field("sku", "PRD-0010"))
}

// TestTwoReplicasFireOnce: two replicas share the database and the clock; a promotion on three
// SKUs in every store starts once per store and SKU, not twice.
func TestTwoReplicasFireOnce(t *testing.T) {
	e := newEnv(t)
	base1, a1 := e.start(t)
	base2, a2 := e.start(t)
	id, _ := postPromo(t, base1, map[string]any{"skus": []string{"PRD-0011", "PRD-0012", "PRD-0013"}, "percent_off": 15, "title": "Weekend",
		"starts_at": "2026-12-05T12:05", "ends_at": "2026-12-05T23:00"})
	e.set(t, time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)) // 12:05 has come in every store (20:05 UTC in Los Angeles)
	eventually(t, "started everywhere", func() string {
		g := call(t, "GET", base2+"/v1/promotions/"+id, nil)
		for _, s := range g.body["stores"].([]any) {
			if s.(map[string]any)["state"] != "running" {
				return g.raw
			}
		}
		return ""
	})
	// Both replicas running the job again find nothing left to do.
	for _, a := range []*App{a1, a2} {
		if d, err := a.ApplyDue(context.Background()); err != nil || d != (Due{}) {
			t.Fatalf("ApplyDue after the start: %+v %v", d, err)
		}
	}
	// A later chain-wide change goes out after every earlier event of each store (outbox order,
	// one partition per store): once its six events are in, every start has been read.
	a := call(t, "PUT", base2+"/v1/prices/PRD-0001", map[string]any{"price_cents": 1})
	e.disp.wait(t, schemas.TypePriceChanged, 6, field("change_id", a.body["change_id"].(string)))
	evs := e.disp.matching(schemas.TypePromoStarted, field("promo_id", id))
	ids := map[string]bool{}
	for _, ev := range evs {
		ids[ev["_id"].(string)] = true
	}
	if len(evs) != 18 || len(ids) != 18 {
		t.Fatalf("%d promo.started (%d distinct ids), want 18 once each", len(evs), len(ids))
	}
}
