package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// TestFolderApply folds records into a real Postgres: duplicates by business id are dropped,
// a count adds the movements stamped after it, bad events are rejected without a trace, and
// the level, alert and badge events are emitted, valid against their schemas.
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
	// The count (threshold-1) plus the sale after it (-2); the sale before it is in the count.
	var onHand int64
	var low bool
	if err := pool.QueryRow(ctx, `SELECT on_hand, low FROM inventory.stock WHERE store_id = 'S001' AND sku = $1`, p.SKU).Scan(&onHand, &low); err != nil {
		t.Fatal(err)
	}
	if want := p.Threshold - 1 - 2; onHand != want || !low {
		t.Fatalf("on_hand %d low %v, want %d true", onHand, low, want)
	}
	if em.types["alert.low_stock"] != 1 || em.types["stock.level"] != 3 || em.types["stock.badge"] != 1 || len(em.types) != 3 {
		t.Fatalf("emitted %v; want 1 alert.low_stock, 3 stock.level, 1 stock.badge", em.types)
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
