package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	posdomain "github.com/freshmart/platform/services/pos"
)

// op is one request of the workload and what it means for the expected stock.
type op struct {
	path  string // /v1/sales, /v1/deliveries, /v1/stock-counts, /v1/sales/{sale_id}/void
	body  map[string]any
	store string
	at    time.Time
	lines map[string]int64 // sku -> qty (sold, delivered, counted, or given back by a void)
	retry bool             // post it twice
	// again is the body of the second post when it differs (a second void of the same sale,
	// with another reason and time: answered with the first void).
	again map[string]any
	// accepted is closed once a sale's post was answered; a void waits for its sale's.
	accepted chan struct{}
	// saleID is the sale of a void.
	saleID string
}

type itemKey struct{ store, sku string }

// workload generates n requests over a few SKUs in every store, stamped one second apart, with
// about 5% of sales posted twice (the second time to another POS instance), and voids about 8%
// of the sales, each between 0 and 4 minutes after its sale (so counts fall before and after
// it), placed in the workload at its time; a quarter of the voids are posted a second time, to
// the other instance, with another reason and a later voided_at.
func workload(cat *catalog.Catalog, n int, seed uint64) []op {
	rng := rand.New(rand.NewPCG(seed, 7))
	var stores []string
	for _, s := range cat.Stores() {
		stores = append(stores, s.StoreID)
	}
	products := cat.Products()
	var skus []string
	for i := 0; i < len(products) && len(skus) < 12; i += 19 {
		skus = append(skus, products[i].SKU)
	}
	vendors := cat.Vendors()
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	ops := make([]op, 0, n)
	for i := range n {
		o := op{store: stores[rng.IntN(len(stores))], at: base.Add(time.Duration(i) * time.Second), lines: map[string]int64{}}
		at := o.at.Format(time.RFC3339)
		var lines []map[string]any
		r := rng.IntN(100)
		nl := 1 + rng.IntN(3)
		for range nl {
			sku := skus[rng.IntN(len(skus))]
			if _, dup := o.lines[sku]; dup {
				continue
			}
			var q int64
			switch {
			case r < 85:
				q = int64(1 + rng.IntN(3))
				lines = append(lines, map[string]any{"sku": sku, "qty": q, "unit_price_cents": 100 + rng.IntN(900)})
			case r < 97:
				q = int64(10 + rng.IntN(30))
				lines = append(lines, map[string]any{"sku": sku, "qty": q})
			default:
				q = int64(rng.IntN(50))
				lines = append(lines, map[string]any{"sku": sku, "qty": q})
			}
			o.lines[sku] = q
		}
		id := uuid.NewString()
		switch {
		case r < 85:
			o.path = "/v1/sales"
			o.retry = rng.IntN(20) == 0
			o.body = map[string]any{"sale_id": id, "store_id": o.store, "register": fmt.Sprintf("R%02d", 1+rng.IntN(8)),
				"occurred_at": at, "lines": lines, "payment": map[string]any{"method": []string{"card", "cash", "mobile"}[rng.IntN(3)]}}
		case r < 97:
			o.path = "/v1/deliveries"
			o.body = map[string]any{"delivery_id": id, "store_id": o.store, "vendor_id": vendors[rng.IntN(len(vendors))].VendorID,
				"received_at": at, "lines": lines}
		default:
			o.path = "/v1/stock-counts"
			o.body = map[string]any{"count_id": id, "store_id": o.store, "counted_at": at, "lines": lines}
		}
		ops = append(ops, o)
	}
	// The voids, each placed among the requests stamped at its voided_at.
	type placed struct {
		after int // index of the request it follows
		o     op
	}
	var voids []placed
	for i := range ops {
		if ops[i].path != "/v1/sales" || rng.IntN(12) != 0 {
			continue
		}
		sale := &ops[i]
		sale.accepted = make(chan struct{})
		delay := rng.IntN(241)
		saleID := sale.body["sale_id"].(string)
		v := op{path: "/v1/sales/" + saleID + "/void", store: sale.store, at: sale.at.Add(time.Duration(delay) * time.Second),
			lines: sale.lines, accepted: sale.accepted, saleID: saleID, retry: rng.IntN(4) == 0}
		v.body = map[string]any{"reason": "customer changed mind", "voided_at": v.at.Format(time.RFC3339)}
		if v.retry {
			v.again = map[string]any{"reason": "voided again", "voided_at": v.at.Add(time.Minute).Format(time.RFC3339)}
		}
		voids = append(voids, placed{min(i+delay, len(ops)-1), v})
	}
	slices.SortStableFunc(voids, func(a, b placed) int { return a.after - b.after })
	out := make([]op, 0, len(ops)+len(voids))
	for i, o := range ops {
		out = append(out, o)
		for len(voids) > 0 && voids[0].after == i {
			out = append(out, voids[0].o)
			voids = voids[1:]
		}
	}
	return out
}

