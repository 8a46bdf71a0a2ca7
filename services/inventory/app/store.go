package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/internal/events"
	"github.com/freshmart/platform/services/inventory"
)

// Topics the inventory service reads and writes.
const (
	TopicSales      = "pos-sales"
	TopicDeliveries = "vendor-deliveries"
	TopicUpdates    = "inventory-updates"
	TopicAlerts     = "store-alerts"
	TopicDisplay    = "display-updates"
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

// Emitter appends an event caused by the one being applied to the outbox, in the same
// transaction: *stream.Tx in the live service, a validating sink in the rebuild.
type Emitter interface {
	Emit(ctx context.Context, topic, key, eventType, source string, payload any) (string, error)
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
	ref    Reference
	schema string
	q      map[string]string
}

// NewFolder returns a Folder writing to the tables of schema.
func NewFolder(ref Reference, schema string) *Folder {
	f := &Folder{ref: ref, schema: schema, q: map[string]string{}}
	s := pgx.Identifier{schema}.Sanitize()
	f.q["dedupe"] = `INSERT INTO ` + s + `.processed (kind, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	f.q["load"] = `SELECT sku, on_hand, threshold, low, counted_at FROM ` + s + `.stock
		WHERE store_id = $1 AND sku = ANY($2) ORDER BY sku FOR UPDATE`
	f.q["save"] = `INSERT INTO ` + s + `.stock (store_id, sku, on_hand, threshold, low, counted_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (store_id, sku) DO UPDATE SET on_hand = $3, threshold = $4, low = $5, counted_at = $6,
		updated_at = GREATEST(` + s + `.stock.updated_at, $7)`
	f.q["move"] = `INSERT INTO ` + s + `.movements (store_id, sku, at, delta) VALUES ($1, $2, $3, $4)`
	f.q["after"] = `SELECT sku, sum(delta) FROM ` + s + `.movements WHERE store_id = $1 AND sku = ANY($2) AND at > $3 GROUP BY sku`
	f.q["alert"] = `INSERT INTO ` + s + `.alerts (alert_id, type, store_id, sku, on_hand, threshold, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`
	return f
}

// event is the union of the fields of the events the fold reads.
type event struct {
	SaleID     string    `json:"sale_id"`
	DeliveryID string    `json:"delivery_id"`
	CountID    string    `json:"count_id"`
	StoreID    string    `json:"store_id"`
	OccurredAt time.Time `json:"occurred_at"`
	ReceivedAt time.Time `json:"received_at"`
	CountedAt  time.Time `json:"counted_at"`
	Lines      []struct {
		SKU string `json:"sku"`
		Qty int64  `json:"qty"`
	} `json:"lines"`
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
	case r.Type == "sale.completed" && r.Topic == TopicSales:
		c.kind = "sale"
	case r.Type == "delivery.received" && r.Topic == TopicDeliveries:
		c.kind, sign = "delivery", 1
	case r.Type == "stock.counted" && r.Topic == TopicUpdates:
		c.kind = "count"
	default:
		return c, false, nil
	}
	var ev event
	if err := json.Unmarshal(r.Data, &ev); err != nil {
		return c, true, fmt.Errorf("%w: %s at %s/%d/%d: %v", ErrBadEvent, r.Type, r.Topic, r.Partition, r.Offset, err)
	}
	switch c.kind {
	case "sale":
		c.id, c.at = ev.SaleID, ev.OccurredAt
	case "delivery":
		c.id, c.at = ev.DeliveryID, ev.ReceivedAt
	default:
		c.id, c.at = ev.CountID, ev.CountedAt
	}
	c.store, c.at = ev.StoreID, c.at.UTC()
	if c.id == "" || len(c.id) > 128 || c.at.IsZero() || !f.ref.HasStore(ev.StoreID) {
		return c, true, fmt.Errorf("%w: %s at %s/%d/%d: missing or overlong id, missing time, or unknown store %q",
			ErrBadEvent, r.Type, r.Topic, r.Partition, r.Offset, ev.StoreID)
	}
	// Sum (or, for a count, take the last of) the lines per SKU.
	c.qty = map[string]int64{}
	for _, l := range ev.Lines {
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

// Apply folds one event into the stock tables inside tx and hands the events it causes to em.
// It rejects a bad event (ErrBadEvent) before writing anything, so the caller may skip it
// and carry on with the same transaction.
func (f *Folder) Apply(ctx context.Context, tx pgx.Tx, em Emitter, r events.Event) (Outcome, error) {
	c, ok, err := f.decode(r)
	switch {
	case !ok:
		return Ignored, nil
	case err != nil:
		return Rejected, err
	}
	kind, id, qty := c.kind, c.id, c.qty
	tag, err := tx.Exec(ctx, f.q["dedupe"], kind, id)
	if err != nil {
		return 0, fmt.Errorf("dedupe %s %s: %w", kind, id, err)
	}
	if tag.RowsAffected() == 0 {
		return Duplicate, nil
	}
	skus := make([]string, 0, len(qty))
	for sku := range qty {
		skus = append(skus, sku)
	}
	slices.Sort(skus)
	if err := f.applyLines(ctx, tx, em, r, c, skus); err != nil {
		return 0, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return Applied, nil
}

// applyLines folds the lines of one event: one query loads (and locks) the items, one for a
// count sums the movements after it, one batch writes movements, items and alerts, and then
// the caused events are emitted, SKU by SKU in order (so a replay emits them identically).
func (f *Folder) applyLines(ctx context.Context, tx pgx.Tx, em Emitter, r events.Event, c change, skus []string) error {
	if len(skus) == 0 {
		return nil
	}
	items := make(map[string]inventory.Item, len(skus))
	for _, sku := range skus {
		p, _ := f.ref.Product(sku)
		items[sku] = inventory.NewItem(p.InitialStock, p.Threshold)
	}
	rows, err := tx.Query(ctx, f.q["load"], c.store, skus)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	for rows.Next() {
		var sku string
		var it inventory.Item
		var countedAt *time.Time
		if err := rows.Scan(&sku, &it.OnHand, &it.Threshold, &it.Low, &countedAt); err != nil {
			rows.Close()
			return fmt.Errorf("load: %w", err)
		}
		if countedAt != nil {
			it.CountedAt = countedAt.UTC()
		}
		items[sku] = it
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	after := map[string]int64{}
	if c.kind == "count" {
		rows, err := tx.Query(ctx, f.q["after"], c.store, skus, c.at)
		if err != nil {
			return fmt.Errorf("movements after count: %w", err)
		}
		for rows.Next() {
			var sku string
			var sum int64
			if err := rows.Scan(&sku, &sum); err != nil {
				rows.Close()
				return fmt.Errorf("movements after count: %w", err)
			}
			after[sku] = sum
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("movements after count: %w", err)
		}
	}

	changes := make([]inventory.Change, len(skus))
	alertIDs := make([]uuid.UUID, len(skus))
	b := &pgx.Batch{}
	for i, sku := range skus {
		n := c.qty[sku]
		if c.kind == "count" {
			changes[i] = inventory.Count(items[sku], n, c.at, after[sku])
		} else {
			b.Queue(f.q["move"], c.store, sku, c.at, n)
			changes[i] = inventory.Move(items[sku], n, c.at)
		}
		ch := changes[i]
		var cAt *time.Time
		if !ch.After.CountedAt.IsZero() {
			t := ch.After.CountedAt
			cAt = &t
		}
		b.Queue(f.q["save"], c.store, sku, ch.After.OnHand, ch.After.Threshold, ch.After.Low, cAt, c.at)
		if ch.Alert != inventory.AlertNone {
			// The alert id, like the event ids, is derived from the input position, so a
			// replay raises the same alert.
			alertIDs[i] = uuid.NewSHA1(idSpace, fmt.Appendf(nil, "%s/%d/%d/%s/%s", r.Topic, r.Partition, r.Offset, sku, ch.Alert))
			b.Queue(f.q["alert"], alertIDs[i], string(ch.Alert), c.store, sku, ch.After.OnHand, ch.After.Threshold, c.at)
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write stock: %w", err)
	}

	for i, sku := range skus {
		ch := changes[i]
		if ch.Applied {
			lvl := map[string]any{"store_id": c.store, "sku": sku, "on_hand": ch.After.OnHand, "threshold": ch.After.Threshold,
				"cause": map[string]string{"type": c.kind, "id": c.id}, "at": c.at}
			if _, err := em.Emit(ctx, TopicUpdates, c.store, "stock.level", Source, lvl); err != nil {
				return err
			}
		}
		if ch.Alert != inventory.AlertNone {
			a := map[string]any{"alert_id": alertIDs[i].String(), "store_id": c.store, "sku": sku, "on_hand": ch.After.OnHand,
				"threshold": ch.After.Threshold, "at": c.at}
			if _, err := em.Emit(ctx, TopicAlerts, c.store, string(ch.Alert), Source, a); err != nil {
				return err
			}
		}
		if ch.BadgeChanged {
			bd := map[string]any{"store_id": c.store, "sku": sku, "badge": ch.After.Status().Badge(), "on_hand": ch.After.OnHand, "at": c.at}
			if _, err := em.Emit(ctx, TopicDisplay, c.store, "stock.badge", Source, bd); err != nil {
				return err
			}
		}
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
