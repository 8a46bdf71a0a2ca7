// Package loyalty is the points domain of the loyalty service: which earning rules are in force
// for a sale, how many points each rule gives it, how a void reverses exactly what the sale
// earned, and a member's tier over the rolling 12 months.
//
// The package is pure: no database, broker or HTTP imports. The service in
// services/loyalty/app keeps the ledger in Postgres and calls Earn, OnSale, OnVoid and Standing
// for what it consumes from pos-sales.
//
// # Rules
//
// A Rule is in force on the days from From (inclusive) until Until (exclusive; empty: no end),
// days being the sale's local date in its store's time zone (Sale.Day). A sale earns by the
// rules in force on its day, not by the rules in force when it is consumed, so a late sale or a
// replay earns the same points.
//
//   - base: PointsPerDollar points per whole dollar of the sale's total. Of the base rules in
//     force the one with the latest From wins (ties: the greatest ID), so a new base rule
//     supersedes the old one from its date on.
//   - department: a bonus on the lines of one department, MultiplierPct percent of the base
//     rate (200 = double points): the bonus adds (MultiplierPct-100)% of the base rate per dollar.
//   - promotion: the same bonus on the lines of the rule's SKUs in the rule's stores (no stores:
//     every store). The rule itself carries its SKUs, stores and days; see the app package for
//     why the pricing service's promo events are not folded.
//
// A line takes the one bonus with the highest multiplier among the bonus rules that match it
// (ties: the smallest rule ID); bonuses do not stack. A rule's bonus is the floor of the sum of
// its lines' amounts × base rate × (multiplier-100)/100, in whole points.
//
// # Entries
//
// What a sale earns is one Entry per rule that gave it points: the base rule's and one per
// bonus rule, each naming its lines. A void reverses each of those by an Entry of the opposite
// sign (kind reverse) that counts at the sale's time, so the sale's contribution to the 12-month
// window is zero from then on, and that is dated by the void for the day's figures. Nothing is
// ever changed after it is written.
//
// OnSale and OnVoid give the entries that follow from a sale or a void given what was seen
// before; in any order of consumption, with any number of copies of either, the entries of a
// set of sales and voids are the same (TestOrderIndependence).
package loyalty

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Rule kinds.
const (
	KindBase       = "base"
	KindDepartment = "department"
	KindPromotion  = "promotion"
)

// Rule is an earning rule.
type Rule struct {
	// ID names the rule; entries refer to it.
	ID string
	// Kind is KindBase, KindDepartment or KindPromotion.
	Kind string
	// Name is a description for people.
	Name string
	// PointsPerDollar is the base rate (base rules; at least 0).
	PointsPerDollar int64
	// MultiplierPct is the bonus multiplier in percent of the base rate (bonus rules; 101 to
	// 1000).
	MultiplierPct int64
	// Department is the department of a department rule.
	Department string
	// PromoID names the pricing service's promotion a promotion rule stands for (optional).
	PromoID string
	// SKUs are a promotion rule's products.
	SKUs []string
	// Stores are a promotion rule's stores; none is every store.
	Stores []string
	// From is the first day the rule is in force, "YYYY-MM-DD".
	From string
	// Until is the first day it is no longer in force ("" for no end).
	Until string
}

// InForce reports whether r applies on day ("YYYY-MM-DD"; ISO dates compare as strings).
func (r Rule) InForce(day string) bool {
	return r.From <= day && (r.Until == "" || day < r.Until)
}

