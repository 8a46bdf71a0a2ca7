package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
)

// The timer tests drive a complaints-window-like rule: every stock.adjusted event (re)sets the
// timer "<store>/<sku>" to 30 minutes after the event's time, reason "found" cancels it, and
// reason "returned" asks the timer handler to re-arm a follow-up timer "<key>/again" one hour
// later. The timer handler records the firing in streamtest.fired and emits a stock.level.
// Time only moves when a test moves its clock.Manual.

var timerBase = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const window = 30 * time.Minute

type adj struct {
	store, sku, reason string
	at                 time.Time
}

type timerData struct {
	Store string `json:"store"`
	SKU   string `json:"sku"`
	Rearm bool   `json:"rearm,omitempty"`
}

// produceAdj writes the adjustments in order (one ProduceSync, so records of one store keep
// their order in its partition).
func (e *env) produceAdj(adjs ...adj) {
	e.t.Helper()
	p, err := events.NewProducer(events.ProducerConfig{Brokers: []string{e.b.Addr}, Source: "freshmart/streamtest"})
	if err != nil {
		e.t.Fatal(err)
	}
	defer p.Close()
	var recs []*kgo.Record
	for _, a := range adjs {
		if a.reason == "" {
			a.reason = "correction"
		}
		payload, _ := json.Marshal(schemas.StockAdjusted{AdjustmentID: uuid.NewString(), StoreID: a.store, SKU: a.sku,
			Delta: 1, Reason: a.reason, At: a.at})
		env := events.Envelope{ID: uuid.NewString(), Type: schemas.TypeStockAdjusted, Source: "freshmart/test", Time: a.at}
		recs = append(recs, events.NewRecord(inTopic, a.store, env, payload))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
	e.inputs += len(adjs)
}

// windowHandler is the Handler of the timer tests.
func windowHandler(name string) Handler {
	mux := events.NewMux[*Tx]()
	events.On(mux, schemas.TypeStockAdjusted, func(ctx context.Context, tx *Tx, ev events.Event, a schemas.StockAdjusted) error {
		if _, err := tx.Exec(ctx, `INSERT INTO streamtest.applied VALUES ($1, $2)`, a.AdjustmentID, name); err != nil {
			return err
		}
		key := a.StoreID + "/" + a.SKU
		if a.Reason == "found" {
			return tx.CancelTimer(ctx, key)
		}
		data, _ := json.Marshal(timerData{Store: a.StoreID, SKU: a.SKU, Rearm: a.Reason == "returned"})
		return tx.SetTimer(ctx, Timer{Key: key, At: ev.Time.Add(window), Data: data})
	})
	return mux.Dispatch
}

// windowTimer is the TimerHandler of the timer tests.
func windowTimer(name string) TimerHandler {
	return func(ctx context.Context, tx *Tx, t Timer) error {
		var d timerData
		if err := json.Unmarshal(t.Data, &d); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO streamtest.fired VALUES ($1, $2, $3, $4, $5)`, t.Key, t.At, name, t.Topic, t.Partition); err != nil {
			return err
		}
		if _, err := tx.Emit(ctx, events.Out{Topic: outTopic, Key: d.Store, Type: schemas.TypeStockLevel, Payload: schemas.StockLevel{
			StoreID: d.Store, SKU: d.SKU, Cause: schemas.Cause{Type: "adjustment", ID: "window/" + t.Key}, At: t.At,
		}}); err != nil {
			return err
		}
		if d.Rearm {
			again, _ := json.Marshal(timerData{Store: d.Store, SKU: d.SKU})
			return tx.SetTimer(ctx, Timer{Key: t.Key + "/again", At: t.At.Add(time.Hour), Data: again})
		}
		return nil
	}
}

func (e *env) timerConsumer(group, name string, clk clock.Clock, th TimerHandler) *Consumer {
	e.t.Helper()
	c, err := New(Config{
		Brokers: []string{e.b.Addr}, Group: group, Topics: []string{inTopic}, Schema: schema, Source: "freshmart/streamtest",
		Pool: e.pool, Handler: windowHandler(name), TimerHandler: th, Clock: clk, Registerer: e.reg,
		Log:        slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("consumer", name),
		MinBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// metric returns the value of the series name{labels...} (counter or gauge) in the consumers'
// registry, 0 when absent.
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

type firing struct {
	key, consumer string
	at            time.Time
	topic         string
	partition     int32
}

func (e *env) fired() []firing {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT key, at, consumer, topic, partition FROM streamtest.fired ORDER BY at, key`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []firing
	for rows.Next() {
		var f firing
		if err := rows.Scan(&f.key, &f.at, &f.consumer, &f.topic, &f.partition); err != nil {
			e.t.Fatal(err)
		}
		f.at = f.at.UTC()
		out = append(out, f)
	}
	return out
}

// timerOutbox returns the outbox events a timer handler emitted (cause "window/..."), by cause
// id: their ce_id and ce_time.
func (e *env) timerOutbox() map[string][2]string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT convert_from(value, 'UTF8')::jsonb->'cause'->>'id',
		headers->>'ce_id', headers->>'ce_time' FROM streamtest.outbox ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var cause, id, at string
		if err := rows.Scan(&cause, &id, &at); err != nil {
			e.t.Fatal(err)
		}
		if !strings.HasPrefix(cause, "window/") {
			continue
		}
		if _, dup := out[cause]; dup {
			e.t.Errorf("two outbox events for %s", cause)
		}
		out[cause] = [2]string{id, at}
	}
	return out
}