func isVoid(o op) bool { return o.saleID != "" }

// expected folds the workload independently of the service: the latest count of an item plus
// the sales, deliveries and voids stamped after it, or the initial stock plus all of them. A
// void gives its sale's units back at its voided_at (never before the sale's time: the POS
// refuses that), once: its second post changes nothing.
func expected(cat *catalog.Catalog, ops []op) map[itemKey]int64 {
	type count struct {
		at  time.Time
		qty int64
	}
	last := map[itemKey]count{}
	for _, o := range ops {
		if o.path != "/v1/stock-counts" {
			continue
		}
		for sku, q := range o.lines {
			k := itemKey{o.store, sku}
			if c, ok := last[k]; !ok || o.at.After(c.at) {
				last[k] = count{o.at, q}
			}
		}
	}
	out := map[itemKey]int64{}
	for _, s := range cat.Stores() {
		for _, p := range cat.Products() {
			k := itemKey{s.StoreID, p.SKU}
			if c, ok := last[k]; ok {
				out[k] = c.qty
			} else {
				out[k] = int64(p.InitialStock)
			}
		}
	}
	for _, o := range ops {
		sign := int64(-1)
		switch {
		case o.path == "/v1/stock-counts":
			continue
		case o.path == "/v1/deliveries", isVoid(o):
			sign = 1
		}
		for sku, q := range o.lines {
			k := itemKey{o.store, sku}
			if c, ok := last[k]; ok && !o.at.After(c.at) {
				continue
			}
			out[k] += sign * q
		}
	}
	return out
}

// postAll posts ops with a few concurrent lanes and requires 202 for every one. A retried op is
// posted again, after the first answer, to retryURL, another POS instance that never saw it: the
// retry must get the first answer's partition and offset.
func postAll(t *testing.T, posURL, retryURL string, ops []op) {
	t.Helper()
	ctx := context.Background()
	work := make(chan op)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for range 8 {
		wg.Go(func() {
			for o := range work {
				if isVoid(o) {
					<-o.accepted // a void of a sale not accepted yet would be 404
				}
				code, first, err := post(ctx, posURL+o.path, o.body)
				if o.accepted != nil && !isVoid(o) {
					close(o.accepted)
				}
				if err != nil || code != http.StatusAccepted {
					fail("%s: %d %v %v", o.path, code, first, err)
					continue
				}
				if !o.retry {
					continue
				}
				body := o.body
				if o.again != nil {
					body = o.again
				}
				code, again, err := post(ctx, retryURL+o.path, body)
				if err != nil || code != http.StatusAccepted {
					fail("%s retry: %d %v %v", o.path, code, again, err)
				} else if again["partition"] != first["partition"] || again["offset"] != first["offset"] {
					fail("%s retry answered %v, first answer %v", o.path, again, first)
				}
			}
		})
	}
	for _, o := range ops {
		work <- o
	}
	close(work)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed, first: %s", len(failures), failures[0])
	}
}

