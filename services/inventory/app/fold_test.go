package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
)

// TestBatchEqualsOneByOne folds the same stream of sales, deliveries, counts (stamped out of
// order against the movements), voids (of recent sales, often in the same batch as the sale,
// some stamped before it; second voids, voids of sales never folded or naming another store)
// and duplicates once event by event and once in batches of varying size: stock, hysteresis
// flags, the alerts table, the outcomes and the emitted alerts (ids and contents, so every
// crossing inside a batch alerts exactly once, restocked by voids included) are identical; the
// batches emit fewer stock.level events, each one's content equal to what the event-by-event
// fold emitted under the same id, and end at the same badges.
func TestBatchEqualsOneByOne(t *testing.T) {
	ctx := context.Background()
	ref, err := LoadReference()
	if err != nil {
		t.Fatal(err)
	}
	var prods []Product
	for _, p := range ref.Products() {
		if p.Threshold >= 5 && len(prods) < 4 {
			prods = append(prods, p)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	offsets := map[string]int64{}
	var evs []events.Event
	add := func(topic, typ string, data []byte) {
		evs = append(evs, ev(topic, offsets[topic], typ, data))
		offsets[topic]++
	}
	var lastSale []byte
	type sold struct {
		id, store string
		at        time.Time
	}
	var sales []sold
	voidOffsets := map[int64]bool{} // pos-sales offsets of the voids
	void := func(id, store string, at time.Time) {
		voidOffsets[offsets[schemas.TopicPOSSales]] = true
		add(schemas.TopicPOSSales, "sale.voided", fmt.Appendf(nil, `{"sale_id":%q,"store_id":%q,"voided_at":%q,"reason":"wrong item"}`,
			id, store, at.Format(time.RFC3339)))
	}
	for i := range 700 {
		t := base.Add(time.Duration(i)*time.Minute - time.Duration(rng.IntN(20))*time.Minute)
		at := t.Format(time.RFC3339)
		store := []string{"S001", "S002"}[rng.IntN(2)]
		p := prods[rng.IntN(len(prods))]
		q := prods[rng.IntN(len(prods))]
		switch r := rng.IntN(24); {
		case r < 13:
			lastSale = fmt.Appendf(nil, `{"sale_id":"s%d","store_id":%q,"occurred_at":%q,"lines":[{"sku":%q,"qty":%d,"unit_price_cents":1},{"sku":%q,"qty":%d,"unit_price_cents":1}]}`,
				i, store, at, p.SKU, 1+rng.IntN(3), q.SKU, 1+rng.IntN(2))
			add(schemas.TopicPOSSales, "sale.completed", lastSale)
			sales = append(sales, sold{fmt.Sprintf("s%d", i), store, t})
		case r < 23 && r >= 20 && len(sales) > 0:
			// A void of a recent sale, up to 20 minutes after it or (clamped) 5 before.
			s := sales[max(0, len(sales)-1-rng.IntN(8))]
			void(s.id, s.store, s.at.Add(time.Duration(rng.IntN(25)-5)*time.Minute))
		case r == 23 && len(sales) > 0:
			s := sales[rng.IntN(len(sales))]
			switch rng.IntN(3) {
			case 0: // voided (again, or for the first time) much later
				void(s.id, s.store, s.at.Add(time.Duration(rng.IntN(300))*time.Minute))
			case 1:
				void(fmt.Sprintf("never-%d", i), store, t)
			default:
				void(s.id, map[string]string{"S001": "S002", "S002": "S001"}[s.store], t)
			}
		case r < 15:
			add(schemas.TopicVendorDeliveries, "delivery.received", fmt.Appendf(nil, `{"delivery_id":"d%d","store_id":%q,"vendor_id":"V1","received_at":%q,"lines":[{"sku":%q,"qty":%d}]}`,
				i, store, at, p.SKU, 5+rng.IntN(2*int(p.Threshold))))
		case r < 18:
			add(schemas.TopicInventoryUpdates, "stock.counted", fmt.Appendf(nil, `{"count_id":"c%d","store_id":%q,"counted_at":%q,"lines":[{"sku":%q,"qty":%d},{"sku":%q,"qty":%d}]}`,
				i, store, at, p.SKU, rng.IntN(2*int(p.Threshold)), q.SKU, rng.IntN(2*int(q.Threshold))))
		case r < 19 && lastSale != nil:
			add(schemas.TopicPOSSales, "sale.completed", lastSale) // a retried sale
		default:
			add(schemas.TopicInventoryUpdates, "stock.level", []byte(`{}`))
		}
	}

	fold := func(sizes func() int) (*recorder, *pgxpool.Pool, Counts) {
		pool := pgtest.Pool(t, pgtest.NewMigrated(t))
		f := NewFolder(ref, "inventory")
		em := &recorder{}
		total := Counts{}
		for i := 0; i < len(evs); {
			j := min(len(evs), i+sizes())
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				n, err := f.ApplyBatch(ctx, tx, em, evs[i:j], func(err error) { t.Errorf("bad event: %v", err) })
				for o, k := range n {
					total[o] += k
				}
				return err
			})
			if err != nil {
				t.Fatalf("events %d..%d: %v", i, j, err)
			}
			i = j
		}
		return em, pool, total
	}
	one, onePool, oneCounts := fold(func() int { return 1 })
	many, manyPool, manyCounts := fold(func() int { return 1 + rng.IntN(80) })
	if !reflect.DeepEqual(oneCounts, manyCounts) || oneCounts[Unmatched] < 5 {
		t.Errorf("outcomes one by one %v, in batches %v (want the same, at least 5 unmatched voids)", oneCounts, manyCounts)
	}

	dump := func(pool *pgxpool.Pool, q string) string {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, v...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, q := range []string{
		`SELECT store_id, sku, on_hand, threshold, low, counted_at, updated_at FROM inventory.stock ORDER BY 1, 2`,
		`SELECT alert_id, type, store_id, sku, on_hand, threshold, at FROM inventory.alerts ORDER BY seq`,
		`SELECT kind, id FROM inventory.processed ORDER BY 1, 2`,
		`SELECT store_id, sku, at, delta FROM inventory.movements ORDER BY 1, 2, 3, 4`,
		`SELECT sale_id, store_id, sku, qty, occurred_at FROM inventory.sale_lines ORDER BY 1, 2, 3`,
	} {
		if a, b := dump(onePool, q), dump(manyPool, q); a != b || a == "" {
			t.Errorf("%s\none by one:\n%s\nin batches:\n%s", q, a, b)
		}
	}

	byType := func(r *recorder, typ string) []emitted {
		var out []emitted
		for _, e := range r.out {
			if e.typ == typ {
				out = append(out, e)
			}
		}
		return out
	}
	for _, typ := range []string{"alert.low_stock", "alert.restocked"} {
		a, b := byType(one, typ), byType(many, typ)
		if len(a) < 5 || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: one by one %d, in batches %d (want the same, at least 5)", typ, len(a), len(b))
		}
	}
	// Voids matched, were deduplicated, and some of them restocked an item.
	var voidLevels, voidRestocks int
	for _, e := range one.out {
		if !strings.HasPrefix(e.id, schemas.TopicPOSSales+"/") {
			continue
		}
		var off int64
		fmt.Sscanf(e.id[len(schemas.TopicPOSSales)+1:], "0/%d/", &off)
		if !voidOffsets[off] {
			continue
		}
		switch e.typ {
		case "stock.level":
			if e.payload["cause"].(map[string]any)["type"] != "void" {
				t.Errorf("stock.level of a void: %v", e.payload)
			}
			voidLevels++
		case "alert.restocked":
			voidRestocks++
		}
	}
	var voided int
	if err := manyPool.QueryRow(ctx, `SELECT count(*) FROM inventory.processed WHERE kind = 'void'`).Scan(&voided); err != nil {
		t.Fatal(err)
	}
	if voided < 20 || voidLevels < 20 || voidRestocks < 1 || oneCounts[Duplicate] < 10 {
		t.Errorf("%d voids applied, %d stock.level and %d alert.restocked caused by voids, %d duplicates: the stream does not exercise voids",
			voided, voidLevels, voidRestocks, oneCounts[Duplicate])
	}
	// Level and badge events of the batches are a subset, by id and content, of the
	// event-by-event ones, and end at the same state.
	seen := map[string]emitted{}
	for _, e := range one.out {
		seen[e.id] = e
	}
	last := func(r *recorder, typ string) map[string]any {
		m := map[string]any{}
		for _, e := range byType(r, typ) {
			m[fmt.Sprint(e.payload["store_id"], "/", e.payload["sku"])] = e.payload["on_hand"]
			if typ == "stock.badge" {
				m[fmt.Sprint(e.payload["store_id"], "/", e.payload["sku"])] = e.payload["badge"]
			}
		}
		return m
	}
	for _, typ := range []string{"stock.level", "stock.badge"} {
		for _, e := range byType(many, typ) {
			if o, ok := seen[e.id]; !ok || !reflect.DeepEqual(o, e) {
				t.Errorf("%s %s %v: one by one emitted %v", typ, e.id, e.payload, o)
			}
		}
		if a, b := last(one, typ), last(many, typ); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: final states differ: one by one %v, in batches %v", typ, a, b)
		}
	}
	t.Logf("one by one emitted %v, in batches %v; %d voids applied (%d stock.level, %d alert.restocked), outcomes %v",
		one.types, many.types, voided, voidLevels, voidRestocks, oneCounts)
	if a, b := len(byType(one, "stock.level")), len(byType(many, "stock.level")); b >= a {
		t.Errorf("stock.level: %d in batches, %d one by one; want fewer", b, a)
	}
}

