package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/inventory"
)

// idSpace namespaces the ids derived from input positions (uuid v5).
var idSpace = uuid.MustParse("6f0b3d52-4c1a-4e57-9a55-2d1f5b0e7c31")

type itemKey struct{ store, sku string }

// itemState follows one store/SKU through a batch.
type itemState struct {
	item      inventory.Item
	start     inventory.Status // the status before the batch
	updatedAt time.Time        // the latest event time that touched the item
	moves     []movement       // this batch's movements, in fold order
	level     int              // index of the last event that changed the item, or -1
	badge     int              // index of the last event that changed its status, or -1
	badgeHand int64            // on-hand right after that event
}

type movement struct {
	at    time.Time
	delta int64
}

type alertRow struct {
	id   uuid.UUID
	kind inventory.Alert
	key  itemKey
	item inventory.Item
	at   time.Time
}

// folded is what the in-memory fold of a batch yields besides the new item states.
type folded struct {
	moveRows [][]any        // the movements to store: store_id, sku, at, delta
	saleRows [][]any        // the lines of the sales folded: sale_id, store_id, sku, qty, occurred_at
	alerts   []alertRow     // the alerts raised, in fold order
	alertAt  map[[2]int]int // (event, SKU index) -> index in alerts
}

// fold applies checked events, see ApplyBatch: it drops the duplicates, loads the items the
// rest touch, folds them in memory, writes the result and emits the events it causes.
func (f *Folder) fold(ctx context.Context, tx pgx.Tx, em Emitter, all []decoded) (Counts, error) {
	n := Counts{}
	if len(all) == 0 {
		return n, nil
	}
	// Drop the sales, deliveries and counts whose business id was seen before: earlier in this
	// batch, or in an earlier transaction (the insert returns only the ids it added). A void is
	// deduplicated only once it is known to match a folded sale (resolveVoids), so a void that
	// matched nothing leaves no trace.
	var others []decoded
	for _, d := range all {
		if d.c.kind != "void" {
			others = append(others, d)
		}
	}
	added, err := f.markProcessed(ctx, tx, firstOfEachID(others))
	if err != nil {
		return nil, err
	}
	ds := make([]decoded, 0, len(all))
	taken := map[[2]string]bool{}
	for _, d := range all {
		if k := [2]string{d.c.kind, d.c.id}; d.c.kind != "void" {
			if !added[k] || taken[k] {
				n[Duplicate]++
				continue
			}
			taken[k] = true
		}
		ds = append(ds, d)
	}
	ds, err = f.resolveVoids(ctx, tx, ds, n)
	if err != nil {
		return nil, err
	}
	for i := range ds {
		d := &ds[i]
		d.skus = make([]string, 0, len(d.c.qty))
		for sku := range d.c.qty {
			d.skus = append(d.skus, sku)
		}
		slices.Sort(d.skus)
	}
	n[Applied] += len(ds)
	if len(ds) == 0 {
		return n, nil
	}

	states, err := f.load(ctx, tx, ds)
	if err != nil {
		return nil, err
	}
	after, err := f.movedAfterCounts(ctx, tx, ds)
	if err != nil {
		return nil, err
	}
	out := foldBatch(ds, states, after)
	if err := f.write(ctx, tx, states, out); err != nil {
		return nil, err
	}
	if err := emitCaused(ctx, em, ds, states, out); err != nil {
		return nil, err
	}
	return n, nil
}

// soldLines are the lines of a folded sale, summed per SKU (units sold, positive).
type soldLines struct {
	store string
	at    time.Time
	qty   map[string]int64
}

