package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/internal/events"
	"github.com/freshmart/platform/services/internal/pgtest"
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
		{"sale", ev(TopicSales, 0, "sale.completed", sale("s1", "2026-11-22T11:00:00Z", 2)), Applied, false},
		{"same sale again", ev(TopicSales, 1, "sale.completed", sale("s1", "2026-11-22T11:00:00Z", 2)), Duplicate, false},
		{"sale before the count", ev(TopicSales, 2, "sale.completed", sale("s2", "2026-11-22T09:00:00Z", 5)), Applied, false},
		{"count", ev(TopicUpdates, 0, "stock.counted", count), Applied, false},
		{"own stock.level", ev(TopicUpdates, 1, "stock.level", []byte(`{}`)), Ignored, false},
		{"not JSON", ev(TopicSales, 3, "sale.completed", []byte(`{`)), Rejected, true},
		{"unknown store", ev(TopicSales, 4, "sale.completed", []byte(`{"sale_id":"x","store_id":"S999","occurred_at":"2026-11-22T11:00:00Z"}`)), Rejected, true},
		{"zero quantity", ev(TopicSales, 5, "sale.completed", sale("s3", "2026-11-22T11:00:00Z", 0)), Rejected, true},
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

// recorder validates and counts emitted events by type.
type recorder struct{ types map[string]int }

func (r *recorder) Emit(ctx context.Context, topic, key, eventType, source string, payload any) (string, error) {
	if _, err := (checkOnly{}).Emit(ctx, topic, key, eventType, source, payload); err != nil {
		return "", err
	}
	if r.types == nil {
		r.types = map[string]int{}
	}
	r.types[eventType]++
	return "", nil
}

// FuzzDecode feeds arbitrary payloads (untrusted bytes from the broker) to the event decoder:
// it must accept or reject them (ErrBadEvent), never panic, and what it accepts must be
// applicable: a known store, catalog SKUs, quantities in range.
func FuzzDecode(f *testing.F) {
	ref, err := LoadReference()
	if err != nil {
		f.Fatal(err)
	}
	folder := NewFolder(ref, "inventory")
	f.Add("sale.completed", []byte(`{"sale_id":"s1","store_id":"S001","occurred_at":"2026-11-22T11:00:00Z","lines":[{"sku":"PRD-0001","qty":2}]}`))
	f.Add("delivery.received", []byte(`{"delivery_id":"d1","store_id":"S002","received_at":"2026-11-22T11:00:00Z","lines":[{"sku":"PRD-0002","qty":20}]}`))
	f.Add("stock.counted", []byte(`{"count_id":"c1","store_id":"S003","counted_at":"2026-11-22T11:00:00Z","lines":[{"sku":"PRD-0003","qty":0}]}`))
	f.Add("sale.completed", []byte(`{"sale_id":1}`))
	f.Add("stock.level", []byte(`null`))
	topics := map[string]string{"sale.completed": TopicSales, "delivery.received": TopicDeliveries, "stock.counted": TopicUpdates}
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		c, ok, err := folder.decode(ev(topics[typ], 0, typ, data))
		if !ok || err != nil {
			if err != nil && !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error %v does not wrap ErrBadEvent", err)
			}
			return
		}
		if !ref.HasStore(c.store) || c.id == "" || c.at.IsZero() {
			t.Fatalf("accepted %+v", c)
		}
		for sku := range c.qty {
			if _, ok := ref.Product(sku); !ok {
				t.Fatalf("accepted unknown SKU %q", sku)
			}
		}
	})
}