// Field errors of Validate name the field of the rules API.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks r and returns every problem, each naming its field as the rules API spells
// it.
func (r Rule) Validate() []FieldError {
	var bad []FieldError
	add := func(f, format string, a ...any) { bad = append(bad, FieldError{f, fmt.Sprintf(format, a...)}) }
	if r.ID == "" || len(r.ID) > 64 {
		add("rule_id", "must be 1 to 64 characters")
	}
	switch r.Kind {
	case KindBase:
		if r.PointsPerDollar < 0 || r.PointsPerDollar > 100 {
			add("points_per_dollar", "must be 0 to 100")
		}
		if r.MultiplierPct != 0 {
			add("multiplier_pct", "is for bonus rules only")
		}
	case KindDepartment, KindPromotion:
		if r.MultiplierPct < 101 || r.MultiplierPct > 1000 {
			add("multiplier_pct", "must be 101 to 1000 (percent of the base rate; 200 is double points)")
		}
		if r.PointsPerDollar != 0 {
			add("points_per_dollar", "is for base rules only")
		}
	default:
		add("kind", "must be base, department or promotion")
	}
	if r.Kind == KindDepartment && r.Department == "" {
		add("department", "is required for a department rule")
	}
	if r.Kind != KindDepartment && r.Department != "" {
		add("department", "is for department rules only")
	}
	if r.Kind == KindPromotion && len(r.SKUs) == 0 {
		add("skus", "a promotion rule needs at least one SKU")
	}
	if r.Kind != KindPromotion && (len(r.SKUs) > 0 || len(r.Stores) > 0 || r.PromoID != "") {
		add("kind", "skus, stores and promo_id are for promotion rules only")
	}
	if _, err := time.Parse(time.DateOnly, r.From); err != nil {
		add("effective_from", "must be a date YYYY-MM-DD")
	}
	if r.Until != "" {
		if _, err := time.Parse(time.DateOnly, r.Until); err != nil {
			add("effective_until", "must be a date YYYY-MM-DD")
		} else if r.Until <= r.From {
			add("effective_until", "must be after effective_from")
		}
	}
	return bad
}

// Line is one line of a sale as the rules see it.
type Line struct {
	// SKU is the product and Department its department.
	SKU, Department string
	// AmountCents is qty × unit price.
	AmountCents int64
}

// Sale is a completed sale with a loyalty id.
type Sale struct {
	SaleID, StoreID, LoyaltyID string
	// OccurredAt is when it was completed; Day is its date in the store's zone ("YYYY-MM-DD").
	OccurredAt time.Time
	Day        string
	TotalCents int64
	Lines      []Line
}

// Void is a void of a sale.
type Void struct {
	SaleID, StoreID string
	// VoidedAt is when the sale was voided; Day is its date in the store's zone.
	VoidedAt time.Time
	Day      string
}

// Entry kinds.
const (
	EntryEarn    = "earn"
	EntryReverse = "reverse"
	EntryRedeem  = "redeem"
)

// Entry is one ledger row.
type Entry struct {
	// Kind is EntryEarn, EntryReverse or EntryRedeem.
	Kind      string
	LoyaltyID string
	// SaleID and RuleID say what a sale's entry is for; Lines are the indexes of the sale's
	// lines the rule earned on (none for a base rule: it earns on the total).
	SaleID, RuleID string
	Lines          []int
	// RedemptionID names a redemption's entry.
	RedemptionID string
	StoreID      string
	// Points is positive for an earning, negative for a reversal or a redemption.
	Points int64
	// At is when the entry happened (the sale, the void or the redemption) and Day its date in
	// the store's zone (empty for a redemption).
	At  time.Time
	Day string
	// CountsAt is the time the points count at in the 12-month window: the sale's time, for
	// an earning and for its reversal.
	CountsAt time.Time
}

// baseRule returns the base rule in force on day.
func baseRule(rules []Rule, day string) (Rule, bool) {
	var best Rule
	found := false
	for _, r := range rules {
		if r.Kind != KindBase || !r.InForce(day) {
			continue
		}
		if !found || r.From > best.From || (r.From == best.From && r.ID > best.ID) {
			best, found = r, true
		}
	}
	return best, found
}

// matches reports whether bonus rule r applies to line l of a sale in store.
func (r Rule) matches(store string, l Line) bool {
	switch r.Kind {
	case KindDepartment:
		return r.Department == l.Department
	case KindPromotion:
		return slices.Contains(r.SKUs, l.SKU) && (len(r.Stores) == 0 || slices.Contains(r.Stores, store))
	}
	return false
}

