package app

import (
	"context"
	"fmt"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
)

// Source is the ce_source of the events the inventory service emits.
const Source = "freshmart/inventory"

// Emitter appends an event caused by one of the events being applied to the outbox, in the
// same transaction: *stream.Tx in the live service, a validating sink in the rebuild. The
// event's id is derived from in's position and slot (see stream.Tx.EmitFor).
type Emitter interface {
	EmitFor(ctx context.Context, in events.Event, slot int, o events.Out) (string, error)
}

// emitCaused hands em the events a folded batch causes, in event order: every alert raised, one
// stock.level per item (from the last event that changed it) and one stock.badge per item whose
// badge differs from the start of the batch (from the last event that changed it). Each one's id
// is derived from its cause's position and the SKU's place in it (slots 3j, 3j+1, 3j+2), so a
// replay emits the same ids whatever the batch sizes.
func emitCaused(ctx context.Context, em Emitter, ds []decoded, states map[itemKey]*itemState, out folded) error {
	for i, d := range ds {
		for j, sku := range d.skus {
			st := states[itemKey{d.c.store, sku}]
			if k, ok := out.alertAt[[2]int{i, j}]; ok {
				a := out.alerts[k]
				p := schemas.StockAlert{AlertID: a.id.String(), StoreID: d.c.store, SKU: sku, OnHand: a.item.OnHand,
					Threshold: a.item.Threshold, At: d.c.at}
				if _, err := em.EmitFor(ctx, d.ev, 3*j+1, events.Out{Topic: schemas.TopicStoreAlerts, Key: d.c.store, Type: string(a.kind), Payload: p}); err != nil {
					return fmt.Errorf("%s %s: %w", d.c.kind, d.c.id, err)
				}
			}
			if st.level == i {
				p := schemas.StockLevel{StoreID: d.c.store, SKU: sku, OnHand: st.item.OnHand, Threshold: st.item.Threshold,
					Cause: schemas.Cause{Type: d.c.kind, ID: d.c.id}, At: d.c.at}
				if _, err := em.EmitFor(ctx, d.ev, 3*j, events.Out{Topic: schemas.TopicInventoryUpdates, Key: d.c.store, Type: schemas.TypeStockLevel, Payload: p}); err != nil {
					return fmt.Errorf("%s %s: %w", d.c.kind, d.c.id, err)
				}
			}
			if st.badge == i && st.item.Status() != st.start {
				p := schemas.StockBadge{StoreID: d.c.store, SKU: sku, Badge: st.item.Status().Badge(), OnHand: st.badgeHand, At: d.c.at}
				if _, err := em.EmitFor(ctx, d.ev, 3*j+2, events.Out{Topic: schemas.TopicDisplayUpdates, Key: d.c.store, Type: schemas.TypeStockBadge, Payload: p}); err != nil {
					return fmt.Errorf("%s %s: %w", d.c.kind, d.c.id, err)
				}
			}
		}
	}
	return nil
}
