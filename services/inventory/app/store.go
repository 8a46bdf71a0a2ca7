package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/inventory"
)

// Source is the ce_source of the events the inventory service emits.
const Source = "freshmart/inventory"

// idSpace namespaces the ids derived from input positions (uuid v5).
var idSpace = uuid.MustParse("6f0b3d52-4c1a-4e57-9a55-2d1f5b0e7c31")

// Product is what the service needs to know about a SKU.
type Product struct {
	SKU, Name, Department   string
	Threshold, InitialStock int64
}

// Reference is the catalog as the service sees it.
type Reference interface {
	// Product returns the SKU's reference data.
	Product(sku string) (Product, bool)
	// Products lists every SKU in catalog order.
	Products() []Product
	// HasStore reports whether the store exists.
	HasStore(id string) bool
	// HasDepartment reports whether the department id exists.
	HasDepartment(id string) bool
}

// Emitter appends an event caused by one of the events being applied to the outbox, in the
// same transaction: *stream.Tx in the live service, a validating sink in the rebuild. The
// event's id is derived from in's position and slot (see stream.Tx.EmitFor).
type Emitter interface {
	EmitFor(ctx context.Context, in events.Event, slot int, o events.Out) (string, error)
}

// Outcome says what Apply did with a record.
type Outcome int

// Outcomes of Apply.
const (
	Applied   Outcome = iota // the event changed stock
	Duplicate                // the event's id was seen before
	Ignored                  // a type the service does not fold (its own stock.level, ...)
	Rejected                 // undecodable or referencing unknown stores/SKUs; logged and counted
)

// Folder applies consumed events to the tables of one schema ("inventory" live, another for a
// rebuild).
type Folder struct {
	ref       Reference
	schema    string
	q         map[string]string
	movements pgx.Identifier
}

// NewFolder returns a Folder writing to the tables of schema.
func NewFolder(ref Reference, schema string) *Folder {
	f := &Folder{ref: ref, schema: schema, q: map[string]string{}, movements: pgx.Identifier{schema, "movements"}}
	s := pgx.Identifier{schema}.Sanitize()
	// Every statement handles the whole batch: arrays in, one round trip each.
	f.q["dedupe"] = `INSERT INTO ` + s + `.processed (kind, id)
		SELECT * FROM unnest($1::text[], $2::text[]) AS u(kind, id) ORDER BY kind, id
		ON CONFLICT DO NOTHING RETURNING kind, id`
	f.q["load"] = `SELECT store_id, sku, on_hand, threshold, low, counted_at FROM ` + s + `.stock
		WHERE (store_id, sku) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY store_id, sku FOR UPDATE`
	f.q["save"] = `INSERT INTO ` + s + `.stock (store_id, sku, on_hand, threshold, low, counted_at, updated_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[], $6::timestamptz[], $7::timestamptz[])
		ON CONFLICT (store_id, sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, threshold = EXCLUDED.threshold,
		low = EXCLUDED.low, counted_at = EXCLUDED.counted_at,
		updated_at = GREATEST(` + s + `.stock.updated_at, EXCLUDED.updated_at)`
	f.q["after"] = `SELECT u.i, (SELECT coalesce(sum(m.delta), 0) FROM ` + s + `.movements m
		WHERE m.store_id = u.store_id AND m.sku = u.sku AND m.at > u.at)
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS u(store_id, sku, at, i)`
	f.q["alert"] = `INSERT INTO ` + s + `.alerts (alert_id, type, store_id, sku, on_hand, threshold, at)
		SELECT alert_id, type, store_id, sku, on_hand, threshold, at
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[])
		WITH ORDINALITY AS u(alert_id, type, store_id, sku, on_hand, threshold, at, i) ORDER BY i
		ON CONFLICT DO NOTHING`
	return f
}

// ErrBadEvent is wrapped by Apply's error for a record it rejects; the caller skips it.
var ErrBadEvent = errors.New("bad event")