// checkFired asserts that the firings are exactly want (key@offset from timerBase), each once,
// with one outbox event each whose id is derived from the timer and whose time is its At.
func (e *env) checkFired(group string, want map[string]time.Duration) {
	e.t.Helper()
	got := e.fired()
	outbox := e.timerOutbox()
	if len(got) != len(want) || len(outbox) != len(want) {
		e.t.Errorf("%d firings and %d timer events, want %d: %+v", len(got), len(outbox), len(want), got)
	}
	for _, f := range got {
		d, ok := want[f.key]
		if !ok || !f.at.Equal(timerBase.Add(d)) {
			e.t.Errorf("fired %s at %s, want %v (ok=%v)", f.key, f.at, timerBase.Add(d), ok)
			continue
		}
		ev, ok := outbox["window/"+f.key]
		wantID := TimerEventID(group, f.topic, f.partition, f.key, f.at, 0)
		if !ok || ev[0] != wantID || ev[1] != f.at.Format(time.RFC3339Nano) {
			e.t.Errorf("timer %s emitted %v, want id %s at %s", f.key, ev, wantID, f.at.Format(time.RFC3339Nano))
		}
	}
}

func TestTimerFiresWithoutNewRecord(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	clk := clock.NewManual(timerBase.Add(time.Minute))
	c := e.timerConsumer("timer-fires", "a", clk, windowTimer("a"))
	run(t, c)
	e.produceAdj(adj{store: "S001", sku: "PRD-0001", at: timerBase})
	due := timerBase.Add(window)
	// The loop has read the timer and sleeps until it is due.
	e.waitFor("the timer loop to wait for the timer", func() bool { return clk.Waiting(due) })
	if n := e.count(`SELECT count(*) FROM streamtest.consumer_timers WHERE group_id = 'timer-fires'`); n != 1 {
		t.Fatalf("%d timer rows, want 1", n)
	}
	clk.Advance(window - 2*time.Minute) // still a minute early
	if clk.Waiting(due) != true || len(e.fired()) != 0 {
		t.Fatal("timer fired early")
	}
	clk.Advance(time.Minute)
	e.waitFor("the timer to fire", func() bool { return len(e.fired()) == 1 })
	e.checkFired("timer-fires", map[string]time.Duration{"S001/PRD-0001": window})
	if n := e.count(`SELECT count(*) FROM streamtest.consumer_timers`); n != 0 {
		t.Errorf("%d timer rows left after firing", n)
	}
	if n := e.metric("freshmart_consumer_timers_fired_total", "group", "timer-fires"); n != 1 {
		t.Errorf("timers fired metric %v, want 1", n)
	}
	if n := e.metric("freshmart_consumer_timers_pending", "group", "timer-fires"); n != 0 {
		t.Errorf("timers pending metric %v, want 0", n)
	}
	// The consumer's client id names the group, the host and the process.
	adm := kadm.NewClient(b.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(ctx, "timer-fires")
	if err != nil {
		t.Fatal(err)
	}
	g := groups["timer-fires"]
	wantID := c.cfg.ClientID
	if !strings.HasPrefix(wantID, "timer-fires-") || !strings.HasSuffix(wantID, fmt.Sprintf("-%d", os.Getpid())) {
		t.Errorf("default client id %q", wantID)
	}
	if len(g.Members) != 1 || g.Members[0].ClientID != wantID {
		t.Errorf("group members %+v, want one with client id %q", g.Members, wantID)
	}
}

// TestTimerExactlyOnceAcrossCrashes fires one timer through a member that dies in the timer's
// transaction (everything rolls back: the state change, the outbox row, the deletion) and a
// member that dies right after the commit: the timer fires once, with the same event id.
func TestTimerExactlyOnceAcrossCrashes(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	clk := clock.NewManual(timerBase)
	const group = "timer-crash"

	// a dies inside the timer handler, after its state change and emit.
	ctxA, crashA := context.WithCancel(context.Background())
	var callsA atomic.Int64
	inner := windowTimer("a")
	a := e.timerConsumer(group, "a", clk, func(ctx context.Context, tx *Tx, tm Timer) error {
		callsA.Add(1)
		if err := inner(ctx, tx, tm); err != nil {
			return err
		}
		crashA()
		return ctx.Err()
	})
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	e.produceAdj(adj{store: "S002", sku: "PRD-0001", at: timerBase})
	e.waitFor("timer set", func() bool { return clk.Waiting(timerBase.Add(window)) })
	clk.Advance(window)
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	if callsA.Load() != 1 {
		t.Fatalf("a's timer handler ran %d times", callsA.Load())
	}
	if n := len(e.fired()); n != 0 {
		t.Fatalf("%d firings survived the rollback", n)
	}
	if n := len(e.timerOutbox()); n != 0 {
		t.Fatalf("%d timer events survived the rollback", n)
	}
	if n := e.count(`SELECT count(*) FROM streamtest.consumer_timers`); n != 1 {
		t.Fatalf("%d timer rows after the rollback, want the timer still there", n)
	}

	// b fires it (it is due at once) and dies right after the commit.
	ctxB, crashB := context.WithCancel(context.Background())
	bc := e.timerConsumer(group, "b", clk, windowTimer("b"))
	bc.afterTimerCommit = func(Timer) { crashB() }
	if err := bc.Run(ctxB); err != nil {
		t.Fatal(err)
	}
	e.checkFired(group, map[string]time.Duration{"S002/PRD-0001": window})

	// c takes over: the committed timer does not fire again; a new one does.
	cc := e.timerConsumer(group, "c", clk, windowTimer("c"))
	run(t, cc)
	e.produceAdj(adj{store: "S002", sku: "PRD-0002", at: timerBase.Add(time.Hour)})
	e.waitFor("second timer set", func() bool { return clk.Waiting(timerBase.Add(time.Hour + window)) })
	clk.Advance(time.Hour)
	e.waitFor("second timer fired", func() bool { return len(e.fired()) == 2 })
	e.checkFired(group, map[string]time.Duration{"S002/PRD-0001": window, "S002/PRD-0002": time.Hour + window})
	for _, f := range e.fired() {
		if want := map[string]string{"S002/PRD-0001": "b", "S002/PRD-0002": "c"}[f.key]; f.consumer != want {
			t.Errorf("%s fired by %s, want %s", f.key, f.consumer, want)
		}
	}
}

// TestTimerFailureRetried: a handler error rolls the timer's transaction back and the timer is
// retried (real-time back-off; the clock does not move) until it fires, once.
func TestTimerFailureRetried(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	clk := clock.NewManual(timerBase)
	var calls atomic.Int64
	inner := windowTimer("a")
	c := e.timerConsumer("timer-retry", "a", clk, func(ctx context.Context, tx *Tx, tm Timer) error {
		if err := inner(ctx, tx, tm); err != nil {
			return err
		}
		if calls.Add(1) <= 2 {
			return errors.New("downstream away")
		}
		return nil
	})
	run(t, c)
	e.produceAdj(adj{store: "S003", sku: "PRD-0001", at: timerBase})
	e.waitFor("timer set", func() bool { return clk.Waiting(timerBase.Add(window)) })
	clk.Advance(window)
	e.waitFor("timer fired", func() bool { return len(e.fired()) == 1 })
	e.checkFired("timer-retry", map[string]time.Duration{"S003/PRD-0001": window})
	if calls.Load() != 3 {
		t.Errorf("timer handler ran %d times, want 3 (two failures)", calls.Load())
	}
	if n := e.metric("freshmart_consumer_timer_failures_total", "group", "timer-retry"); n != 2 {
		t.Errorf("timer failures metric %v, want 2", n)
	}
}

// TestTimerReplaceCancelRearm: setting a key again replaces its timer (it fires once, at the
// later time), cancelling removes it, and a timer handler can set a new timer.
func TestTimerReplaceCancelRearm(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	clk := clock.NewManual(timerBase)
	c := e.timerConsumer("timer-replace", "a", clk, windowTimer("a"))
	run(t, c)
	e.produceAdj(
		adj{store: "S004", sku: "PRD-0001", at: timerBase},                                       // K: due +30m ...
		adj{store: "S004", sku: "PRD-0002", at: timerBase},                                       // J: due +30m ...
		adj{store: "S004", sku: "PRD-0003", reason: "returned", at: timerBase},                   // R: due +30m, re-arms
		adj{store: "S004", sku: "PRD-0001", at: timerBase.Add(10 * time.Minute)},                 // ... K replaced: +40m
		adj{store: "S004", sku: "PRD-0002", reason: "found", at: timerBase.Add(5 * time.Minute)}, // ... J cancelled
	)
	e.waitFor("all applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.applied`) == 5 })
	if n := e.count(`SELECT count(*) FROM streamtest.consumer_timers`); n != 2 {
		t.Fatalf("%d timers, want K and R", n)
	}
	if n := e.count(`SELECT extract(epoch FROM fire_at)::bigint FROM streamtest.consumer_timers WHERE key = 'S004/PRD-0001'`); n != timerBase.Add(40*time.Minute).Unix() {
		t.Fatalf("K due at %d, want the replacement's time", n)
	}
	e.waitFor("loop waits for R", func() bool { return clk.Waiting(timerBase.Add(window)) })
	clk.Advance(window)
	e.waitFor("R fired", func() bool { return len(e.fired()) == 1 })
	// R's follow-up is set; K is not due yet: the loop sleeps until K.
	e.waitFor("loop waits for K", func() bool { return clk.Waiting(timerBase.Add(40 * time.Minute)) })
	if n := e.count(`SELECT count(*) FROM streamtest.consumer_timers WHERE key = 'S004/PRD-0003/again'`); n != 1 {
		t.Fatalf("re-armed timer missing")
	}
	clk.Advance(10 * time.Minute)
	e.waitFor("K fired", func() bool { return len(e.fired()) == 2 })
	e.waitFor("loop waits for R/again", func() bool { return clk.Waiting(timerBase.Add(window + time.Hour)) })
	clk.Advance(time.Hour)
	e.waitFor("R/again fired", func() bool { return len(e.fired()) == 3 })
	e.checkFired("timer-replace", map[string]time.Duration{
		"S004/PRD-0003": window, "S004/PRD-0001": 40 * time.Minute, "S004/PRD-0003/again": window + time.Hour,
	})
	if n := e.count(`SELECT count(*) FROM streamtest.consumer_timers`); n != 0 {
		t.Errorf("%d timers left", n)
	}
}

// TestTimerSurvivesRestart: a timer set by one consumer process fires in the next one.
func TestTimerSurvivesRestart(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	clk := clock.NewManual(timerBase)
	a := e.timerConsumer("timer-restart", "a", clk, windowTimer("a"))
	stop := run(t, a)
	e.produceAdj(adj{store: "S005", sku: "PRD-0001", at: timerBase})
	e.waitFor("timer set", func() bool { return clk.Waiting(timerBase.Add(window)) })
	stop()
	clk.Advance(2 * window) // due while nobody runs
	run(t, e.timerConsumer("timer-restart", "b", clk, windowTimer("b")))
	e.waitFor("timer fired", func() bool { return len(e.fired()) == 1 })
	e.checkFired("timer-restart", map[string]time.Duration{"S005/PRD-0001": window})
	if f := e.fired()[0]; f.consumer != "b" {
		t.Errorf("fired by %s", f.consumer)
	}
}

// TestTimerMovesWithPartition: timers of a member's partitions fire on the member that takes
// the partitions over when it leaves.
func TestTimerMovesWithPartition(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	clk := clock.NewManual(timerBase)
	const group = "timer-move"
	a := e.timerConsumer(group, "a", clk, windowTimer("a"))
	bc := e.timerConsumer(group, "b", clk, windowTimer("b"))
	stopA := run(t, a)
	run(t, bc)
	e.waitFor("both members assigned", func() bool {
		na, nb := len(a.Assigned()[inTopic]), len(bc.Assigned()[inTopic])
		return na > 0 && nb > 0 && na+nb == 4
	})
	var adjs []adj
	want := map[string]time.Duration{}
	for i := range 12 {
		store := fmt.Sprintf("S%03d", 100+i)
		adjs = append(adjs, adj{store: store, sku: "PRD-0001", at: timerBase})
		want[store+"/PRD-0001"] = window
	}
	e.produceAdj(adjs...)
	e.waitFor("all timers set", func() bool { return e.count(`SELECT count(*) FROM streamtest.consumer_timers`) == 12 })
	ofA := a.Assigned()[inTopic]
	if e.count(fmt.Sprintf(`SELECT count(*) FROM streamtest.consumer_timers WHERE partition IN (%s)`, joinInts(ofA))) == 0 {
		t.Fatalf("no timer on a's partitions %v", ofA)
	}
	stopA()
	e.waitFor("b owns every partition", func() bool { return len(bc.Assigned()[inTopic]) == 4 })
	clk.Advance(window)
	e.waitFor("all timers fired", func() bool { return len(e.fired()) == 12 })
	e.checkFired(group, want)
	movedFired := 0
	for _, f := range e.fired() {
		if f.consumer != "b" {
			t.Errorf("%s fired by %s after it left", f.key, f.consumer)
		}
		if slices.Contains(ofA, f.partition) {
			movedFired++
		}
	}
	if movedFired == 0 {
		t.Error("no timer of a's former partitions fired")
	}
}

func joinInts(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// TestTimerIDsSameOnReplay replays the same input into a fresh database with the same group:
// the timers fire with the same event ids and times.
func TestTimerIDsSameOnReplay(t *testing.T) {
	b := setupBroker(t)
	const group = "timer-replay"
	var adjs []adj
	for i := range 8 {
		adjs = append(adjs, adj{store: fmt.Sprintf("S%03d", 200+i%4), sku: fmt.Sprintf("PRD-%04d", 1+i), at: timerBase.Add(time.Duration(i) * time.Minute)})
	}
	runOnce := func(e *env) map[string][2]string {
		clk := clock.NewManual(timerBase)
		stop := run(t, e.timerConsumer(group, "a", clk, windowTimer("a")))
		e.waitFor("all applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.applied`) == 8 })
		clk.Advance(time.Hour)
		e.waitFor("all timers fired", func() bool { return len(e.fired()) == 8 })
		stop()
		want := map[string]time.Duration{}
		for i, a := range adjs {
			want[a.store+"/"+a.sku] = window + time.Duration(i)*time.Minute
		}
		e.checkFired(group, want)
		return e.timerOutbox()
	}
	e1 := newEnv(t, b)
	e1.produceAdj(adjs...)
	first := runOnce(e1)
	second := runOnce(newEnv(t, b)) // the input is already on the broker
	if len(first) != 8 || fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("replay emitted\n%v\nfirst run\n%v", second, first)
	}
}

// TestTimerFence fires timers by calling the consumer directly, as members that do not know
// about each other would: two members firing the same timer fire it once, and a firing waits
// for a batch that holds the partition and then sees what the batch did.
func TestTimerFence(t *testing.T) {
	e := newEnv(t, nil)
	var calls atomic.Int64
	th := windowTimer("x")
	mk := func() *Consumer {
		c, err := New(Config{
			Brokers: []string{"127.0.0.1:1"}, Group: "timer-fence", Topics: []string{inTopic}, Schema: schema, Source: "freshmart/streamtest",
			Pool: e.pool, Handler: windowHandler("x"), Registerer: prometheus.NewRegistry(),
			TimerHandler: func(ctx context.Context, tx *Tx, tm Timer) error { calls.Add(1); return th(ctx, tx, tm) },
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1, c2 := mk(), mk()
	rec := func(off int64, at time.Time) kgo.Fetches {
		payload, _ := json.Marshal(schemas.StockAdjusted{AdjustmentID: uuid.NewString(), StoreID: "S001", SKU: "PRD-0001", Delta: 1, Reason: "correction", At: at})
		r := events.NewRecord(inTopic, "S001", events.Envelope{ID: uuid.NewString(), Type: schemas.TypeStockAdjusted, Source: "t", Time: at}, payload)
		r.Partition, r.Offset = 1, off
		return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: inTopic, Partitions: []kgo.FetchPartition{{Partition: 1, Records: []*kgo.Record{r}}}}}}}
	}
	ctx := context.Background()
	ref := timerRef{inTopic, 1, "S001/PRD-0001"}
	if err := c1.apply(ctx, rec(0, timerBase)); err != nil {
		t.Fatal(err)
	}
	// Not due yet.
	if ok, err := c1.fireTimer(ctx, ref, timerBase.Add(window-time.Second)); ok || err != nil {
		t.Fatalf("fired early: %v %v", ok, err)
	}
	// Two members fire the same timer at once: one does.
	var wg sync.WaitGroup
	oks := make([]bool, 2)
	for i, c := range []*Consumer{c1, c2} {
		wg.Go(func() {
			ok, err := c.fireTimer(ctx, ref, timerBase.Add(window))
			if err != nil {
				t.Error(err)
			}
			oks[i] = ok
		})
	}
	wg.Wait()
	if oks[0] == oks[1] || calls.Load() != 1 || len(e.fired()) != 1 {
		t.Fatalf("fired %v, handler ran %d times, %d firings", oks, calls.Load(), len(e.fired()))
	}

	// A batch that holds the partition replaces the timer while a firing waits for it.
	if err := c1.apply(ctx, rec(1, timerBase.Add(time.Hour))); err != nil { // due at +1h30m
		t.Fatal(err)
	}
	batch, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Rollback(ctx) //nolint:errcheck
	if _, err := batch.Exec(ctx, `SELECT * FROM streamtest.consumer_offsets WHERE group_id = 'timer-fence' AND partition = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	if _, err := batch.Exec(ctx, `UPDATE streamtest.consumer_timers SET fire_at = $1 WHERE key = 'S001/PRD-0001'`, timerBase.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	res := make(chan bool, 1)
	go func() {
		ok, err := c2.fireTimer(ctx, ref, timerBase.Add(2*time.Hour))
		if err != nil {
			t.Error(err)
		}
		res <- ok
	}()
	e.waitFor("the firing to wait for the batch's lock", func() bool {
		return e.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) == 1
	})
	if err := batch.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if <-res {
		t.Fatal("fired a timer the batch had moved to later")
	}
	if ok, err := c2.fireTimer(ctx, ref, timerBase.Add(3*time.Hour)); !ok || err != nil {
		t.Fatalf("replaced timer did not fire: %v %v", ok, err)
	}
	if calls.Load() != 2 || len(e.fired()) != 2 {
		t.Fatalf("handler ran %d times, %d firings; want 2", calls.Load(), len(e.fired()))
	}
}

// TestSetTimerChecks: SetTimer and CancelTimer refuse what cannot be fired exactly once.
func TestSetTimerChecks(t *testing.T) {
	// A pool that is never used (pgxpool connects lazily).
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/unused")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	mk := func(th TimerHandler) *Consumer {
		c, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Group: "g", Topics: []string{inTopic}, Schema: schema,
			Source: "s", Pool: pool, Handler: func(context.Context, *Tx, events.Event) error { return nil },
			TimerHandler: th, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	in := events.Event{Topic: inTopic, Partition: 3}
	noop := func(context.Context, *Tx, Timer) error { return nil }
	locked := map[tp]bool{{inTopic, 3}: true}
	at := timerBase

	tx := mk(nil).newTx(nil, locked)
	tx.in = in
	if err := tx.SetTimer(ctx, Timer{Key: "k", At: at}); err == nil || !strings.Contains(err.Error(), "TimerHandler") {
		t.Errorf("SetTimer without a TimerHandler: %v", err)
	}
	c := mk(noop)
	batch := c.newTx(nil, locked) // a BatchHandler's: no input event
	if err := batch.SetTimer(ctx, Timer{Key: "k", At: at}); err == nil || !strings.Contains(err.Error(), "SetTimerFor") {
		t.Errorf("SetTimer in a BatchHandler: %v", err)
	}
	if err := batch.CancelTimer(ctx, "k"); err == nil {
		t.Error("CancelTimer in a BatchHandler accepted")
	}
	if err := batch.SetTimerFor(ctx, events.Event{Topic: inTopic, Partition: 2}, Timer{Key: "k", At: at}); err == nil {
		t.Error("SetTimerFor of a partition the batch does not hold accepted")
	}
	for _, bad := range []Timer{{At: at}, {Key: "k"}, {Key: "k", At: at, Data: []byte("{")}} {
		if err := batch.SetTimerFor(ctx, in, bad); err == nil {
			t.Errorf("SetTimerFor(%+v) accepted", bad)
		}
	}
	if err := batch.SetTimerFor(ctx, in, Timer{Key: "k", At: at.Add(1234 * time.Nanosecond), Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := batch.CancelTimerFor(ctx, in, "j"); err != nil {
		t.Fatal(err)
	}
	op := batch.timers[timerRef{inTopic, 3, "k"}]
	if !op.set || !op.at.Equal(at.Add(time.Microsecond)) || batch.timers[timerRef{inTopic, 3, "j"}].set {
		t.Errorf("queued timers %+v", batch.timers)
	}
	// Ids depend on every part of the timer.
	id := TimerEventID("g", "t", 1, "k", at, 0)
	for _, other := range []string{
		TimerEventID("h", "t", 1, "k", at, 0), TimerEventID("g", "u", 1, "k", at, 0), TimerEventID("g", "t", 2, "k", at, 0),
		TimerEventID("g", "t", 1, "l", at, 0), TimerEventID("g", "t", 1, "k", at.Add(time.Microsecond), 0), TimerEventID("g", "t", 1, "k", at, 1),
	} {
		if other == id {
			t.Errorf("id collision %s", id)
		}
	}
	if TimerEventID("g", "t", 1, "k", at.In(time.FixedZone("x", 3600)), 0) != id {
		t.Error("id depends on the time zone of At")
	}
}

// TestMigrationsCreateTimerTable: migration 004 gives the inventory schema the timers table with
// the columns the consumer uses.
func TestMigrationsCreateTimerTable(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	rows, err := pool.Query(context.Background(), `SELECT group_id, topic, partition, key, fire_at, data FROM inventory.consumer_timers`)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
}
