package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
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
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// t0 is the services' clock at the start of every test.
var t0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

type env struct {
	broker *brokertest.Broker
	dsn    string
	clk    *clock.Manual
	cl     *kgo.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := brokertest.Start(t)
	return &env{broker: b, dsn: pgtest.New(t), clk: clock.NewManual(t0), cl: b.Client(t)}
}

func (e *env) vars() map[string]string {
	return map[string]string{"KAFKA_BROKERS": e.broker.Addr, "DATABASE_URL": e.dsn}
}

// start runs a loyalty service on e until the test ends and returns its base URL.
func (e *env) start(t *testing.T) string {
	t.Helper()
	s := kittest.Start(t, Options, e.vars(), func(_ context.Context, s *kit.Service) error {
		_, err := New(s, Config{Clock: e.clk, TierSpec: "0 * * * *"})
		return err
	})
	return kittest.URL(s)
}

// line is a sale line: sku, qty, unit price.
type line struct {
	sku   string
	qty   int64
	price int64
}

// sale returns a sale.completed event.
func sale(id, store, card string, at time.Time, lines ...line) events.Event {
	s := schemas.SaleCompleted{SaleID: id, StoreID: store, Register: "R01", OccurredAt: at, LoyaltyID: card}
	for _, l := range lines {
		s.Lines = append(s.Lines, schemas.SaleLine{SKU: l.sku, Qty: l.qty, UnitPriceCents: l.price})
		s.TotalCents += l.qty * l.price
	}
	s.Payment = schemas.Payment{Method: "card", AmountCents: s.TotalCents}
	data, _ := json.Marshal(s)
	return events.Event{Envelope: events.Envelope{ID: uuid.NewString(), Type: schemas.TypeSaleCompleted, Source: "freshmart/pos", Time: at},
		Key: store, Data: data}
}

func void(id, store string, at time.Time) events.Event {
	data, _ := json.Marshal(schemas.SaleVoided{SaleID: id, StoreID: store, VoidedAt: at, Reason: "customer changed mind"})
	return events.Event{Envelope: events.Envelope{ID: uuid.NewString(), Type: schemas.TypeSaleVoided, Source: "freshmart/pos", Time: at},
		Key: store, Data: data}
}