// resolveVoids turns each void of ds into the movements that put its sale's units back, from
// the sale's lines: those stored by an earlier transaction (one query for the batch), or those of
// a new sale earlier in ds. A void whose sale was never folded, in the void's store, changes
// nothing (counted Unmatched). A matching void applies once per sale: the first of the batch is
// recorded as ('void', sale_id) in processed, and it and any later one of the same sale are
// Duplicates if a void of that sale was recorded before (one statement). ds holds the new sales,
// deliveries and counts and every void, in batch order; the result keeps that order.
func (f *Folder) resolveVoids(ctx context.Context, tx pgx.Tx, ds []decoded, n Counts) ([]decoded, error) {
	var ids []string
	for _, d := range ds {
		if d.c.kind == "void" {
			ids = append(ids, d.c.id)
		}
	}
	if len(ids) == 0 {
		return ds, nil
	}
	stored, err := f.soldLines(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	inBatch := map[string]soldLines{}
	matched := map[string]bool{}
	var voids []decoded // the first matching void of each sale
	out := ds[:0]
	for _, d := range ds {
		switch d.c.kind {
		case "sale":
			// The time as sale_lines will hold it (microseconds), as a later batch reads it.
			sold := soldLines{store: d.c.store, at: d.c.at.Truncate(time.Microsecond), qty: make(map[string]int64, len(d.c.qty))}
			for sku, q := range d.c.qty {
				sold.qty[sku] = -q
			}
			inBatch[d.c.id] = sold
		case "void":
			sold, ok := stored[d.c.id]
			if !ok {
				sold, ok = inBatch[d.c.id]
			}
			switch {
			case !ok || sold.store != d.c.store:
				n[Unmatched]++
				continue
			case matched[d.c.id]:
				n[Duplicate]++
				continue
			}
			matched[d.c.id] = true
			d.c.qty = sold.qty
			d.c.at = inventory.VoidAt(sold.at, d.c.at)
			voids = append(voids, d)
		}
		out = append(out, d)
	}
	if len(voids) == 0 {
		return out, nil
	}
	added, err := f.markProcessed(ctx, tx, voids)
	if err != nil {
		return nil, err
	}
	ds, out = out, out[:0]
	for _, d := range ds {
		if d.c.kind == "void" && !added[[2]string{d.c.kind, d.c.id}] {
			n[Duplicate]++
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// firstOfEachID returns the events of ds whose (kind, business id) no earlier event of ds has,
// in order.
func firstOfEachID(ds []decoded) []decoded {
	seen := map[[2]string]bool{}
	var fresh []decoded
	for _, d := range ds {
		k := [2]string{d.c.kind, d.c.id}
		if seen[k] {
			continue
		}
		seen[k] = true
		fresh = append(fresh, d)
	}
	return fresh
}

// foldBatch is the fold itself, event by event, SKU by SKU, in memory: it moves or counts every
// item of states with the domain rules of package inventory and notes what changed. after holds,
// per (event, SKU index) of each count, the stored movements stamped after the count.
func foldBatch(ds []decoded, states map[itemKey]*itemState, after map[[2]int]int64) folded {
	out := folded{alertAt: map[[2]int]int{}}
	for i, d := range ds {
		for j, sku := range d.skus {
			st := states[itemKey{d.c.store, sku}]
			qty := d.c.qty[sku]
			var ch inventory.Change
			switch d.c.kind {
			case "count":
				moved := after[[2]int{i, j}]
				for _, m := range st.moves {
					if m.at.After(d.c.at) {
						moved += m.delta
					}
				}
				ch = inventory.Count(st.item, qty, d.c.at, moved)
			case "void":
				st.moves = append(st.moves, movement{d.c.at, qty})
				out.moveRows = append(out.moveRows, []any{d.c.store, sku, d.c.at, qty})
				ch = inventory.Void(st.item, qty, d.c.at)
			default:
				st.moves = append(st.moves, movement{d.c.at, qty})
				out.moveRows = append(out.moveRows, []any{d.c.store, sku, d.c.at, qty})
				if d.c.kind == "sale" {
					out.saleRows = append(out.saleRows, []any{d.c.id, d.c.store, sku, -qty, d.c.at})
				}
				ch = inventory.Move(st.item, qty, d.c.at)
			}
			st.item = ch.After
			if d.c.at.After(st.updatedAt) {
				st.updatedAt = d.c.at
			}
			if ch.Applied {
				st.level = i
			}
			if ch.BadgeChanged {
				st.badge, st.badgeHand = i, ch.After.OnHand
			}
			if ch.Alert != inventory.AlertNone {
				// The alert id, like the event ids, is derived from the input position, so a
				// replay raises the same alert.
				r := d.ev
				id := uuid.NewSHA1(idSpace, fmt.Appendf(nil, "%s/%d/%d/%s/%s", r.Topic, r.Partition, r.Offset, sku, ch.Alert))
				out.alertAt[[2]int{i, j}] = len(out.alerts)
				out.alerts = append(out.alerts, alertRow{id: id, kind: ch.Alert, key: itemKey{d.c.store, sku}, item: ch.After, at: d.c.at})
			}
		}
	}
	return out
}
