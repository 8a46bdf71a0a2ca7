// Package pricing holds the rules of FreshMart's price book and promotions, with no database,
// broker or HTTP in them: which price is in force for a store and SKU at an instant (a store's
// own override, else the chain-wide base price, and a running promotion on top), what a
// promotion's price is, how the times of a request are read (a local wall time in each
// store's zone, or an absolute RFC 3339 instant), and what a price or a promotion may be.
//
// The price in force. A SKU has a chain-wide base price (seeded from the catalog) and may have
// an override per store; once a store has an override, later chain-wide changes do not touch
// that store. Over this regular price, at most one promotion runs per store and SKU at a time
// (promotions on the same store and SKU must not overlap): the price charged is then the
// promotion's price, a fixed promo_price_cents or percent_off of the regular price (rounded
// to the nearest cent, halves up). Resolve answers this for any instant from the history of
// changes and the promotion windows, which is how a sale is checked against the price that
// was in force when it happened.
//
// Scheduled times are kept to the minute: a future change or a promotion start or end is
// rounded up to the next whole minute (CeilMinute), the granularity of the service's
// once-a-minute scheduler slot, so every change takes effect exactly at its stated time.
package pricing

import (
	"fmt"

	"strings"
	"time"
)

// MaxPriceCents is the highest price accepted: $100,000. Anything above is a typing error.
const MaxPriceCents = 10_000_000

// MaxReason is the longest reason accepted (the price.changed schema's bound).
const MaxReason = 200

// MaxTitle is the longest promotion title accepted (the promo.started schema's bound).
const MaxTitle = 120

// MaxPromoSKUs bounds the SKUs of one promotion.
const MaxPromoSKUs = 5000

// Change is one price change of the history: chain-wide (StoreID empty) or a store's override.
type Change struct {
	// StoreID is the store of an override, empty for the chain-wide base price.
	StoreID string
	// PriceCents is the new price.
	PriceCents int64
	// EffectiveAt is when it applies.
	EffectiveAt time.Time
	// Seq orders changes with the same EffectiveAt: the later request wins.
	Seq int64
}

// Promo is a promotion's window in one store and its price rule.
type Promo struct {
	// ID is the promotion's id.
	ID string
	// Title is what the sign shows.
	Title string
	// PromoPriceCents is the fixed promotional price; 0 when PercentOff is used.
	PromoPriceCents int64
	// PercentOff is the discount in percent of the regular price (1 to 99); 0 when a fixed
	// price is used.
	PercentOff int
	// StartsAt and EndsAt bound the window [StartsAt, EndsAt). A promotion ended early has its
	// EndsAt moved to the moment it was ended; one cancelled before it started has an empty
	// window.
	StartsAt, EndsAt time.Time
}

// Covers reports whether the promotion runs at t.
func (p Promo) Covers(t time.Time) bool { return !t.Before(p.StartsAt) && t.Before(p.EndsAt) }

// Price returns the promotional price for the regular price regular.
func (p Promo) Price(regular int64) int64 {
	if p.PercentOff > 0 {
		return PercentOff(regular, p.PercentOff)
	}
	return p.PromoPriceCents
}

// PercentOff returns regular less pct percent, to the nearest cent (halves rounded up).
func PercentOff(regular int64, pct int) int64 {
	return (regular*int64(100-pct) + 50) / 100
}

// Quote is the price in force for a store and SKU.
type Quote struct {
	// PriceCents is what the register charges: the promotion's price while one runs, else the
	// regular price.
	PriceCents int64
	// RegularPriceCents is the regular price (the store's override, else the base price).
	RegularPriceCents int64
	// Override is set when the regular price is the store's own.
	Override bool
	// Promo is the running promotion, nil when none.
	Promo *Promo
	// Known is false when no price at all applied at that instant.
	Known bool
}

// Resolve returns the price in force at t for one store and SKU, given every change of the
// SKU's history that applies to the store (chain-wide ones and the store's own, any order) and
// the store's promotions on the SKU.
func Resolve(changes []Change, promos []Promo, t time.Time) Quote {
	var base, own *Change
	for i := range changes {
		c := &changes[i]
		if c.EffectiveAt.After(t) {
			continue
		}
		slot := &base
		if c.StoreID != "" {
			slot = &own
		}
		if *slot == nil || later(*c, **slot) {
			*slot = c
		}
	}
	var q Quote
	switch {
	case own != nil:
		q = Quote{RegularPriceCents: own.PriceCents, Override: true, Known: true}
	case base != nil:
		q = Quote{RegularPriceCents: base.PriceCents, Known: true}
	}
	q.PriceCents = q.RegularPriceCents
	for i := range promos {
		if promos[i].Covers(t) {
			p := promos[i]
			q.Promo = &p
			if q.Known {
				q.PriceCents = p.Price(q.RegularPriceCents)
			}
			break
		}
	}
	return q
}

