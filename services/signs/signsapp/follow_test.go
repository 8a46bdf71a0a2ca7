package signsapp

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
)

// TestDecodeAllKeepsOrder: decoding a large fold on several goroutines gives, record for record,
// what decoding one by one gives, bad records included.
func TestDecodeAllKeepsOrder(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 3 * decodeMin {
		env := events.Envelope{ID: fmt.Sprintf("id-%d", i), Type: schemas.TypePriceChanged, Source: "freshmart/pricing", Time: at}
		payload, _ := json.Marshal(schemas.PriceChanged{ChangeID: env.ID, StoreID: "S001", SKU: fmt.Sprintf("PRD-%04d", 1+i%200),
			PriceCents: int64(100 + i), Reason: "test", EffectiveAt: at})
		switch i % 97 {
		case 5:
			payload = []byte(`{"price_cents":`) // does not decode
		case 7:
			env.Type = "something.else" // another type: skipped
		}
		r := events.NewRecord(schemas.TopicDisplayUpdates, "S001", env, payload)
		r.Offset = int64(i)
		recs = append(recs, r)
	}
	got := decodeAll(recs)
	if len(got) != len(recs) {
		t.Fatalf("%d decoded of %d", len(got), len(recs))
	}
	var bad int
	for i, r := range recs {
		typ, p, err := Decode(r)
		g := got[i]
		if g.r != r || g.typ != typ || fmt.Sprint(g.p) != fmt.Sprint(p) || (g.err == nil) != (err == nil) {
			t.Fatalf("record %d: decodeAll %v %v %v, Decode %v %v %v", i, g.typ, g.p, g.err, typ, p, err)
		}
		if err != nil {
			bad++
		}
	}
	if bad == 0 || bad == len(recs) {
		t.Fatalf("%d bad records of %d: the test decodes nothing it should", bad, len(recs))
	}
}
