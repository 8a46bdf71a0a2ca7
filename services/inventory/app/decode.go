package app

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
)

// change is an event the fold applies, decoded and checked. A void (kind "void", id the voided
// sale's id) decodes with no lines: the fold fills in qty from the sale's lines, and sets at to
// when they are back on hand (inventory.VoidAt), once it knows the sale.
type change struct {
	kind, id, store string
	at              time.Time
	qty             map[string]int64 // per SKU: signed movement, or counted quantity
}

// decoded is an event of a batch, checked and ready to fold.
type decoded struct {
	ev   events.Event
	c    change
	skus []string // the SKUs of c.qty, sorted (set by the fold once the event is known to be new)
}

// decode parses and checks an event's payload against the catalog. It returns ok=false for
// events the fold does not apply (other types, or a known type on another topic) and an error
// wrapping ErrBadEvent for payloads it cannot apply.
func (f *Folder) decode(r events.Event) (c change, ok bool, err error) {
	sign := int64(-1)
	switch {
	case r.Type == schemas.TypeSaleCompleted && r.Topic == schemas.TopicPOSSales:
		c.kind = "sale"
	case r.Type == schemas.TypeDeliveryReceived && r.Topic == schemas.TopicVendorDeliveries:
		c.kind, sign = "delivery", 1
	case r.Type == schemas.TypeStockCounted && r.Topic == schemas.TopicInventoryUpdates:
		c.kind = "count"
	case r.Type == schemas.TypeSaleVoided && r.Topic == schemas.TopicPOSSales:
		c.kind = "void"
	default:
		return c, false, nil
	}
	var (
		store  string
		lines  []schemas.QtyLine
		decErr error
	)
	switch c.kind {
	case "sale":
		var ev schemas.SaleCompleted
		decErr = json.Unmarshal(r.Data, &ev)
		c.id, c.at, store = ev.SaleID, ev.OccurredAt, ev.StoreID
		for _, l := range ev.Lines {
			lines = append(lines, schemas.QtyLine{SKU: l.SKU, Qty: l.Qty})
		}
	case "void":
		var ev schemas.SaleVoided
		decErr = json.Unmarshal(r.Data, &ev)
		c.id, c.at, store = ev.SaleID, ev.VoidedAt, ev.StoreID
	case "delivery":
		var ev schemas.DeliveryReceived
		decErr = json.Unmarshal(r.Data, &ev)
		c.id, c.at, store, lines = ev.DeliveryID, ev.ReceivedAt, ev.StoreID, ev.Lines
	default:
		var ev schemas.StockCounted
		decErr = json.Unmarshal(r.Data, &ev)
		c.id, c.at, store, lines = ev.CountID, ev.CountedAt, ev.StoreID, ev.Lines
	}
	if decErr != nil {
		return c, true, fmt.Errorf("%w: %s at %s/%d/%d: %v", ErrBadEvent, r.Type, r.Topic, r.Partition, r.Offset, decErr)
	}
	c.store, c.at = store, c.at.UTC()
	if c.id == "" || len(c.id) > 128 || c.at.IsZero() || !f.ref.HasStore(store) {
		return c, true, fmt.Errorf("%w: %s at %s/%d/%d: missing or overlong id, missing time, or unknown store %q",
			ErrBadEvent, r.Type, r.Topic, r.Partition, r.Offset, store)
	}
	// Sum (or, for a count, take the last of) the lines per SKU.
	c.qty = map[string]int64{}
	for _, l := range lines {
		if _, ok := f.ref.Product(l.SKU); !ok {
			return c, true, fmt.Errorf("%w: %s %s: unknown SKU %q", ErrBadEvent, c.kind, c.id, l.SKU)
		}
		if l.Qty < 0 || (l.Qty == 0 && c.kind != "count") || l.Qty > 1_000_000 {
			return c, true, fmt.Errorf("%w: %s %s: SKU %s: quantity %d out of range", ErrBadEvent, c.kind, c.id, l.SKU, l.Qty)
		}
		if c.kind == "count" {
			c.qty[l.SKU] = l.Qty
		} else {
			c.qty[l.SKU] += sign * l.Qty
		}
	}
	return c, true, nil
}