func later(a, b Change) bool {
	if !a.EffectiveAt.Equal(b.EffectiveAt) {
		return a.EffectiveAt.After(b.EffectiveAt)
	}
	return a.Seq > b.Seq
}

// CeilMinute rounds t up to the next whole minute (t itself when it is one).
func CeilMinute(t time.Time) time.Time {
	m := t.Truncate(time.Minute)
	if m.Equal(t) {
		return t
	}
	return m.Add(time.Minute)
}

// wallLayouts are the local wall-time forms a request may give.
var wallLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"}

// When is a time as a request gives it: an absolute instant, or a wall-clock reading to be read
// in each store's zone.
type When struct {
	// Instant is set for an RFC 3339 time with an offset.
	Instant time.Time
	// Wall is the local reading (coded in UTC) when the time had no offset.
	Wall time.Time
	// Local is set when the time is a wall-clock reading.
	Local bool
}

// ParseWhen reads s: RFC 3339 with an offset ("2026-12-05T08:00:00-05:00", "...Z") is an
// instant; a date and time without one ("2026-12-05T08:00") is a wall-clock reading.
func ParseWhen(s string) (When, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return When{Instant: t}, nil
	}
	for _, l := range wallLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return When{Wall: t, Local: true}, nil
		}
	}
	return When{}, fmt.Errorf("%q is neither RFC 3339 with an offset (2026-12-05T08:00:00-05:00) nor a local time (2026-12-05T08:00)", s)
}

// In returns the instant w names in loc: the instant itself, or the wall reading in loc (a
// reading the clocks skip is taken in the offset before the change, as time.Date does).
func (w When) In(loc *time.Location) time.Time {
	if !w.Local {
		return w.Instant
	}
	t := w.Wall
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

// Problem is one invalid field of a request.
type Problem struct {
	// Field names it, e.g. "skus[3]" or "price_cents".
	Field string
	// Message says what is wrong.
	Message string
}

// Problems collects the invalid fields of a request.
type Problems []Problem

// Add appends a problem.
func (ps *Problems) Add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// CheckPrice adds a problem on field when cents is not a price the book takes (0 to
// MaxPriceCents; min is the lowest allowed).
func CheckPrice(ps *Problems, field string, cents, min int64) {
	switch {
	case cents < min:
		ps.Add(field, "must be at least %d cents", min)
	case cents > MaxPriceCents:
		ps.Add(field, "must be at most %d cents ($%d); is it a typing error?", int64(MaxPriceCents), int64(MaxPriceCents/100))
	}
}

// CheckPercent adds a problem on field when pct is not a discount from 1 to 99 percent.
func CheckPercent(ps *Problems, field string, pct int) {
	if pct < 1 || pct > 99 {
		ps.Add(field, "must be from 1 to 99 percent")
	}
}

// Window is a promotion's planned window in one store.
type Window struct {
	StoreID          string
	StartsAt, EndsAt time.Time
}

// Windows returns the window of a promotion in each store, in the order of stores, reading
// local starts and ends in each store's zone (locs) and rounding up to the minute; it adds a
// problem on starts_at or ends_at when a store's window is empty or already over at now.
func Windows(ps *Problems, starts, ends When, stores []string, locs map[string]*time.Location, now time.Time) []Window {
	out := make([]Window, 0, len(stores))
	var bad bool
	for _, s := range stores {
		loc := locs[s]
		if loc == nil {
			loc = time.UTC
		}
		w := Window{StoreID: s, StartsAt: CeilMinute(starts.In(loc)).UTC(), EndsAt: CeilMinute(ends.In(loc)).UTC()}
		if bad {
			continue
		}
		switch {
		case !w.EndsAt.After(w.StartsAt):
			ps.Add("ends_at", "must be after starts_at (in store %s: starts %s, ends %s)", s,
				w.StartsAt.In(loc).Format(time.RFC3339), w.EndsAt.In(loc).Format(time.RFC3339))
			bad = true
		case !w.EndsAt.After(now):
			ps.Add("ends_at", "is already past in store %s (%s)", s, w.EndsAt.In(loc).Format(time.RFC3339))
			bad = true
		}
		out = append(out, w)
	}
	return out
}

// Overlaps reports whether [aStart, aEnd) and [bStart, bEnd) share an instant.
func Overlaps(aStart, aEnd, bStart, bEnd time.Time) bool {
	return aStart.Before(bEnd) && bStart.Before(aEnd)
}

// Dedupe returns xs without repeats, in first-seen order, and the indexes of the repeats.
func Dedupe(xs []string) (out []string, repeats []int) {
	seen := make(map[string]bool, len(xs))
	for i, x := range xs {
		if seen[x] {
			repeats = append(repeats, i)
			continue
		}
		seen[x] = true
		out = append(out, x)
	}
	return out, repeats
}

// Accuracy is the share of sale lines charged at the price in force: 1 when none was checked.
func Accuracy(checked, mismatched int64) float64 {
	if checked <= 0 {
		return 1
	}
	return float64(checked-mismatched) / float64(checked)
}
