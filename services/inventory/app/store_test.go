package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/inventory"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// TestFolderApply folds records into a real Postgres: duplicates by business id are dropped,
// a count adds the movements stamped after it, bad events are rejected without a trace, a void
// puts its sale's units back once (not when voided before the latest count, not for a sale never
// folded or of another store, which leave no trace), a void's crossing alerts restocked, and the
// level, alert and badge events are emitted, valid against their schemas.
func TestFolderApply(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	ref, err := LoadReference()
	if err != nil {
		t.Fatal(err)
	}
	p := ref.Products()[0]
	f := NewFolder(ref, "inventory")
	em := &recorder{}
	sale := func(id, at string, qty int64) []byte {
		return fmt.Appendf(nil, `{"sale_id":%q,"store_id":"S001","occurred_at":%q,"lines":[{"sku":%q,"qty":%d,"unit_price_cents":1}]}`, id, at, p.SKU, qty)
	}
	void := func(id, store, at string) []byte {
		return fmt.Appendf(nil, `{"sale_id":%q,"store_id":%q,"voided_at":%q,"reason":"customer changed mind"}`, id, store, at)
	}
	// q restocks when its sale is voided: its initial stock is at least the re-arm level.
	var q Product
	for _, c := range ref.Products() {
		if c.SKU != p.SKU && c.InitialStock >= c.Threshold+inventory.Margin(c.Threshold) {
			q = c
			break
		}
	}
	bigSale := fmt.Appendf(nil, `{"sale_id":"s9","store_id":"S002","occurred_at":"2026-11-22T12:00:00Z","lines":[{"sku":%q,"qty":%d,"unit_price_cents":1}]}`,
		q.SKU, q.InitialStock-q.Threshold+1)
	count := fmt.Appendf(nil, `{"count_id":"c1","store_id":"S001","counted_at":"2026-11-22T10:00:00Z","lines":[{"sku":%q,"qty":%d}]}`, p.SKU, p.Threshold-1)
	steps := []struct {
		name string
		rec  events.Event
		want Outcome
		bad  bool
	}{
		{"sale", ev(schemas.TopicPOSSales, 0, "sale.completed", sale("s1", "2026-11-22T11:00:00Z", 2)), Applied, false},
		{"same sale again", ev(schemas.TopicPOSSales, 1, "sale.completed", sale("s1", "2026-11-22T11:00:00Z", 2)), Duplicate, false},
		{"sale before the count", ev(schemas.TopicPOSSales, 2, "sale.completed", sale("s2", "2026-11-22T09:00:00Z", 5)), Applied, false},
		{"count", ev(schemas.TopicInventoryUpdates, 0, "stock.counted", count), Applied, false},
		{"own stock.level", ev(schemas.TopicInventoryUpdates, 1, "stock.level", []byte(`{}`)), Ignored, false},
		{"not JSON", ev(schemas.TopicPOSSales, 3, "sale.completed", []byte(`{`)), Rejected, true},
		{"unknown store", ev(schemas.TopicPOSSales, 4, "sale.completed", []byte(`{"sale_id":"x","store_id":"S999","occurred_at":"2026-11-22T11:00:00Z"}`)), Rejected, true},
		{"zero quantity", ev(schemas.TopicPOSSales, 5, "sale.completed", sale("s3", "2026-11-22T11:00:00Z", 0)), Rejected, true},
		{"void after the count", ev(schemas.TopicPOSSales, 6, "sale.voided", void("s1", "S001", "2026-11-22T11:30:00Z")), Applied, false},
		{"second void", ev(schemas.TopicPOSSales, 7, "sale.voided", void("s1", "S001", "2026-11-22T12:00:00Z")), Duplicate, false},
		{"void before the count", ev(schemas.TopicPOSSales, 8, "sale.voided", void("s2", "S001", "2026-11-22T09:45:00Z")), Applied, false},
		{"void of a sale never folded", ev(schemas.TopicPOSSales, 9, "sale.voided", void("s3", "S001", "2026-11-22T11:30:00Z")), Unmatched, false},
		{"another sale", ev(schemas.TopicPOSSales, 10, "sale.completed", sale("s4", "2026-11-22T11:10:00Z", 1)), Applied, false},
		{"void naming another store", ev(schemas.TopicPOSSales, 11, "sale.voided", void("s4", "S002", "2026-11-22T11:20:00Z")), Unmatched, false},
		{"void after the unmatched one", ev(schemas.TopicPOSSales, 12, "sale.voided", void("s4", "S001", "2026-11-22T11:20:00Z")), Applied, false},
		{"void without a time", ev(schemas.TopicPOSSales, 13, "sale.voided", []byte(`{"sale_id":"s9","store_id":"S002"}`)), Rejected, true},
		{"sale to low", ev(schemas.TopicPOSSales, 14, "sale.completed", bigSale), Applied, false},
		{"void to restocked", ev(schemas.TopicPOSSales, 15, "sale.voided", void("s9", "S002", "2026-11-22T12:05:00Z")), Applied, false},
	}
	for _, s := range steps {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			out, err := f.Apply(ctx, tx, em, s.rec)
			if out != s.want {
				return fmt.Errorf("outcome %d, want %d (err %v)", out, s.want, err)
			}
			if s.bad != errors.Is(err, ErrBadEvent) {
				return fmt.Errorf("err %v, want bad event %v", err, s.bad)
			}
			if s.bad {
				return nil
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	// The count (threshold-1) plus the sales after it (-2, -1) and their voids (+2, +1); the sale
	// before it and its void are in the count.
	var onHand int64
	var low bool
	if err := pool.QueryRow(ctx, `SELECT on_hand, low FROM inventory.stock WHERE store_id = 'S001' AND sku = $1`, p.SKU).Scan(&onHand, &low); err != nil {
		t.Fatal(err)
	}
	if want := p.Threshold - 1; onHand != want || !low {
		t.Fatalf("on_hand %d low %v, want %d true", onHand, low, want)
	}
	if err := pool.QueryRow(ctx, `SELECT on_hand, low FROM inventory.stock WHERE store_id = 'S002' AND sku = $1`, q.SKU).Scan(&onHand, &low); err != nil {
		t.Fatal(err)
	}
	if onHand != q.InitialStock || low {
		t.Fatalf("%s after its sale's void: on_hand %d low %v, want %d false", q.SKU, onHand, low, q.InitialStock)
	}
	if em.types["alert.low_stock"] != 2 || em.types["alert.restocked"] != 1 || em.types["stock.level"] != 8 || em.types["stock.badge"] != 3 || len(em.types) != 4 {
		t.Fatalf("emitted %v; want 2 alert.low_stock, 1 alert.restocked, 8 stock.level, 3 stock.badge", em.types)
	}
	var restocked, voidLevels []emitted
	for _, e := range em.out {
		switch {
		case e.typ == "alert.restocked":
			restocked = append(restocked, e)
		case e.typ == "stock.level" && e.payload["cause"].(map[string]any)["type"] == "void":
			voidLevels = append(voidLevels, e)
		}
	}
	if r := restocked[0]; r.id != "pos-sales/0/15/1" || r.payload["at"] != "2026-11-22T12:05:00Z" || r.payload["on_hand"] != float64(q.InitialStock) {
		t.Fatalf("restocked %+v; want it caused by the void (pos-sales/0/15, slot 1) at its time", r)
	}
	var causes []string
	for _, e := range voidLevels {
		causes = append(causes, fmt.Sprint(e.payload["cause"].(map[string]any)["id"], "@", e.id))
	}
	if got := strings.Join(causes, " "); got != "s1@pos-sales/0/6/0 s4@pos-sales/0/12/0 s9@pos-sales/0/15/0" {
		t.Fatalf("stock.level caused by voids: %s", got)
	}
	// Only the voids that matched their sale are recorded; the sales' lines are kept.
	var voided, lines string
	if err := pool.QueryRow(ctx, `SELECT string_agg(id, ',' ORDER BY id) FROM inventory.processed WHERE kind = 'void'`).Scan(&voided); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT string_agg(sale_id || ':' || qty, ',' ORDER BY sale_id) FROM inventory.sale_lines`).Scan(&lines); err != nil {
		t.Fatal(err)
	}
	if voided != "s1,s2,s4,s9" || lines != fmt.Sprintf("s1:2,s2:5,s4:1,s9:%d", q.InitialStock-q.Threshold+1) {
		t.Fatalf("voids recorded %q, sale lines %q", voided, lines)
	}
}

func ev(topic string, offset int64, typ string, data []byte) events.Event {
	return events.Event{Envelope: events.Envelope{Type: typ}, Topic: topic, Offset: offset, Data: data}
}

// recorder validates and records emitted events.
type recorder struct {
	types map[string]int
	out   []emitted
}

type emitted struct {
	id, typ string // id: the input position and slot the id is derived from
	payload map[string]any
}

func (r *recorder) EmitFor(ctx context.Context, in events.Event, slot int, o events.Out) (string, error) {
	if _, err := (checkOnly{}).EmitFor(ctx, in, slot, o); err != nil {
		return "", err
	}
	if r.types == nil {
		r.types = map[string]int{}
	}
	r.types[o.Type]++
	b, _ := json.Marshal(o.Payload)
	var p map[string]any
	_ = json.Unmarshal(b, &p)
	r.out = append(r.out, emitted{id: fmt.Sprintf("%s/%d/%d/%d", in.Topic, in.Partition, in.Offset, slot), typ: o.Type, payload: p})
	return "", nil
}
