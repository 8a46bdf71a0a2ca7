package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/migrations"
	"github.com/freshmart/platform/schemas"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

const (
	inTopic  = "st-adjustments"
	outTopic = "st-levels"
	schema   = "streamtest"
)

// env is one test's broker, database and input.
type env struct {
	t      *testing.T
	b      *brokertest.Broker
	pool   *pgxpool.Pool
	dsn    string
	want   map[string]int64 // store/sku -> sum of deltas
	inputs int
	reg    *prometheus.Registry // the consumers' metrics
}

func newEnv(t *testing.T, b *brokertest.Broker) *env {
	t.Helper()
	dsn := pgtest.New(t)
	pool := pgtest.Pool(t, dsn)
	ctx := context.Background()
	// The stream tables exactly as the migrations create them for a service schema.
	tmpl := template.New("shared")
	for _, f := range []string{"shared/stream_tables.sql", "shared/stream_timers.sql"} {
		raw, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		template.Must(tmpl.New(f).Parse(string(raw)))
	}
	var ddl bytes.Buffer
	for _, name := range []string{"stream_tables", "stream_timers"} {
		if err := tmpl.ExecuteTemplate(&ddl, name, schema); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		ddl.String(),
		`CREATE TABLE streamtest.totals (store_id text, sku text, total bigint NOT NULL, PRIMARY KEY (store_id, sku))`,
		`CREATE TABLE streamtest.applied (adjustment_id text NOT NULL, consumer text NOT NULL)`,
		`CREATE TABLE streamtest.fired (key text NOT NULL, at timestamptz NOT NULL, consumer text NOT NULL,
			topic text NOT NULL, partition int NOT NULL)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return &env{t: t, b: b, pool: pool, dsn: dsn, want: map[string]int64{}, reg: prometheus.NewRegistry()}
}

// produce writes n stock.adjusted events spread over stores and SKUs and records the fold.
func (e *env) produce(n int, seed uint64) {
	e.t.Helper()
	p, err := events.NewProducer(events.ProducerConfig{Brokers: []string{e.b.Addr}, Source: "freshmart/streamtest"})
	if err != nil {
		e.t.Fatal(err)
	}
	defer p.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range n {
		store := fmt.Sprintf("S%03d", 1+rng.IntN(6))
		sku := fmt.Sprintf("PRD-%04d", 1+rng.IntN(20))
		delta := int64(rng.IntN(19)) - 9
		if delta == 0 {
			delta = 1
		}
		payload, _ := json.Marshal(schemas.StockAdjusted{
			AdjustmentID: uuid.NewString(), StoreID: store, SKU: sku, Delta: delta, Reason: "correction",
			At: base.Add(time.Duration(i) * time.Second),
		})
		env := events.Envelope{ID: uuid.NewString(), Type: schemas.TypeStockAdjusted, Source: "freshmart/test", Time: base.Add(time.Duration(i) * time.Second)}
		if err := events.Check(env, payload); err != nil {
			e.t.Fatal(err)
		}
		recs = append(recs, events.NewRecord(inTopic, store, env, payload))
		e.want[store+"/"+sku] += delta
	}
	// One ProduceSync per 100 records keeps the test quick at acks=all.
	for len(recs) > 0 {
		k := min(100, len(recs))
		if err := p.Client().ProduceSync(ctx, recs[:k]...).FirstErr(); err != nil {
			e.t.Fatalf("produce: %v", err)
		}
		recs = recs[k:]
	}
	e.inputs += n
}

// handler applies a stock.adjusted event and emits the resulting stock.level.
func handler(name string, seen *atomic.Int64) Handler {
	mux := events.NewMux[*Tx]()
	events.On(mux, schemas.TypeStockAdjusted, func(ctx context.Context, tx *Tx, ev events.Event, a schemas.StockAdjusted) error {
		if _, err := tx.Exec(ctx, `INSERT INTO streamtest.applied VALUES ($1, $2)`, a.AdjustmentID, name); err != nil {
			return err
		}
		var total int64
		if err := tx.QueryRow(ctx, `INSERT INTO streamtest.totals VALUES ($1, $2, $3)
			ON CONFLICT (store_id, sku) DO UPDATE SET total = totals.total + EXCLUDED.total RETURNING total`,
			a.StoreID, a.SKU, a.Delta).Scan(&total); err != nil {
			return err
		}
		_, err := tx.Emit(ctx, events.Out{Topic: outTopic, Key: a.StoreID, Type: schemas.TypeStockLevel, Payload: schemas.StockLevel{
			StoreID: a.StoreID, SKU: a.SKU, OnHand: total, Threshold: 5,
			Cause: schemas.Cause{Type: "adjustment", ID: a.AdjustmentID}, At: a.At,
		}})
		if seen != nil {
			seen.Add(1)
		}
		return err
	})
	return mux.Dispatch
}

func (e *env) consumer(group, name string, h Handler) *Consumer {
	e.t.Helper()
	c, err := New(Config{
		Brokers: []string{e.b.Addr}, Group: group, Topics: []string{inTopic}, Schema: schema, Source: "freshmart/streamtest",
		Pool: e.pool, Handler: h, MaxPollRecords: 100, Registerer: e.reg,
		Log:        slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("consumer", name),
		MinBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimSpace(p))
	return len(p), nil
}

// run runs c in the background; the returned stop cancels it and waits for it.
func run(t *testing.T, c interface{ Run(context.Context) error }) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// lag returns the freshmart_consumer_lag series of group, by partition.
func (e *env) lag(group string) map[string]float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "freshmart_consumer_lag" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["group"] == group && labels["topic"] == inTopic {
				out[labels["partition"]] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func (e *env) count(q string) int64 {
	e.t.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitFor polls cond until it holds, failing the test after a minute.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkExact asserts that the state equals the fold of the input, each input applied once,
// each applied input emitted one event and the stored offsets account for every input.
func (e *env) checkExact() {
	e.t.Helper()
	n := int64(e.inputs)
	if got := e.count(`SELECT count(*) FROM streamtest.applied`); got != n {
		e.t.Errorf("applied %d events, want %d", got, n)
	}
	if got := e.count(`SELECT count(DISTINCT adjustment_id) FROM streamtest.applied`); got != n {
		e.t.Errorf("%d distinct events applied, want %d", got, n)
	}
	if got := e.count(`SELECT coalesce(sum(next_offset), 0) FROM streamtest.consumer_offsets`); got != n {
		e.t.Errorf("stored offsets cover %d records, want %d", got, n)
	}
	if got := e.count(`SELECT count(DISTINCT headers->>'ce_id') FROM streamtest.outbox`); got != n {
		e.t.Errorf("%d distinct outbox events, want %d", got, n)
	}
	rows, err := e.pool.Query(context.Background(), `SELECT store_id || '/' || sku, total FROM streamtest.totals`)
	if err != nil {
		e.t.Fatal(err)
	}
	got := map[string]int64{}
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			e.t.Fatal(err)
		}
		got[k] = v
	}
	if len(got) != len(e.want) {
		e.t.Errorf("%d totals, want %d", len(got), len(e.want))
	}
	for k, v := range e.want {
		if got[k] != v {
			e.t.Errorf("total %s = %d, want %d", k, got[k], v)
		}
	}
}

func setupBroker(t *testing.T) *brokertest.Broker {
	b := brokertest.Start(t)
	b.CreateTopic(t, inTopic, 4)
	b.CreateTopic(t, outTopic, 4)
	return b
}

func TestCrashMidBatchResumesExactly(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	e.produce(600, 1)

	// The first consumer dies in the middle of its third batch: the batch's transaction never
	// commits.
	crashCtx, crash := context.WithCancel(context.Background())
	var handled atomic.Int64
	inner := handler("a", nil)
	a := e.consumer("crash", "a", func(ctx context.Context, tx *Tx, ev events.Event) error {
		if handled.Add(1) == 250 {
			crash()
			return ctx.Err()
		}
		return inner(ctx, tx, ev)
	})
	done := make(chan error, 1)
	go func() { done <- a.Run(crashCtx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(90 * time.Second):
		crash()
		t.Fatal("first consumer never reached its crash point")
	}
	applied := e.count(`SELECT count(*) FROM streamtest.applied`)
	if applied == 0 || applied >= 250 {
		t.Fatalf("after the crash %d events are applied; want the committed batches only (0 < n < 250)", applied)
	}
	if stored := e.count(`SELECT coalesce(sum(next_offset), 0) FROM streamtest.consumer_offsets`); stored != applied {
		t.Fatalf("stored offsets cover %d records but %d are applied", stored, applied)
	}

	// A new member resumes at the stored offsets.
	bc := e.consumer("crash", "b", handler("b", nil))
	stop := run(t, bc)
	e.waitFor("all events applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.applied`) >= 600 })
	// More input after catching up is applied too.
	e.produce(100, 2)
	e.waitFor("new events applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.applied`) >= 700 })
	// Caught up: every assigned partition reports a lag of zero.
	e.waitFor("lag 0 on 4 partitions", func() bool {
		lag := e.lag("crash")
		if len(lag) != 4 {
			return false
		}
		for _, v := range lag {
			if v != 0 {
				return false
			}
		}
		return true
	})
	stop()
	if lag := e.lag("crash"); len(lag) != 0 {
		t.Errorf("lag series left after the consumer stopped: %v", lag)
	}
	e.checkExact()
}