// BenchmarkApplyBatch folds Black-Friday-like batches (3-line sales, 20-line counts, a few
// deliveries and the service's own stock.level read back) of 2000 events per transaction into
// a real Postgres, validating every caused event; ns/op is per event.
func BenchmarkApplyBatch(b *testing.B) {
	ctx := context.Background()
	ref, err := LoadReference()
	if err != nil {
		b.Fatal(err)
	}
	pool := pgtest.Pool(b, pgtest.NewMigrated(b))
	f := NewFolder(ref, "inventory")
	prods := ref.Products()
	stores := []string{"S001", "S002", "S003", "S004", "S005"}
	rng := rand.New(rand.NewPCG(3, 4))
	offsets := map[string]int64{}
	next := func(i int) events.Event {
		at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		store := stores[rng.IntN(len(stores))]
		var topic, typ string
		var data []byte
		switch r := rng.IntN(20); {
		case r < 8:
			topic, typ = schemas.TopicPOSSales, "sale.completed"
			data = fmt.Appendf(nil, `{"sale_id":"s%d","store_id":%q,"register":"R01","occurred_at":%q,"lines":[`, i, store, at)
			for j := range 3 {
				if j > 0 {
					data = append(data, ',')
				}
				data = fmt.Appendf(data, `{"sku":%q,"qty":1,"unit_price_cents":100}`, prods[rng.IntN(len(prods))].SKU)
			}
			data = fmt.Appendf(data, `],"total_cents":300,"payment":{"method":"card","amount_cents":300}}`)
		case r < 11:
			topic, typ = schemas.TopicInventoryUpdates, "stock.counted"
			data = fmt.Appendf(nil, `{"count_id":"c%d","store_id":%q,"counted_at":%q,"lines":[`, i, store, at)
			for j := range 20 {
				if j > 0 {
					data = append(data, ',')
				}
				data = fmt.Appendf(data, `{"sku":%q,"qty":%d}`, prods[rng.IntN(len(prods))].SKU, rng.IntN(60))
			}
			data = append(data, "]}"...)
		case r < 12:
			topic, typ = schemas.TopicVendorDeliveries, "delivery.received"
			data = fmt.Appendf(nil, `{"delivery_id":"d%d","store_id":%q,"vendor_id":"V001","received_at":%q,"lines":[{"sku":%q,"qty":40}]}`,
				i, store, at, prods[rng.IntN(len(prods))].SKU)
		default:
			topic, typ = schemas.TopicInventoryUpdates, "stock.level"
			data = []byte(`{}`)
		}
		e := ev(topic, offsets[topic], typ, data)
		offsets[topic]++
		return e
	}
	const batch = 2000
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		evs := make([]events.Event, 0, batch)
		for j := i; j < min(b.N, i+batch); j++ {
			evs = append(evs, next(j))
		}
		b.StartTimer()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := f.ApplyBatch(ctx, tx, checkOnly{}, evs, func(err error) { b.Errorf("bad event: %v", err) })
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
