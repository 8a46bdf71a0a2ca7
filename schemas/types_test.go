package schemas

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestTypesRoundTrip decodes every valid example into its Go type without unknown fields,
// encodes it again and checks the result is still valid and carries the same JSON.
func TestTypesRoundTrip(t *testing.T) {
	types := map[string]func() any{
		"sale.completed":          func() any { return new(SaleCompleted) },
		"sale.voided":             func() any { return new(SaleVoided) },
		"delivery.received":       func() any { return new(DeliveryReceived) },
		"stock.counted":           func() any { return new(StockCounted) },
		"stock.adjusted":          func() any { return new(StockAdjusted) },
		"stock.level":             func() any { return new(StockLevel) },
		"alert.low_stock":         func() any { return new(StockAlert) },
		"alert.restocked":         func() any { return new(Alert) },
		"alert.complaint_spike":   func() any { return new(ComplaintSpikeAlert) },
		"alert.delivery_mismatch": func() any { return new(DeliveryMismatchAlert) },
		"stock.badge":             func() any { return new(StockBadge) },
		"price.changed":           func() any { return new(PriceChanged) },
		"promo.started":           func() any { return new(PromoStarted) },
		"promo.ended":             func() any { return new(PromoEnded) },
		"complaint.filed":         func() any { return new(ComplaintFiled) },
		"report.daily_sales":      func() any { return new(DailySalesReport) },
	}
	for _, typ := range Types() {
		t.Run(typ, func(t *testing.T) {
			mk, ok := types[typ]
			if !ok {
				t.Fatalf("no Go type for event type %q", typ)
			}
			raw, err := os.ReadFile(filepath.Join("testdata", "valid", typ+".json"))
			if err != nil {
				t.Fatalf("read example: %v", err)
			}
			v := mk()
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("decode example into %T: %v", v, err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("encode %T: %v", v, err)
			}
			if err := Validate(typ, out); err != nil {
				t.Fatalf("re-encoded %T is invalid: %v\n%s", v, err, out)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("round trip changed the payload:\nwant %s\ngot  %s", raw, out)
			}
		})
	}
}