func TestTwoConsumersSplitPartitions(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	var seenA, seenB atomic.Int64
	a := e.consumer("split", "a", handler("a", &seenA))
	bc := e.consumer("split", "b", handler("b", &seenB))
	run(t, a)
	run(t, bc)
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: []string{b.Addr}, Source: "freshmart/streamtest"})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	relay, err := NewRelay(RelayConfig{Schema: schema, Pool: e.pool, Client: prod.Client(), Registerer: prometheus.NewRegistry(), Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, relay)
	e.waitFor("both members assigned", func() bool {
		return len(a.Assigned()[inTopic]) > 0 && len(bc.Assigned()[inTopic]) > 0 &&
			len(a.Assigned()[inTopic])+len(bc.Assigned()[inTopic]) == 4
	})
	pa, pb := a.Assigned()[inTopic], bc.Assigned()[inTopic]
	for _, p := range pa {
		for _, q := range pb {
			if p == q {
				t.Fatalf("partition %d assigned to both members: %v %v", p, pa, pb)
			}
		}
	}
	e.produce(600, 3)
	e.waitFor("all events applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.applied`) >= 600 })
	if seenA.Load() == 0 || seenB.Load() == 0 {
		t.Errorf("one member did all the work: a=%d b=%d (partitions a=%v b=%v)", seenA.Load(), seenB.Load(), pa, pb)
	}
	e.checkExact()

	// The relay (woken by NOTIFY) delivers every emitted event.
	e.waitFor("outbox relayed", func() bool { return e.count(`SELECT count(*) FROM streamtest.outbox WHERE sent_at IS NULL`) == 0 })
	ids := consumeIDs(t, b, outTopic, 600)
	if len(ids) != 600 {
		t.Fatalf("%d distinct events relayed, want 600", len(ids))
	}
}

// consumeIDs reads topic from the start until it has seen want distinct ce_ids, and returns
// the count of each id.
func consumeIDs(t *testing.T, b *brokertest.Broker, topic string, want int) map[string]int {
	t.Helper()
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids := map[string]int{}
	total := 0
	for len(ids) < want || total < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d distinct events from %s, want %d", len(ids), topic, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := events.Parse(r)
			if err != nil {
				t.Fatalf("relayed record: %v", err)
			}
			ids[ev.ID]++
			total++
		})
		if len(ids) >= want {
			break
		}
	}
	return ids
}