func (e *env) produce(t *testing.T, evs ...events.Event) {
	t.Helper()
	recs := make([]*kgo.Record, len(evs))
	for i, ev := range evs {
		recs[i] = events.NewRecord(schemas.TopicPOSSales, ev.Key, ev.Envelope, ev.Data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func do(t *testing.T, method, url string, body any) answer {
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

func member(t *testing.T, base, id string) Member {
	t.Helper()
	a := do(t, "GET", base+"/v1/members/"+id, nil)
	if a.status != 200 {
		t.Fatalf("GET member %s: %d %s", id, a.status, a.raw)
	}
	var m Member
	if err := json.Unmarshal([]byte(a.raw), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func waitFor(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// consumed waits until the consumer has stored positions covering n pos-sales records.
func consumed(t *testing.T, pool *pgxpool.Pool, n int64) {
	t.Helper()
	waitFor(t, "consumed", func() error {
		var got int64
		if err := pool.QueryRow(context.Background(), `SELECT coalesce(sum(next_offset), 0) FROM loyalty.consumer_offsets
			WHERE group_id = 'loyalty' AND topic = 'pos-sales'`).Scan(&got); err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("%d of %d records consumed", got, n)
		}
		return nil
	})
}

// wantMember waits until the member's balance, 12-month points and tier are as given.
func wantMember(t *testing.T, base, id string, balance, p12 int64, tier string) Member {
	t.Helper()
	var m Member
	waitFor(t, "member "+id, func() error {
		m = member(t, base, id)
		if m.PointsBalance != balance || m.Points12m != p12 || m.Tier != tier {
			return fmt.Errorf("balance %d, 12m %d, %s; want %d, %d, %s", m.PointsBalance, m.Points12m, m.Tier, balance, p12, tier)
		}
		return nil
	})
	return m
}

var (
	apples = line{"PRD-0001", 3, 250}   // produce, $7.50
	milk   = line{"PRD-0026", 2, 399}   // dairy, $7.98
	bread  = line{"PRD-0046", 1, 1050}  // bakery, $10.50
	steak  = line{"PRD-0066", 1, 25000} // meat, $250
)

// TestEarnBonusesRulesAndVoids: a sale earns 1 point per whole dollar; one without a card
// earns nothing; a copy of a sale earns nothing more; a department bonus and a promotion bonus
// from their dates on (a sale before the date earns by the old rules); a void reverses exactly
// what its sale earned, also when it comes first; a second void and a void of a cash sale change
// nothing; the store's points of a day count both.
func TestEarnBonusesRulesAndVoids(t *testing.T) {
	e := newEnv(t)
	base := e.start(t)
	pool := pgtest.Pool(t, e.dsn)

	// Rules from 2026-03-10: double points on dairy, triple on bread in S001 for a week.
	for _, r := range []map[string]any{
		{"rule_id": "dairy-2x", "kind": "department", "department": "dairy", "multiplier_pct": 200, "effective_from": "2026-03-10"},
		{"rule_id": "bread-week", "kind": "promotion", "skus": []string{"PRD-0046"}, "stores": []string{"S001"},
			"multiplier_pct": 300, "effective_from": "2026-03-10", "effective_until": "2026-03-17", "promo_id": uuid.NewString()},
	} {
		if a := do(t, "POST", base+"/v1/rules", r); a.status != 201 {
			t.Fatalf("POST rule: %d %s", a.status, a.raw)
		}
	}
	if a := do(t, "POST", base+"/v1/rules", map[string]any{"rule_id": "late", "kind": "base", "points_per_dollar": 5, "effective_from": "2026-03-02"}); a.status != 422 || !strings.Contains(a.raw, `"field":"effective_from"`) {
		t.Fatalf("a rule for today: %d %s", a.status, a.raw)
	}
	var rules struct{ Rules []RuleJSON }
	if a := do(t, "GET", base+"/v1/rules", nil); a.status != 200 || json.Unmarshal([]byte(a.raw), &rules) != nil || len(rules.Rules) != 3 {
		t.Fatalf("GET rules: %d %s", a.status, a.raw)
	}

	before := time.Date(2026, 3, 5, 17, 0, 0, 0, time.UTC) // 12:00 in New York
	after := time.Date(2026, 3, 12, 17, 0, 0, 0, time.UTC)
	s1, s2, s3, s4, cash := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.produce(t,
		sale(s1, "S001", "CARD-1", before, apples, milk, bread), // $25.98 before the rules: 25
		sale(s1, "S001", "CARD-1", before, apples, milk, bread), // the register's retry: nothing
		sale(cash, "S001", "", before, steak),                   // no card: nothing
		sale(s2, "S001", "CARD-1", after, apples, milk, bread),  // 25 + dairy 7 + bread 21 = 53
		sale(s3, "S002", "CARD-1", after, bread),                // another store: no promotion, 10
		void(s4, "S001", after.Add(time.Hour)),                  // a void before its sale
		sale(s4, "S001", "CARD-2", after, steak),                // 250, reversed at once
		void(cash, "S001", after.Add(time.Hour)),                // a void of a cash sale
	)
	consumed(t, pool, 8)
	m := wantMember(t, base, "CARD-1", 88, 88, "Green")
	byRule := map[string]int64{}
	for _, l := range m.Ledger {
		if l.SaleID == s2 {
			byRule[l.RuleID] = l.Points
		}
	}
	if byRule["base"] != 25 || byRule["dairy-2x"] != 7 || byRule["bread-week"] != 21 || len(m.Ledger) != 5 {
		t.Fatalf("sale 2 earned %v; ledger %+v", byRule, m.Ledger)
	}
	wantMember(t, base, "CARD-2", 0, 0, "Green")

	// Void sale 2, twice: exactly its 53 points come back off, once.
	e.produce(t, void(s2, "S001", after.Add(26*time.Hour)), void(s2, "S001", after.Add(27*time.Hour)))
	consumed(t, pool, 10)
	m = wantMember(t, base, "CARD-1", 35, 35, "Green")
	var reversed []string
	for _, l := range m.Ledger {
		if l.Kind == "reverse" {
			reversed = append(reversed, fmt.Sprintf("%s %d", l.RuleID, l.Points))
		}
	}
	slices.Sort(reversed)
	if strings.Join(reversed, ",") != "base -25,bread-week -21,dairy-2x -7" {
		t.Fatalf("reversals %v, want base -25, bread-week -21, dairy-2x -7", reversed)
	}
	// A card never seen.
	if m := member(t, base, "CARD-NEW"); m.PointsBalance != 0 || m.Tier != "Green" || len(m.Ledger) != 0 {
		t.Fatalf("new card %+v", m)
	}
	// The store's day: S001 on 2026-03-12 issued 53 + 250 and reversed 250 that day; sale 2's
	// reversal falls on the 13th.
	var sp StorePoints
	a := do(t, "GET", base+"/v1/stores/S001/points?date=2026-03-12", nil)
	if a.status != 200 || json.Unmarshal([]byte(a.raw), &sp) != nil || sp.Issued != 303 || sp.Reversed != 250 || sp.Sales != 2 {
		t.Fatalf("store points: %d %s", a.status, a.raw)
	}
	a = do(t, "GET", base+"/v1/stores/S001/points?date=2026-03-13", nil)
	if a.status != 200 || !strings.Contains(a.raw, `"points_reversed":53`) {
		t.Fatalf("store points: %d %s", a.status, a.raw)
	}
	// Today (the clock's day in New York) by default.
	if a := do(t, "GET", base+"/v1/stores/S001/points", nil); a.status != 200 || !strings.Contains(a.raw, `"date":"2026-03-02"`) {
		t.Fatalf("store points today: %d %s", a.status, a.raw)
	}
	for _, u := range []string{"/v1/stores/S999/points", "/v1/stores/S001/points?date=yesterday"} {
		if a := do(t, "GET", base+u, nil); a.status != 422 {
			t.Errorf("GET %s: %d %s", u, a.status, a.raw)
		}
	}
}

// TestRedeem: a short balance is refused with 409 and takes nothing; a redemption takes its
// points once, answers a retry with the first result (also after a restart) and puts one
// loyalty.redeemed on the loyalty topic; bad input names the field.
func TestRedeem(t *testing.T) {
	e := newEnv(t)
	first := kittest.Build(t, Options, e.vars())
	if _, err := New(first, Config{Clock: e.clk}); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	<-first.Listening()
	base := kittest.URL(first)
	pool := pgtest.Pool(t, e.dsn)
	e.produce(t, sale(uuid.NewString(), "S003", "CARD-9", t0.Add(-time.Hour), steak))
	consumed(t, pool, 1)
	wantMember(t, base, "CARD-9", 250, 250, "Green")

	url := base + "/v1/members/CARD-9/redeem"
	if a := do(t, "POST", url, map[string]any{"points": 300, "redemption_id": uuid.NewString()}); a.status != 409 {
		t.Fatalf("short balance: %d %s", a.status, a.raw)
	}
	rid := uuid.NewString()
	a := do(t, "POST", url, map[string]any{"points": 100, "redemption_id": rid})
	if a.status != 200 || a.body["balance_after"] != float64(150) {
		t.Fatalf("redeem: %d %s", a.status, a.raw)
	}
	e.clk.Advance(time.Minute)
	if b := do(t, "POST", url, map[string]any{"points": 100, "redemption_id": rid}); b.status != 200 || b.raw != a.raw {
		t.Fatalf("retry: %d %s, first %s", b.status, b.raw, a.raw)
	}
	if b := do(t, "POST", url, map[string]any{"points": 120, "redemption_id": rid}); b.status != 409 {
		t.Fatalf("id reused for other points: %d %s", b.status, b.raw)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	base = e.start(t)
	url = base + "/v1/members/CARD-9/redeem"
	if b := do(t, "POST", url, map[string]any{"points": 100, "redemption_id": rid}); b.status != 200 || b.raw != a.raw {
		t.Fatalf("retry after restart: %d %s, first %s", b.status, b.raw, a.raw)
	}
	m := wantMember(t, base, "CARD-9", 150, 250, "Green")
	if m.Ledger[0].Kind != "redeem" || m.Ledger[0].Points != -100 || m.Ledger[0].RedemptionID != rid {
		t.Fatalf("ledger %+v", m.Ledger)
	}
	// One event on the loyalty topic, keyed by the card. The relay delivers at least once (the
	// service restarted above, perhaps between producing and marking its outbox row), and
	// readers drop copies by id, so copies with the same id are one event.
	cl := e.broker.Client(t, kgo.ConsumeTopics(schemas.TopicLoyalty), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []events.Event
	seen := map[string]bool{}
	for len(got) < 1 && pctx.Err() == nil {
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if ev, err := events.Parse(r); err == nil && !seen[ev.ID] {
				seen[ev.ID] = true
				got = append(got, ev)
			}
		})
	}
	if len(got) != 1 || got[0].ID != rid || got[0].Key != "CARD-9" || got[0].Type != schemas.TypeLoyaltyRedeemed {
		t.Fatalf("loyalty topic: %+v", got)
	}
	tests := []struct {
		name, url, body, field string
		status                 int
	}{
		{"zero points", url, `{"points":0,"redemption_id":"` + uuid.NewString() + `"}`, "points", 422},
		{"negative points", url, `{"points":-5,"redemption_id":"` + uuid.NewString() + `"}`, "points", 422},
		{"fractional points", url, `{"points":1.5,"redemption_id":"` + uuid.NewString() + `"}`, "points", 422},
		{"missing points", url, `{"redemption_id":"` + uuid.NewString() + `"}`, "points", 422},
		{"bad redemption id", url, `{"points":5,"redemption_id":"r-1"}`, "redemption_id", 422},
		{"unknown field", url, `{"points":5,"redemption_id":"` + uuid.NewString() + `","tip":1}`, "tip", 422},
		{"bad card", base + "/v1/members/bad%20card/redeem", `{"points":5,"redemption_id":"` + uuid.NewString() + `"}`, "loyalty_id", 422},
		{"invalid JSON", url, `{"points":`, "", 400},
		{"oversized", url, `{"points":5,"redemption_id":"` + strings.Repeat("x", MaxBody) + `"}`, "", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, "POST", tt.url, tt.body)
			if a.status != tt.status || (tt.field != "" && !strings.Contains(a.raw, `"field":"`+tt.field+`"`)) {
				t.Fatalf("%d %s; want %d naming %q", a.status, a.raw, tt.status, tt.field)
			}
		})
	}
	wantMember(t, base, "CARD-9", 150, 250, "Green")
}

// TestTiers: a member moves up to Silver and Gold by sales, down by a void, and down again
// when the tier job runs after points have left the 12-month window (a Manual clock).
func TestTiers(t *testing.T) {
	e := newEnv(t)
	base := e.start(t)
	pool := pgtest.Pool(t, e.dsn)
	big := line{"PRD-0066", 1, 100_000} // $1,000
	s1, s2, s3 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.produce(t, sale(s1, "S004", "GOLDIE", t0.AddDate(0, -11, 0), big))
	consumed(t, pool, 1)
	wantMember(t, base, "GOLDIE", 1000, 1000, "Silver")
	e.produce(t, sale(s2, "S004", "GOLDIE", t0.AddDate(0, -1, 0), big, big, big, big))
	consumed(t, pool, 2)
	wantMember(t, base, "GOLDIE", 5000, 5000, "Gold")
	e.produce(t, void(s2, "S004", t0.Add(-time.Hour)))
	consumed(t, pool, 3)
	wantMember(t, base, "GOLDIE", 1000, 1000, "Silver")
	e.produce(t, sale(s3, "S004", "GOLDIE", t0.Add(-time.Hour), big, big, big, big))
	consumed(t, pool, 4)
	wantMember(t, base, "GOLDIE", 5000, 5000, "Gold")
	// A month and a day later the first sale's 1,000 points have left the window: the tier
	// job (hourly in this test) moves the member down, without any new sale.
	e.clk.Set(t0.AddDate(0, 1, 1))
	wantMember(t, base, "GOLDIE", 5000, 4000, "Silver")
	// Another year: nothing counts.
	e.clk.Set(t0.AddDate(1, 1, 0))
	wantMember(t, base, "GOLDIE", 5000, 0, "Green")
}

// TestRestartAndRebuild: a crash mid-stream (the service stopped while a backlog is being
// consumed, a new instance taking over) changes no balance, and the rebuild of pos-sales and
// the loyalty topic equals the live ledger, balances and tiers.
func TestRestartAndRebuild(t *testing.T) {
	e := newEnv(t)
	pool := pgtest.Pool(t, e.dsn)
	var evs []events.Event
	want := map[string]int64{}
	for i := range 400 {
		card := fmt.Sprintf("CARD-%02d", i%20)
		id := uuid.NewString()
		l := line{"PRD-0106", int64(1 + i%5), 199 + int64(i)}
		evs = append(evs, sale(id, fmt.Sprintf("S00%d", 1+i%6), card, t0.Add(-time.Duration(i)*time.Minute), l))
		want[card] += (l.qty * l.price) / 100
		if i%7 == 0 { // a retry of the same sale
			evs = append(evs, sale(id, fmt.Sprintf("S00%d", 1+i%6), card, t0.Add(-time.Duration(i)*time.Minute), l))
		}
		if i%11 == 0 {
			evs = append(evs, void(id, fmt.Sprintf("S00%d", 1+i%6), t0))
			want[card] -= (l.qty * l.price) / 100
		}
	}
	first := kittest.Build(t, Options, e.vars())
	if _, err := New(first, Config{Clock: e.clk}); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	<-first.Listening()
	e.produce(t, evs...)
	// Stop as soon as some but not all of it is consumed.
	waitFor(t, "part consumed", func() error {
		var n int64
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM loyalty.sales`).Scan(&n); err != nil || n == 0 {
			return fmt.Errorf("%d sales, %v", n, err)
		}
		return nil
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	base := e.start(t)
	consumed(t, pool, int64(len(evs)))
	for card, pts := range want {
		wantMember(t, base, card, pts, pts, "Green")
	}
	// A redemption, then the rebuild.
	if a := do(t, "POST", base+"/v1/members/CARD-03/redeem", map[string]any{"points": 10, "redemption_id": uuid.NewString()}); a.status != 200 {
		t.Fatalf("redeem: %d %s", a.status, a.raw)
	}
	rb := kittest.Build(t, RebuildOptions, e.vars())
	rep, err := Rebuild(context.Background(), rb, Config{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() || rep.Redemptions != 1 || rep.LiveMembers != 20 || rep.Records != len(evs) || rep.LiveRows < 400 {
		t.Fatalf("rebuild: %+v", rep)
	}
	// A ledger row written behind the consumer's back is found.
	if _, err := pool.Exec(context.Background(), `INSERT INTO loyalty.ledger (loyalty_id, kind, sale_id, rule_id, points, at, counts_at, store_id)
		VALUES ('CARD-01', 'earn', $1, 'bonus', 5, now(), now(), 'S001')`, uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	if rep, err := Rebuild(context.Background(), rb, Config{Clock: e.clk}); err != nil || rep.Equal() {
		t.Fatalf("rebuild after tampering: %+v %v", rep, err)
	}
	// The ledger refuses updates.
	if _, err := pool.Exec(context.Background(), `UPDATE loyalty.ledger SET points = 0`); err == nil {
		t.Fatal("ledger UPDATE was allowed")
	}
}