// Earn returns what s earns by rules: the base rule's entry and one per bonus rule, in rule
// order (base first, then by rule ID). Rules that give no points give no entry.
func Earn(s Sale, rules []Rule) []Entry {
	base, ok := baseRule(rules, s.Day)
	if !ok || base.PointsPerDollar == 0 {
		return nil
	}
	mk := func(ruleID string, lines []int, pts int64) Entry {
		return Entry{Kind: EntryEarn, LoyaltyID: s.LoyaltyID, SaleID: s.SaleID, RuleID: ruleID, Lines: lines,
			StoreID: s.StoreID, Points: pts, At: s.OccurredAt, Day: s.Day, CountsAt: s.OccurredAt}
	}
	var out []Entry
	if pts := max(s.TotalCents, 0) / 100 * base.PointsPerDollar; pts > 0 {
		out = append(out, mk(base.ID, nil, pts))
	}
	var bonus []Rule
	for _, r := range rules {
		if r.Kind != KindBase && r.InForce(s.Day) {
			bonus = append(bonus, r)
		}
	}
	type acc struct {
		lines  []int
		amount int64
		rule   Rule
	}
	by := map[string]*acc{}
	for i, l := range s.Lines {
		var best *Rule
		for j := range bonus {
			r := &bonus[j]
			if !r.matches(s.StoreID, l) {
				continue
			}
			if best == nil || r.MultiplierPct > best.MultiplierPct || (r.MultiplierPct == best.MultiplierPct && r.ID < best.ID) {
				best = r
			}
		}
		if best == nil {
			continue
		}
		a := by[best.ID]
		if a == nil {
			a = &acc{rule: *best}
			by[best.ID] = a
		}
		a.lines = append(a.lines, i)
		a.amount += l.AmountCents
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := by[id]
		if pts := max(a.amount, 0) * base.PointsPerDollar * (a.rule.MultiplierPct - 100) / 10000; pts > 0 {
			out = append(out, mk(id, a.lines, pts))
		}
	}
	return out
}

// Reverse returns the entries that undo earned (a sale's earnings) for v.
func Reverse(earned []Entry, v Void) []Entry {
	out := make([]Entry, 0, len(earned))
	for _, e := range earned {
		if e.Kind != EntryEarn {
			continue
		}
		r := e
		r.Kind, r.Points, r.At, r.Day = EntryReverse, -e.Points, v.VoidedAt, v.Day
		r.Lines = slices.Clone(e.Lines)
		out = append(out, r)
	}
	return out
}

// OnSale returns the entries for a consumed sale: none when it was seen before (a retry or a
// copy), its earnings otherwise, followed by their reversal when a void of it came first.
func OnSale(s Sale, seen bool, voidedFirst *Void, rules []Rule) []Entry {
	if seen {
		return nil
	}
	out := Earn(s, rules)
	if voidedFirst != nil {
		out = append(out, Reverse(out, *voidedFirst)...)
	}
	return out
}

// OnVoid returns the entries for a consumed void: none for a second void of a sale, or for a
// void of a sale not seen yet (the caller keeps it and passes it to OnSale when the sale comes;
// a sale without a loyalty id never comes, and its void stays without entries); otherwise the
// reversal of what the sale earned.
func OnVoid(v Void, alreadyVoided bool, earned []Entry, saleSeen bool) []Entry {
	if alreadyVoided || !saleSeen {
		return nil
	}
	return Reverse(earned, v)
}

// SortEntries orders entries canonically (by sale, kind, rule, redemption), for comparing sets.
func SortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.LoyaltyID, b.LoyaltyID), cmp.Compare(a.SaleID, b.SaleID), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.RuleID, b.RuleID), cmp.Compare(a.RedemptionID, b.RedemptionID))
	})
}