// change is an event the fold applies, decoded and checked.
type change struct {
	kind, id, store string
	at              time.Time
	qty             map[string]int64 // per SKU: signed movement, or counted quantity
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

// Counts tallies the events of a batch by what the fold did with them.
type Counts map[Outcome]int

// Apply folds one event into the stock tables inside tx and hands the events it causes to em:
// ApplyBatch for a batch of one. It rejects a bad event (ErrBadEvent) before writing anything,
// so the caller may skip it and carry on with the same transaction.
func (f *Folder) Apply(ctx context.Context, tx pgx.Tx, em Emitter, r events.Event) (Outcome, error) {
	c, ok, err := f.decode(r)
	switch {
	case !ok:
		return Ignored, nil
	case err != nil:
		return Rejected, err
	}
	n, err := f.fold(ctx, tx, em, []decoded{{ev: r, c: c}})
	if err != nil {
		return 0, err
	}
	if n[Duplicate] > 0 {
		return Duplicate, nil
	}
	return Applied, nil
}

// ApplyBatch folds the events of a batch, in order, into the stock tables inside tx, with one
// round trip per kind of statement whatever the batch size, and hands the events they cause to
// em. The result is the same as applying the events one by one: every event moves the stock in
// turn and every hysteresis crossing raises its alert, with the id and time of the event that
// crossed. What is coalesced is the level and badge traffic: one stock.level per store/SKU per
// batch (caused by the last event that changed it) and one stock.badge per store/SKU whose
// badge differs at the end of the batch from the start. Bad events (ErrBadEvent) are passed to
// bad, counted as Rejected and skipped; any other error means nothing may be committed.
func (f *Folder) ApplyBatch(ctx context.Context, tx pgx.Tx, em Emitter, evs []events.Event, bad func(error)) (Counts, error) {
	n := Counts{}
	ds := make([]decoded, 0, len(evs))
	for _, r := range evs {
		c, ok, err := f.decode(r)
		switch {
		case !ok:
			n[Ignored]++
		case err != nil:
			n[Rejected]++
			if bad != nil {
				bad(err)
			}
		default:
			ds = append(ds, decoded{ev: r, c: c})
		}
	}
	m, err := f.fold(ctx, tx, em, ds)
	if err != nil {
		return nil, err
	}
	for o, k := range m {
		n[o] += k
	}
	return n, nil
}

// decoded is an event of a batch, checked and ready to fold.
type decoded struct {
	ev   events.Event
	c    change
	skus []string // the SKUs of c.qty, sorted
}

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

// fold applies checked events, see ApplyBatch.
func (f *Folder) fold(ctx context.Context, tx pgx.Tx, em Emitter, all []decoded) (Counts, error) {
	n := Counts{}
	if len(all) == 0 {
		return n, nil
	}
	// Drop events whose business id was seen before: earlier in this batch, or in an
	// earlier transaction (the insert returns only the ids it added).
	seen := map[[2]string]bool{}
	var kinds, ids []string
	var fresh []decoded
	for _, d := range all {
		k := [2]string{d.c.kind, d.c.id}
		if seen[k] {
			n[Duplicate]++
			continue
		}
		seen[k] = true
		kinds, ids = append(kinds, k[0]), append(ids, k[1])
		fresh = append(fresh, d)
	}
	rows, err := tx.Query(ctx, f.q["dedupe"], kinds, ids)
	if err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	added := map[[2]string]bool{}
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return nil, fmt.Errorf("dedupe: %w", err)
		}
		added[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	ds := fresh[:0]
	for _, d := range fresh {
		if !added[[2]string{d.c.kind, d.c.id}] {
			n[Duplicate]++
			continue
		}
		d.skus = make([]string, 0, len(d.c.qty))
		for sku := range d.c.qty {
			d.skus = append(d.skus, sku)
		}
		slices.Sort(d.skus)
		ds = append(ds, d)
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

	// The fold itself, event by event, SKU by SKU, in memory.
	var moveRows [][]any
	var alerts []alertRow
	alertAt := map[[2]int]int{} // (event, SKU index) -> index in alerts
	for i, d := range ds {
		for j, sku := range d.skus {
			st := states[itemKey{d.c.store, sku}]
			qty := d.c.qty[sku]
			var ch inventory.Change
			if d.c.kind == "count" {
				moved := after[[2]int{i, j}]
				for _, m := range st.moves {
					if m.at.After(d.c.at) {
						moved += m.delta
					}
				}
				ch = inventory.Count(st.item, qty, d.c.at, moved)
			} else {
				st.moves = append(st.moves, movement{d.c.at, qty})
				moveRows = append(moveRows, []any{d.c.store, sku, d.c.at, qty})
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
				alertAt[[2]int{i, j}] = len(alerts)
				alerts = append(alerts, alertRow{id: id, kind: ch.Alert, key: itemKey{d.c.store, sku}, item: ch.After, at: d.c.at})
			}
		}
	}

	if err := f.write(ctx, tx, states, moveRows, alerts); err != nil {
		return nil, err
	}

	// The caused events, in event order; each one's id is derived from its cause's position
	// and the SKU's place in it, so a replay emits the same ids whatever the batch sizes.
	for i, d := range ds {
		for j, sku := range d.skus {
			st := states[itemKey{d.c.store, sku}]
			if k, ok := alertAt[[2]int{i, j}]; ok {
				a := alerts[k]
				p := schemas.StockAlert{AlertID: a.id.String(), StoreID: d.c.store, SKU: sku, OnHand: a.item.OnHand,
					Threshold: a.item.Threshold, At: d.c.at}
				if _, err := em.EmitFor(ctx, d.ev, 3*j+1, events.Out{Topic: schemas.TopicStoreAlerts, Key: d.c.store, Type: string(a.kind), Payload: p}); err != nil {
					return nil, fmt.Errorf("%s %s: %w", d.c.kind, d.c.id, err)
				}
			}
			if st.level == i {
				p := schemas.StockLevel{StoreID: d.c.store, SKU: sku, OnHand: st.item.OnHand, Threshold: st.item.Threshold,
					Cause: schemas.Cause{Type: d.c.kind, ID: d.c.id}, At: d.c.at}
				if _, err := em.EmitFor(ctx, d.ev, 3*j, events.Out{Topic: schemas.TopicInventoryUpdates, Key: d.c.store, Type: schemas.TypeStockLevel, Payload: p}); err != nil {
					return nil, fmt.Errorf("%s %s: %w", d.c.kind, d.c.id, err)
				}
			}
			if st.badge == i && st.item.Status() != st.start {
				p := schemas.StockBadge{StoreID: d.c.store, SKU: sku, Badge: st.item.Status().Badge(), OnHand: st.badgeHand, At: d.c.at}
				if _, err := em.EmitFor(ctx, d.ev, 3*j+2, events.Out{Topic: schemas.TopicDisplayUpdates, Key: d.c.store, Type: schemas.TypeStockBadge, Payload: p}); err != nil {
					return nil, fmt.Errorf("%s %s: %w", d.c.kind, d.c.id, err)
				}
			}
		}
	}
	return n, nil
}

// load reads (and locks, in key order) the items the batch touches; items never seen start
// at the catalog's initial stock.
func (f *Folder) load(ctx context.Context, tx pgx.Tx, ds []decoded) (map[itemKey]*itemState, error) {
	states := map[itemKey]*itemState{}
	var stores, skus []string
	for _, d := range ds {
		for _, sku := range d.skus {
			k := itemKey{d.c.store, sku}
			if states[k] != nil {
				continue
			}
			p, _ := f.ref.Product(sku)
			it := inventory.NewItem(p.InitialStock, p.Threshold)
			states[k] = &itemState{item: it, start: it.Status(), level: -1, badge: -1}
			stores, skus = append(stores, k.store), append(skus, k.sku)
		}
	}
	rows, err := tx.Query(ctx, f.q["load"], stores, skus)
	if err != nil {
		return nil, fmt.Errorf("load stock: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k itemKey
		var it inventory.Item
		var countedAt *time.Time
		if err := rows.Scan(&k.store, &k.sku, &it.OnHand, &it.Threshold, &it.Low, &countedAt); err != nil {
			return nil, fmt.Errorf("load stock: %w", err)
		}
		if countedAt != nil {
			it.CountedAt = countedAt.UTC()
		}
		if st := states[k]; st != nil {
			st.item, st.start = it, it.Status()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load stock: %w", err)
	}
	return states, nil
}

// movedAfterCounts sums, for every line of every count in the batch, the stored movements of
// its item stamped after the count, keyed by (event index, SKU index). Movements of this batch
// are not stored yet; the fold adds them.
func (f *Folder) movedAfterCounts(ctx context.Context, tx pgx.Tx, ds []decoded) (map[[2]int]int64, error) {
	var stores, skus []string
	var ats []time.Time
	var where [][2]int
	for i, d := range ds {
		if d.c.kind != "count" {
			continue
		}
		for j, sku := range d.skus {
			stores, skus, ats = append(stores, d.c.store), append(skus, sku), append(ats, d.c.at)
			where = append(where, [2]int{i, j})
		}
	}
	out := map[[2]int]int64{}
	if len(where) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, f.q["after"], stores, skus, ats)
	if err != nil {
		return nil, fmt.Errorf("movements after counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var sum int64
		if err := rows.Scan(&i, &sum); err != nil {
			return nil, fmt.Errorf("movements after counts: %w", err)
		}
		if i < 1 || int(i) > len(where) {
			return nil, fmt.Errorf("movements after counts: row %d of %d", i, len(where))
		}
		out[where[i-1]] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("movements after counts: %w", err)
	}
	return out, nil
}

// write stores the batch's movements (COPY), the new state of every item it touched and the
// alerts it raised (one statement each).
func (f *Folder) write(ctx context.Context, tx pgx.Tx, states map[itemKey]*itemState, moveRows [][]any, alerts []alertRow) error {
	if len(moveRows) > 0 {
		if _, err := tx.CopyFrom(ctx, f.movements, []string{"store_id", "sku", "at", "delta"}, pgx.CopyFromRows(moveRows)); err != nil {
			return fmt.Errorf("write movements: %w", err)
		}
	}
	keys := make([]itemKey, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b itemKey) int {
		if a.store != b.store {
			return strings.Compare(a.store, b.store)
		}
		return strings.Compare(a.sku, b.sku)
	})
	var (
		stores, skus       = make([]string, len(keys)), make([]string, len(keys))
		onHand, thresholds = make([]int64, len(keys)), make([]int64, len(keys))
		low                = make([]bool, len(keys))
		countedAt          = make([]*time.Time, len(keys))
		updatedAt          = make([]time.Time, len(keys))
	)
	for i, k := range keys {
		st := states[k]
		stores[i], skus[i], onHand[i], thresholds[i], low[i], updatedAt[i] = k.store, k.sku, st.item.OnHand, st.item.Threshold, st.item.Low, st.updatedAt
		if !st.item.CountedAt.IsZero() {
			t := st.item.CountedAt
			countedAt[i] = &t
		}
	}
	b := &pgx.Batch{}
	b.Queue(f.q["save"], stores, skus, onHand, thresholds, low, countedAt, updatedAt)
	if len(alerts) > 0 {
		var (
			aIDs                  = make([]uuid.UUID, len(alerts))
			aTypes, aStores, aSKU = make([]string, len(alerts)), make([]string, len(alerts)), make([]string, len(alerts))
			aHand, aThr           = make([]int64, len(alerts)), make([]int64, len(alerts))
			aAt                   = make([]time.Time, len(alerts))
		)
		for k, a := range alerts {
			aIDs[k], aTypes[k], aStores[k], aSKU[k] = a.id, string(a.kind), a.key.store, a.key.sku
			aHand[k], aThr[k], aAt[k] = a.item.OnHand, a.item.Threshold, a.at
		}
		b.Queue(f.q["alert"], aIDs, aTypes, aStores, aSKU, aHand, aThr, aAt)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write stock and alerts: %w", err)
	}
	return nil
}

// Offsets returns the stored next offsets of a group.
func Offsets(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, schema, group string) (map[string]map[int32]int64, error) {
	rows, err := q.Query(ctx, `SELECT topic, partition, next_offset FROM `+pgx.Identifier{schema}.Sanitize()+
		`.consumer_offsets WHERE group_id = $1`, group)
	if err != nil {
		return nil, fmt.Errorf("read offsets: %w", err)
	}
	defer rows.Close()
	out := map[string]map[int32]int64{}
	for rows.Next() {
		var t string
		var p int32
		var o int64
		if err := rows.Scan(&t, &p, &o); err != nil {
			return nil, fmt.Errorf("read offsets: %w", err)
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = o
	}
	return out, rows.Err()
}