// saleIDsOnTopic reads the n records of pos-sales and counts each sale_id, of the sales and
// of the voids apart; every void's ce_id must be the one derived from its sale_id.
func saleIDsOnTopic(t *testing.T, brokerAddr string, n int64) (sales, voids map[string]int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.ConsumeTopics("pos-sales"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sales, voids = map[string]int{}, map[string]int{}
	var got int64
	for got < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d pos-sales records: %v", got, n, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got++
			var s struct {
				SaleID string `json:"sale_id"`
			}
			if err := json.Unmarshal(r.Value, &s); err != nil || s.SaleID == "" {
				t.Fatalf("pos-sales record %d/%d without a sale_id: %v %s", r.Partition, r.Offset, err, r.Value)
			}
			h := headers(r)
			switch h["ce_type"] {
			case "sale.completed":
				sales[s.SaleID]++
			case "sale.voided":
				if h["ce_id"] != posdomain.VoidID(s.SaleID) {
					t.Fatalf("the void of %s has ce_id %s, want %s", s.SaleID, h["ce_id"], posdomain.VoidID(s.SaleID))
				}
				voids[s.SaleID]++
			default:
				t.Fatalf("pos-sales record %d/%d of type %q", r.Partition, r.Offset, h["ce_type"])
			}
		})
	}
	return sales, voids
}

// headers returns a record's headers by name.
func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// endOffsetSum returns the sum of the end offsets of a topic's partitions.
func endOffsetSum(t *testing.T, brokerAddr, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		n += o.Offset
	})
	return n
}

// logPositions logs, per partition, the inventory's stored next offset and the end offset.
func logPositions(t *testing.T, pool *pgxpool.Pool, brokerAddr string) {
	t.Helper()
	ctx := context.Background()
	stored := map[string]int64{}
	rows, err := pool.Query(ctx, `SELECT topic, partition, next_offset FROM inventory.consumer_offsets`)
	if err != nil {
		t.Logf("consumer_offsets: %v", err)
		return
	}
	for rows.Next() {
		var tp string
		var p int32
		var o int64
		if err := rows.Scan(&tp, &p, &o); err == nil {
			stored[fmt.Sprintf("%s/%d", tp, p)] = o
		}
	}
	rows.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr))
	if err != nil {
		t.Logf("client: %v", err)
		return
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "pos-sales", "vendor-deliveries", "inventory-updates")
	if err != nil {
		t.Logf("end offsets: %v", err)
		return
	}
	ends.Each(func(o kadm.ListedOffset) {
		k := fmt.Sprintf("%s/%d", o.Topic, o.Partition)
		if o.Offset > 0 || stored[k] > 0 {
			t.Logf("%-22s consumed up to %6d of %6d", k, stored[k], o.Offset)
		}
	})
}

// stockOf reads GET /v1/stock of every store.
func stockOf(cat *catalog.Catalog, invURL string) (map[itemKey]int64, error) {
	out := map[itemKey]int64{}
	for _, s := range cat.Stores() {
		var resp struct {
			Items []struct {
				StoreID string `json:"store_id"`
				SKU     string `json:"sku"`
				OnHand  int64  `json:"on_hand"`
			} `json:"items"`
		}
		code, err := getJSON(invURL+"/v1/stock?store_id="+s.StoreID, &resp)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("GET /v1/stock %s: %d %v", s.StoreID, code, err)
		}
		for _, it := range resp.Items {
			out[itemKey{it.StoreID, it.SKU}] = it.OnHand
		}
	}
	return out, nil
}

func diff(want, got map[itemKey]int64) []string {
	var d []string
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			d = append(d, fmt.Sprintf("%s/%s: want %d, got %d (present %v)", k.store, k.sku, w, g, ok))
		}
	}
	slices.Sort(d)
	return d
}

