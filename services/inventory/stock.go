// Package inventory is the stock domain of the inventory service: how sales, deliveries and
// warehouse counts fold into the on-hand quantity of one SKU in one store, and when that fold
// raises a low-stock alert, a restocked alert or a new shelf badge.
//
// The package is pure: no database, broker or HTTP imports. The service in
// services/inventory/app stores an Item per store and SKU in Postgres and calls Move, Void or
// Count for every line of every event it consumes.
//
// # The fold
//
// A sale line is a movement of -qty, a delivery line a movement of +qty, each stamped with the
// time it happened (occurred_at, received_at); a voided sale's line is a movement of +qty at the
// void's time (see Voids). A warehouse count sets the absolute on-hand
// quantity as of counted_at. The on-hand quantity of an item is therefore
//
//	on_hand = latest count's qty + sum of the movements that happened after that count
//
// or, before any count, the catalog's initial stock plus every movement. Because the rule is
// defined by event time and not by arrival order, it does not matter whether a count is consumed
// before or after a sale from another topic that happened earlier: the result is the same, which
// is what makes a replay of the topics (the rebuild command) equal to the live view. A movement
// stamped at or before the latest count is already reflected in it and leaves on_hand alone; a
// count older than the latest one is stale and ignored. On-hand may go negative (the till sold
// what the books did not know about); the badge then says "out".
//
// # Voids
//
// A voided sale's units go back on hand: each of its lines is a movement of +qty stamped at the
// void's time (voided_at, or the sale's occurred_at if the void is stamped before it: units do
// not come back before they left, see VoidAt). The sale's own -qty stays a movement at the
// sale's time. So the count rule applies to the void as to a delivery: a count taken after the
// void's time already includes the returned units and leaves them alone, a count taken at or
// before it gets them on top, and sales, voids and counts give the same on-hand quantity in any
// consumption order. Voiding is once per sale and only of a sale that was folded: the caller
// keeps each folded sale's lines and the voids it applied, and a second void, or a void of a
// sale it never folded, changes nothing.
//
// # Alerts and hysteresis
//
// An item is low while on_hand < threshold. When an item that is not flagged low falls below
// its threshold, one alert.low_stock is raised and the item is flagged. The flag is cleared, with
// one alert.restocked, only once on_hand >= threshold + Margin(threshold), so stock that hovers
// around the threshold does not raise a stream of alerts. A never-seen item starts unflagged at
// its initial stock; if that stock is already below the threshold, the first event that touches
// it raises the alert.
package inventory

import (
	"time"

	"github.com/freshmart/platform/schemas"
)

// Status is the shelf state of an item, used both as the stock.badge badge and (spelled
// "ok"/"low"/"out") as the status in GET /v1/stock.
type Status string

// The three statuses of an item.
const (
	StatusOK  Status = "ok"
	StatusLow Status = "low"
	StatusOut Status = "out"
)

// Badge returns the stock.badge spelling of the status: "in_stock", "low" or "out".
func (s Status) Badge() string {
	if s == StatusOK {
		return "in_stock"
	}
	return string(s)
}

// StatusOf returns the status of an on-hand quantity against a threshold: out at or below
// zero, low below the threshold, ok otherwise.
func StatusOf(onHand, threshold int64) Status {
	switch {
	case onHand <= 0:
		return StatusOut
	case onHand < threshold:
		return StatusLow
	default:
		return StatusOK
	}
}

// Margin is the hysteresis margin above the threshold an item must reach before a low-stock
// alert re-arms: max(2, ceil(20% of threshold)).
func Margin(threshold int64) int64 {
	m := (threshold + 4) / 5
	if m < 2 {
		m = 2
	}
	return m
}

// Item is the state of one SKU in one store.
type Item struct {
	// OnHand is the current on-hand quantity.
	OnHand int64
	// Threshold is the SKU's low-stock threshold (from the catalog).
	Threshold int64
	// Low is the hysteresis flag: a low-stock alert has been raised and not yet cleared.
	Low bool
	// CountedAt is the time of the latest applied warehouse count; zero if none.
	CountedAt time.Time
}

// NewItem returns the state of an item never seen before: the catalog's initial stock, not
// flagged low, never counted.
func NewItem(initialStock, threshold int64) Item {
	return Item{OnHand: initialStock, Threshold: threshold}
}

// Status returns the item's shelf status.
func (it Item) Status() Status { return StatusOf(it.OnHand, it.Threshold) }

// Alert names an alert raised by a change, or AlertNone.
type Alert string

// The alerts a change may raise.
const (
	AlertNone      Alert = ""
	AlertLowStock  Alert = schemas.TypeAlertLowStock
	AlertRestocked Alert = schemas.TypeAlertRestocked
)

// Change is what applying one event did to an item.
type Change struct {
	// Before and After are the item's state around the event.
	Before, After Item
	// Applied reports whether the event changed the item at all (a movement older than the
	// latest count, or a stale count, does not).
	Applied bool
	// LevelChanged reports whether on_hand changed (a stock.level is due).
	LevelChanged bool
	// Alert is the alert raised, if any.
	Alert Alert
	// BadgeChanged reports whether the shelf status changed (a stock.badge is due).
	BadgeChanged bool
}

// Move applies a movement of delta units that happened at time at (negative for a sale,
// positive for a delivery).
func Move(it Item, delta int64, at time.Time) Change {
	next := it
	applied := it.CountedAt.IsZero() || at.After(it.CountedAt)
	if applied {
		next.OnHand += delta
	}
	return settle(it, next, applied)
}

// VoidAt is the time from which the units of a voided sale that completed at occurredAt are back
// on hand: the void's time voidedAt, or occurredAt if the void is stamped before the sale.
func VoidAt(occurredAt, voidedAt time.Time) time.Time {
	if voidedAt.Before(occurredAt) {
		return occurredAt
	}
	return voidedAt
}

// Void puts qty units of a voided sale's line back on hand at time at (from VoidAt): a movement
// of +qty, applied like a delivery's (a count after at already includes it). The caller applies
// it once per voided sale and line, and only for a sale it folded.
func Void(it Item, qty int64, at time.Time) Change {
	return Move(it, qty, at)
}

// Count applies a warehouse count of qty units taken at time at. movedAfter is the sum of the
// movements of this item stamped after at that have already been consumed (the caller keeps
// them); they happened after the count and so are added on top of it.
func Count(it Item, qty int64, at time.Time, movedAfter int64) Change {
	if !it.CountedAt.IsZero() && !at.After(it.CountedAt) {
		return settle(it, it, false)
	}
	next := it
	next.OnHand = qty + movedAfter
	next.CountedAt = at
	return settle(it, next, true)
}

// settle runs the hysteresis state machine on the new quantity and fills in the change.
func settle(before, after Item, applied bool) Change {
	c := Change{Before: before, Applied: applied}
	switch {
	case !after.Low && after.OnHand < after.Threshold:
		after.Low = true
		c.Alert = AlertLowStock
	case after.Low && after.OnHand >= after.Threshold+Margin(after.Threshold):
		after.Low = false
		c.Alert = AlertRestocked
	}
	c.After = after
	c.LevelChanged = after.OnHand != before.OnHand
	c.BadgeChanged = after.Status() != before.Status()
	return c
}
