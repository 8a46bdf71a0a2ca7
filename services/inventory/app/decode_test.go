package app

import (
	"errors"
	"testing"

	"github.com/freshmart/platform/schemas"
)

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
	f.Add("sale.voided", []byte(`{"sale_id":"s1","store_id":"S001","voided_at":"2026-11-22T11:05:00Z","reason":"wrong item"}`))
	f.Add("sale.voided", []byte(`{"sale_id":"","store_id":"S001"}`))
	f.Add("sale.completed", []byte(`{"sale_id":1}`))
	f.Add("stock.level", []byte(`null`))
	topics := map[string]string{"sale.completed": schemas.TopicPOSSales, "sale.voided": schemas.TopicPOSSales,
		"delivery.received": schemas.TopicVendorDeliveries, "stock.counted": schemas.TopicInventoryUpdates}
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