// TestStockStaysExact posts a few thousand sales, deliveries, counts and voids while two
// inventory instances share the partitions, one of them is killed with SIGKILL and restarted,
// and later every instance is stopped while the POS keeps accepting sales. Every second void
// (to the other POS instance, with another reason and time) is answered with the first one, and
// a void of a sale the POS never accepted is 404. Afterwards every stock level equals the fold
// of the events, voids included; a copy of a void and voids of sales the inventory never folded,
// produced straight to pos-sales, are counted (duplicate, unmatched) and change nothing; each
// low-stock crossing is alerted exactly once, and the rebuild command's replay equals the live
// view.
func TestStockStaysExact(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	broker := brokertest.Start(t)
	brokerAddr := broker.Addr
	dsn := pgtest.New(t)
	env := []string{"KAFKA_BROKERS=" + brokerAddr, "DATABASE_URL=" + dsn}
	pos := startService(t, "pos", bins.pos, env...)
	pos2 := startService(t, "pos-2", bins.pos, env...)
	invA := startService(t, "inventory-a", bins.inventory, env...)
	invB := startService(t, "inventory-b", bins.inventory, env...)

	ops := workload(cat, 2400, 42)
	cut := func(f float64) int { return int(f * float64(len(ops))) }

	postAll(t, pos.url, pos2.url, ops[:cut(0.3)])
	invA.stop(syscall.SIGKILL) // mid-stream, without warning
	postAll(t, pos.url, pos2.url, ops[cut(0.3):cut(0.55)])
	invA = startService(t, "inventory-a2", bins.inventory, env...)
	postAll(t, pos.url, pos2.url, ops[cut(0.55):cut(0.7)])
	invA.stop(syscall.SIGKILL)
	invB.stop(syscall.SIGTERM)
	// No inventory running: the POS keeps answering 202.
	postAll(t, pos.url, pos2.url, ops[cut(0.7):cut(0.9)])
	invA = startService(t, "inventory-a3", bins.inventory, env...)
	postAll(t, pos.url, pos2.url, ops[cut(0.9):])

	// A void of a sale no POS accepted is refused, and produces nothing.
	code, body, err := post(context.Background(), pos.url+"/v1/sales/"+uuid.NewString()+"/void",
		map[string]any{"reason": "no such sale", "voided_at": time.Now().UTC().Format(time.RFC3339)})
	if err != nil || code != http.StatusNotFound {
		t.Fatalf("void of an unknown sale: %d %v %v", code, body, err)
	}

	// Every retry went to the other POS instance after the first answer: it was answered from
	// pos.accepted, so pos-sales holds each sale_id exactly once, and each void once.
	sales, retries, voids, voidRetries := 0, 0, 0, 0
	wantIDs, wantVoids := map[string]bool{}, map[string]bool{}
	for _, o := range ops {
		switch {
		case o.path == "/v1/sales":
			sales++
			wantIDs[o.body["sale_id"].(string)] = true
			if o.retry {
				retries++
			}
		case isVoid(o):
			voids++
			wantVoids[o.saleID] = true
			if o.retry {
				voidRetries++
			}
		}
	}
	t.Logf("%d sales (%d retried), %d voids (%d voided twice)", sales, retries, voids, voidRetries)
	if retries == 0 || voids < 50 || voidRetries == 0 {
		t.Fatalf("the workload has %d retried sales, %d voids, %d voided twice", retries, voids, voidRetries)
	}
	if n := endOffsetSum(t, brokerAddr, "pos-sales"); n != int64(sales+voids) {
		t.Fatalf("pos-sales holds %d records, want %d sales and %d voids (%d retries and %d second voids must not be produced)",
			n, sales, voids, retries, voidRetries)
	}
	seen, seenVoids := saleIDsOnTopic(t, brokerAddr, int64(sales+voids))
	for id := range wantIDs {
		if seen[id] != 1 {
			t.Fatalf("sale %s is on pos-sales %d times, want once", id, seen[id])
		}
	}
	for id := range wantVoids {
		if seenVoids[id] != 1 {
			t.Fatalf("the void of sale %s is on pos-sales %d times, want once", id, seenVoids[id])
		}
	}
	if len(seen) != len(wantIDs) || len(seenVoids) != len(wantVoids) {
		t.Fatalf("pos-sales holds %d distinct sale ids and %d voids, want %d and %d", len(seen), len(seenVoids), len(wantIDs), len(wantVoids))
	}

	want := expected(cat, ops)
	pool := pgtest.Pool(t, dsn)
	waitStock := func(what string) {
		t.Helper()
		deadline := time.Now().Add(120 * time.Second)
		for {
			got, err := stockOf(cat, invA.url)
			if err == nil {
				d := diff(want, got)
				if len(d) == 0 {
					return
				}
				err = fmt.Errorf("%d items differ, first: %s", len(d), d[0])
			}
			if time.Now().After(deadline) {
				logPositions(t, pool, brokerAddr)
				t.Fatalf("stock does not equal the fold of the events %s: %v", what, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitStock("")

	// Voids the POS would not produce, straight to pos-sales: a copy of a void (same ce_id), a
	// void of a sale never sold, and a void naming another store than its sale's. The one
	// inventory instance left counts them and the stock does not move.
	var voided op
	for _, o := range ops {
		if isVoid(o) {
			voided = o
			break
		}
	}
	other := "S001"
	if voided.store == other {
		other = "S002"
	}
	before := eventCounts(t, invA.url)
	producer := events.NewProducerFrom(broker.Client(t), "freshmart/e2e")
	for _, v := range []schemas.SaleVoided{
		{SaleID: voided.saleID, StoreID: voided.store, VoidedAt: voided.at, Reason: "a copy"},
		{SaleID: uuid.NewString(), StoreID: voided.store, VoidedAt: voided.at, Reason: "never sold"},
		{SaleID: voided.saleID, StoreID: other, VoidedAt: voided.at, Reason: "another store"},
	} {
		if _, _, err := producer.Produce(context.Background(), events.Out{Topic: schemas.TopicPOSSales, Key: v.StoreID,
			Type: schemas.TypeSaleVoided, ID: posdomain.VoidID(v.SaleID), Payload: v}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "the injected voids counted", func() error {
		now := eventCounts(t, invA.url)
		if now["duplicate"]-before["duplicate"] < 1 || now["unmatched"]-before["unmatched"] != 2 {
			return fmt.Errorf("outcomes before %v, now %v", before, now)
		}
		return nil
	})
	waitStock("after a copy of a void and two voids that match no sale")

	checkAlerts(t, pool, brokerAddr)

	rebuild := exec.Command(bins.inventory, "rebuild")
	rebuild.Env = append(rebuild.Environ(), env...)
	out, err := rebuild.CombinedOutput()
	if err != nil {
		t.Fatalf("inventory rebuild: %v\n%s", err, tail(string(out), 4096))
	}
	if !strings.Contains(string(out), "rebuilt view equals the live view") {
		t.Fatalf("inventory rebuild did not report equality:\n%s", tail(string(out), 4096))
	}

	// The comparison is not vacuous: a live row changed behind the service's back is reported.
	if _, err := pool.Exec(context.Background(), `UPDATE inventory.stock SET on_hand = on_hand + 1
		WHERE (store_id, sku) = (SELECT store_id, sku FROM inventory.stock ORDER BY store_id, sku LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	invA.stop(syscall.SIGTERM) // so the tampered row stays as it is
	rebuild = exec.Command(bins.inventory, "rebuild")
	rebuild.Env = append(rebuild.Environ(), env...)
	out, err = rebuild.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "differs from the live view: 1 difference:") {
		t.Fatalf("inventory rebuild after tampering: %v\n%s", err, tail(string(out), 4096))
	}
}

// eventCounts reads inventory_events_total by outcome from an inventory's /metrics.
func eventCounts(t *testing.T, invURL string) map[string]float64 {
	t.Helper()
	resp, err := client.Get(invURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, `inventory_events_total{outcome="`)
		if !ok {
			continue
		}
		outcome, value, _ := strings.Cut(rest, `"} `)
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[outcome] = v
	}
	return out
}

// checkAlerts verifies that each low-stock crossing was alerted exactly once: the alerts in the
// store-alerts topic (a record re-sent by the relay repeats its ce_id; no alert appears under two
// ce_ids) are exactly those in the service's table, per item they alternate low_stock, restocked, low_stock..., and the last one agrees
// with the item's hysteresis flag.
func checkAlerts(t *testing.T, pool *pgxpool.Pool, brokerAddr string) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, 60*time.Second, "the outbox to drain", func() error {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM inventory.outbox WHERE sent_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d outbox rows unsent", n)
		}
		return nil
	})

	type alert struct{ typ, store, sku string }
	table := map[string]alert{}
	perItem := map[itemKey][]string{}
	rows, err := pool.Query(ctx, `SELECT alert_id::text, type, store_id, sku FROM inventory.alerts ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var a alert
		if err := rows.Scan(&id, &a.typ, &a.store, &a.sku); err != nil {
			t.Fatal(err)
		}
		table[id] = a
		k := itemKey{a.store, a.sku}
		perItem[k] = append(perItem[k], a.typ)
	}
	rows.Close()
	lows := 0
	for k, seq := range perItem {
		for i, typ := range seq {
			want := "alert.low_stock"
			if i%2 == 1 {
				want = "alert.restocked"
			} else {
				lows++
			}
			if typ != want {
				t.Fatalf("%s/%s: alert %d is %s, want %s (sequence %v)", k.store, k.sku, i, typ, want, seq)
			}
		}
		var low bool
		if err := pool.QueryRow(ctx, `SELECT low FROM inventory.stock WHERE store_id = $1 AND sku = $2`, k.store, k.sku).Scan(&low); err != nil {
			t.Fatal(err)
		}
		if low != (len(seq)%2 == 1) {
			t.Fatalf("%s/%s: flag low=%v but alert sequence %v", k.store, k.sku, low, seq)
		}
	}
	if lows < 5 {
		t.Fatalf("only %d low-stock alerts: the workload does not exercise the alerts", lows)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "store-alerts")
	if err != nil {
		t.Fatal(err)
	}
	parts := map[int32]kgo.Offset{}
	remaining := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			parts[o.Partition] = kgo.NewOffset().AtStart()
			remaining++
		}
	})
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"store-alerts": parts}))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	topic := map[string]alert{}  // by alert_id
	ceIDs := map[string]string{} // ce_id -> alert_id
	records := 0
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for remaining > 0 {
		fs := rd.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("reading store-alerts: %d partitions not read to the end", remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			records++
			var ceID, typ string
			for _, h := range r.Headers {
				switch h.Key {
				case "ce_id":
					ceID = string(h.Value)
				case "ce_type":
					typ = string(h.Value)
				}
			}
			var payload struct {
				AlertID string `json:"alert_id"`
				StoreID string `json:"store_id"`
				SKU     string `json:"sku"`
			}
			if err := json.Unmarshal(r.Value, &payload); err != nil {
				t.Fatalf("store-alerts record %d/%d: %v", r.Partition, r.Offset, err)
			}
			if prev, seen := ceIDs[ceID]; seen && prev != payload.AlertID {
				t.Fatalf("ce_id %s carries alerts %s and %s", ceID, prev, payload.AlertID)
			}
			if _, dup := topic[payload.AlertID]; dup && ceIDs[ceID] == "" {
				t.Fatalf("alert %s emitted twice under different ids", payload.AlertID)
			}
			ceIDs[ceID] = payload.AlertID
			topic[payload.AlertID] = alert{typ: typ, store: payload.StoreID, sku: payload.SKU}
			end, _ := ends.Lookup("store-alerts", r.Partition)
			if r.Offset+1 == end.Offset {
				remaining--
			}
		})
	}
	if len(topic) != len(table) {
		t.Fatalf("store-alerts holds %d distinct alerts (%d records), the table %d", len(topic), records, len(table))
	}
	for id, a := range table {
		if got, ok := topic[id]; !ok || got != a {
			t.Fatalf("alert %s (%v) missing from store-alerts or different there (%v)", id, a, got)
		}
	}
	t.Logf("%d alerts (%d low-stock) in %d records, each crossing once", len(table), lows, records)
}