func TestRelayResendsSameIDsAfterCrash(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	e.produce(50, 4)
	c := e.consumer("relay", "a", handler("a", nil))
	stop := run(t, c)
	e.waitFor("events applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.outbox`) >= 50 })
	stop()
	e.checkExact()

	prod, err := events.NewProducer(events.ProducerConfig{Brokers: []string{b.Addr}, Source: "freshmart/streamtest"})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	relay, err := NewRelay(RelayConfig{Schema: schema, Pool: e.pool, Client: prod.Client(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Crash after the broker acknowledged, before the rows were marked sent.
	errCrash := errors.New("crash")
	relay.afterProduce = func() error { return errCrash }
	if _, err := relay.Once(ctx); !errors.Is(err, errCrash) {
		t.Fatalf("Once = %v, want the crash", err)
	}
	if n := e.count(`SELECT count(*) FROM streamtest.outbox WHERE sent_at IS NULL`); n != 50 {
		t.Fatalf("%d unsent rows after the crash, want 50", n)
	}
	relay.afterProduce = nil
	if n, err := relay.Once(ctx); err != nil || n != 50 {
		t.Fatalf("Once = %d, %v; want 50 sent", n, err)
	}
	if n, err := relay.Once(ctx); err != nil || n != 0 {
		t.Fatalf("third Once = %d, %v; want nothing left", n, err)
	}
	ids := consumeIDs(t, b, outTopic, 50)
	for id, n := range ids {
		if n != 2 {
			t.Errorf("event %s relayed %d times, want 2 (sent, then re-sent with the same id)", id, n)
		}
	}
	rows, err := e.pool.Query(ctx, `SELECT headers->>'ce_id' FROM streamtest.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	outbox := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		outbox[id] = true
	}
	if len(outbox) != len(ids) {
		t.Fatalf("outbox has %d ids, broker %d", len(outbox), len(ids))
	}
	for id := range ids {
		if !outbox[id] {
			t.Fatalf("relayed id %s is not in the outbox", id)
		}
	}

	// Replaying the same input into a fresh database emits the same ids.
	e2 := newEnv(t, b)
	e2.want, e2.inputs = e.want, e.inputs
	c2 := e2.consumer("relay-replay", "replay", handler("replay", nil))
	stop2 := run(t, c2)
	e2.waitFor("replay applied", func() bool { return e2.count(`SELECT count(*) FROM streamtest.outbox`) >= 50 })
	stop2()
	e2.checkExact()
	rows, err = e2.pool.Query(ctx, `SELECT headers->>'ce_id' FROM streamtest.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !outbox[id] {
			t.Errorf("replay emitted id %s the first run did not", id)
		}
	}
}

func TestFailedBatchIsRetriedBySameConsumer(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	e.produce(300, 5)
	var calls atomic.Int64
	inner := handler("a", nil)
	c := e.consumer("retry", "a", func(ctx context.Context, tx *Tx, ev events.Event) error {
		if calls.Add(1) == 150 {
			return errors.New("postgres went away")
		}
		return inner(ctx, tx, ev)
	})
	stop := run(t, c)
	e.waitFor("all events applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.applied`) >= 300 })
	stop()
	if calls.Load() <= 300 {
		t.Fatalf("handler ran %d times; the failed batch should have been retried", calls.Load())
	}
	e.checkExact()
}

// TestFenceDropsAppliedRecords hands the same records to apply twice, as a member that lost
// its partitions without noticing would: the second time nothing is applied.
func TestFenceDropsAppliedRecords(t *testing.T) {
	e := newEnv(t, nil)
	var seen atomic.Int64
	c, err := New(Config{
		Brokers: []string{"127.0.0.1:1"}, Group: "fence", Topics: []string{inTopic}, Schema: schema, Source: "freshmart/streamtest",
		Pool: e.pool, Handler: handler("a", &seen), Registerer: e.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 10 {
		payload, _ := json.Marshal(schemas.StockAdjusted{AdjustmentID: uuid.NewString(), StoreID: "S001", SKU: "PRD-0001",
			Delta: 1, Reason: "found", At: base})
		r := events.NewRecord(inTopic, "S001", events.Envelope{ID: uuid.NewString(), Type: schemas.TypeStockAdjusted, Source: "t", Time: base}, payload)
		r.Partition, r.Offset = 2, int64(i)
		recs = append(recs, r)
	}
	// A record with a broken envelope is skipped, not applied, and does not stall the partition;
	// so is one of a type the handler's Mux has no handler for.
	bad := &kgo.Record{Topic: inTopic, Partition: 2, Offset: 10, Value: []byte(`{}`)}
	unknown := events.NewRecord(inTopic, "S001", events.Envelope{ID: uuid.NewString(), Type: schemas.TypeSaleVoided, Source: "t", Time: base}, []byte(`{}`))
	unknown.Partition, unknown.Offset = 2, 11
	fetches := func(rs ...*kgo.Record) kgo.Fetches {
		return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: inTopic, Partitions: []kgo.FetchPartition{{Partition: 2, Records: rs}}}}}}
	}
	ctx := context.Background()
	if err := c.apply(ctx, fetches(recs[:6]...)); err != nil {
		t.Fatal(err)
	}
	if err := c.apply(ctx, fetches(recs...)); err != nil { // 0-5 again, then 6-9
		t.Fatal(err)
	}
	if err := c.apply(ctx, fetches(append(recs[8:10:10], bad, unknown)...)); err != nil { // 8-9 again, then 10, 11
		t.Fatal(err)
	}
	if err := c.apply(ctx, fetches(bad, unknown)); err != nil { // both again: dropped, not counted again
		t.Fatal(err)
	}
	// Skips are counted on the consumer's registry (not the default one), by group and reason.
	for reason, typ := range map[string]string{events.SkipEnvelope: "", events.SkipUnknownType: schemas.TypeSaleVoided} {
		if n := e.metric("freshmart_events_skipped_total", "group", "fence", "topic", inTopic, "type", typ, "reason", reason); n != 1 {
			t.Errorf("skipped{reason=%s} = %v, want 1", reason, n)
		}
	}
	if seen.Load() != 10 {
		t.Fatalf("handler ran %d times, want 10", seen.Load())
	}
	if n := e.count(`SELECT total FROM streamtest.totals WHERE store_id = 'S001' AND sku = 'PRD-0001'`); n != 10 {
		t.Fatalf("total %d, want 10", n)
	}
	if n := e.count(`SELECT next_offset FROM streamtest.consumer_offsets WHERE group_id = 'fence' AND partition = 2`); n != 12 {
		t.Fatalf("stored next offset %d, want 12", n)
	}
}

// TestBatchHandlerExactAndCommittedToBroker runs a BatchHandler consumer that crashes in the
// middle of a batch: the state is exact afterwards, events emitted with EmitFor carry the ids
// derived from their input and slot, and the positions reach the broker's group offsets in the
// background.
func TestBatchHandlerExactAndCommittedToBroker(t *testing.T) {
	b := setupBroker(t)
	e := newEnv(t, b)
	e.produce(500, 3)

	var batches, calls atomic.Int64
	crashCtx, crash := context.WithCancel(context.Background())
	batchHandler := func(ctx context.Context, tx *Tx, evs []events.Event) error {
		batches.Add(1)
		for _, ev := range evs {
			if calls.Add(1) == 150 {
				crash()
				return ctx.Err()
			}
			var a schemas.StockAdjusted
			if err := json.Unmarshal(ev.Data, &a); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO streamtest.applied VALUES ($1, 'batch')`, a.AdjustmentID); err != nil {
				return err
			}
			var total int64
			if err := tx.QueryRow(ctx, `INSERT INTO streamtest.totals VALUES ($1, $2, $3)
				ON CONFLICT (store_id, sku) DO UPDATE SET total = totals.total + EXCLUDED.total RETURNING total`,
				a.StoreID, a.SKU, a.Delta).Scan(&total); err != nil {
				return err
			}
			if _, err := tx.EmitFor(ctx, ev, 7, events.Out{Topic: outTopic, Key: a.StoreID, Type: schemas.TypeStockLevel, Payload: schemas.StockLevel{
				StoreID: a.StoreID, SKU: a.SKU, OnHand: total, Threshold: 5,
				Cause: schemas.Cause{Type: "adjustment", ID: a.AdjustmentID}, At: a.At,
			}}); err != nil {
				return err
			}
		}
		return nil
	}
	mk := func(name string) *Consumer {
		c, err := New(Config{
			Brokers: []string{e.b.Addr}, Group: "batch", Topics: []string{inTopic}, Schema: schema, Source: "freshmart/streamtest",
			Pool: e.pool, BatchHandler: batchHandler, MaxPollRecords: 100, Registerer: prometheus.NewRegistry(),
			CommitInterval: 100 * time.Millisecond, MinBackoff: 100 * time.Millisecond,
			Log: slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("consumer", name),
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := mk("a").Run(crashCtx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if applied := e.count(`SELECT count(*) FROM streamtest.applied`); applied >= 150 {
		t.Fatalf("after the crash %d events are applied; want only those of committed batches (< 150)", applied)
	}
	stop := run(t, mk("b"))
	e.waitFor("all events applied", func() bool { return e.count(`SELECT count(*) FROM streamtest.applied`) >= 500 })

	// The group's broker offsets catch up with the positions in Postgres.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	e.waitFor("broker offsets equal the stored positions", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := adm.FetchOffsets(ctx, "batch")
		if err != nil || resp.Error() != nil {
			return false
		}
		var sum int64
		resp.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum == int64(e.inputs)
	})
	stop()
	e.checkExact()
	if batches.Load() >= calls.Load() {
		t.Errorf("%d batches for %d events: the handler was not given batches", batches.Load(), calls.Load())
	}

	// Every outbox event's id is derived from its input record and slot 7.
	rows, err := e.pool.Query(context.Background(), `SELECT headers->>'ce_id', convert_from(value, 'UTF8')::jsonb->'cause'->>'id' FROM streamtest.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for rows.Next() {
		var id, cause string
		if err := rows.Scan(&id, &cause); err != nil {
			t.Fatal(err)
		}
		ids[cause] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	in, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr), kgo.ConsumeTopics(inTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for seen := 0; seen < e.inputs; {
		fs := in.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back %d of %d inputs", seen, e.inputs)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			var a schemas.StockAdjusted
			_ = json.Unmarshal(r.Value, &a)
			if want := events.DerivedID(r.Topic, r.Partition, r.Offset, 7); ids[a.AdjustmentID] != want {
				t.Errorf("%s/%d@%d: emitted id %q, want %q", r.Topic, r.Partition, r.Offset, ids[a.AdjustmentID], want)
			}
		})
	}
}
