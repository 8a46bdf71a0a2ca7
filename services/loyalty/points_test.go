package loyalty

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var (
	base1 = Rule{ID: "base", Kind: KindBase, PointsPerDollar: 1, From: "2000-01-01"}
	base2 = Rule{ID: "base-2027", Kind: KindBase, PointsPerDollar: 2, From: "2027-01-01"}
	dairy = Rule{ID: "dairy-2x", Kind: KindDepartment, MultiplierPct: 200, Department: "dairy", From: "2026-01-01"}
	promo = Rule{ID: "promo-3x", Kind: KindPromotion, MultiplierPct: 300, SKUs: []string{"PRD-0002"}, Stores: []string{"S001"},
		From: "2026-11-20", Until: "2026-11-27"}
)

func sale(id, day string, lines ...Line) Sale {
	var total int64
	for _, l := range lines {
		total += l.AmountCents
	}
	at, _ := time.Parse(time.DateOnly, day)
	return Sale{SaleID: id, StoreID: "S001", LoyaltyID: "L1", OccurredAt: at.Add(12 * time.Hour), Day: day, TotalCents: total, Lines: lines}
}

func TestEarn(t *testing.T) {
	milk := Line{SKU: "PRD-0001", Department: "dairy", AmountCents: 550}
	bread := Line{SKU: "PRD-0002", Department: "bakery", AmountCents: 1099}
	rules := []Rule{base1, base2, dairy, promo}
	tests := []struct {
		name string
		s    Sale
		want map[string]int64 // rule -> points
	}{
		{"whole dollars of the total", sale("a", "2025-06-01", bread), map[string]int64{"base": 10}},
		{"under a dollar earns nothing", sale("b", "2025-06-01", Line{SKU: "PRD-0003", AmountCents: 99}), map[string]int64{}},
		{"department bonus", sale("c", "2026-06-01", milk, bread), map[string]int64{"base": 16, "dairy-2x": 5}},
		{"promotion bonus in its days and store", sale("d", "2026-11-21", milk, bread), map[string]int64{"base": 16, "dairy-2x": 5, "promo-3x": 21}},
		{"promotion ended (until is exclusive)", sale("e", "2026-11-27", bread), map[string]int64{"base": 10}},
		{"a later base rule from its date", sale("f", "2027-01-01", milk), map[string]int64{"base-2027": 10, "dairy-2x": 11}},
		{"the day before it, the old rule", sale("g", "2026-12-31", milk), map[string]int64{"base": 5, "dairy-2x": 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]int64{}
			for _, e := range Earn(tt.s, rules) {
				if e.Kind != EntryEarn || e.SaleID != tt.s.SaleID || e.CountsAt != tt.s.OccurredAt {
					t.Errorf("entry %+v", e)
				}
				got[e.RuleID] = e.Points
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("earned %v, want %v", got, tt.want)
			}
		})
	}
	// Another store does not get the promotion.
	s := sale("h", "2026-11-21", bread)
	s.StoreID = "S002"
	if es := Earn(s, rules); len(es) != 1 || es[0].RuleID != "base" {
		t.Errorf("S002 earned %+v", es)
	}
	// The highest bonus wins; they do not stack.
	es := Earn(sale("i", "2026-11-21", Line{SKU: "PRD-0002", Department: "dairy", AmountCents: 1000}), rules)
	if len(es) != 2 || es[1].RuleID != "promo-3x" || es[1].Points != 20 || !reflect.DeepEqual(es[1].Lines, []int{0}) {
		t.Errorf("earned %+v, want base 10 and promo 20 on line 0", es)
	}
}

func TestReverseUndoesExactly(t *testing.T) {
	s := sale("a", "2026-11-21", Line{SKU: "PRD-0001", Department: "dairy", AmountCents: 550}, Line{SKU: "PRD-0002", AmountCents: 1099})
	earned := Earn(s, []Rule{base1, dairy, promo})
	v := Void{SaleID: "a", StoreID: "S001", VoidedAt: s.OccurredAt.Add(30 * time.Hour), Day: "2026-11-22"}
	rev := Reverse(earned, v)
	if len(rev) != len(earned) {
		t.Fatalf("%d reversals of %d entries", len(rev), len(earned))
	}
	var sum int64
	for i, r := range rev {
		sum += earned[i].Points + r.Points
		if r.Kind != EntryReverse || r.RuleID != earned[i].RuleID || r.CountsAt != s.OccurredAt || r.Day != "2026-11-22" {
			t.Errorf("reversal %+v of %+v", r, earned[i])
		}
	}
	if sum != 0 {
		t.Errorf("earned plus reversed = %d", sum)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		r     Rule
		field string
	}{
		{"ok", base1, ""},
		{"no id", Rule{Kind: KindBase, From: "2026-01-01"}, "rule_id"},
		{"bad kind", Rule{ID: "x", Kind: "cashback", From: "2026-01-01"}, "kind"},
		{"multiplier too low", Rule{ID: "x", Kind: KindDepartment, Department: "dairy", MultiplierPct: 100, From: "2026-01-01"}, "multiplier_pct"},
		{"no department", Rule{ID: "x", Kind: KindDepartment, MultiplierPct: 200, From: "2026-01-01"}, "department"},
		{"promotion without skus", Rule{ID: "x", Kind: KindPromotion, MultiplierPct: 200, From: "2026-01-01"}, "skus"},
		{"bad date", Rule{ID: "x", Kind: KindBase, From: "2026-13-01"}, "effective_from"},
		{"until before from", Rule{ID: "x", Kind: KindBase, From: "2026-02-01", Until: "2026-02-01"}, "effective_until"},
		{"negative rate", Rule{ID: "x", Kind: KindBase, PointsPerDollar: -1, From: "2026-02-01"}, "points_per_dollar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := tt.r.Validate()
			if tt.field == "" {
				if len(bad) > 0 {
					t.Fatalf("Validate() = %v", bad)
				}
				return
			}
			if len(bad) == 0 || bad[0].Field != tt.field {
				t.Fatalf("Validate() = %v, want a problem with %s", bad, tt.field)
			}
		})
	}
}

// book folds sales and voids as the service does, keeping what it has seen.
type book struct {
	sales   map[string][]Entry // sale id -> its earnings
	voided  map[string]bool
	pending map[string]Void // voids of sales not seen yet
	entries []Entry
}

func (b *book) sale(s Sale, rules []Rule) {
	_, seen := b.sales[s.SaleID]
	var first *Void
	if v, ok := b.pending[s.SaleID]; ok {
		first = &v
	}
	es := OnSale(s, seen, first, rules)
	if !seen {
		b.sales[s.SaleID] = Earn(s, rules)
	}
	b.entries = append(b.entries, es...)
}

func (b *book) void(v Void) {
	earned, seen := b.sales[v.SaleID]
	es := OnVoid(v, b.voided[v.SaleID], earned, seen)
	if !b.voided[v.SaleID] {
		b.voided[v.SaleID] = true
		if !seen {
			b.pending[v.SaleID] = v
		}
	}
	b.entries = append(b.entries, es...)
}

// TestOrderIndependence: sales and voids consumed in any order, with copies of either (a
// register's retry, a second void), write the same set of entries, and every voided sale's
// entries sum to zero.
func TestOrderIndependence(t *testing.T) {
	rules := []Rule{base1, base2, dairy, promo}
	rng := rand.New(rand.NewPCG(3, 4))
	depts := []string{"dairy", "bakery", "produce"}
	for round := range 200 {
		type ev struct {
			s *Sale
			v *Void
		}
		var evs []ev
		for i := range 15 {
			day := fmt.Sprintf("2026-11-%02d", 15+rng.IntN(20)%16)
			var lines []Line
			for range 1 + rng.IntN(4) {
				lines = append(lines, Line{SKU: fmt.Sprintf("PRD-%04d", 1+rng.IntN(4)), Department: depts[rng.IntN(3)], AmountCents: int64(rng.IntN(3000))})
			}
			s := sale(fmt.Sprintf("s%d-%d", round, i), day, lines...)
			evs = append(evs, ev{s: &s})
			if rng.IntN(3) == 0 {
				evs = append(evs, ev{s: &s}) // a retry
			}
			if rng.IntN(3) == 0 {
				v := Void{SaleID: s.SaleID, StoreID: "S001", VoidedAt: s.OccurredAt.Add(time.Hour), Day: day}
				evs = append(evs, ev{v: &v})
				if rng.IntN(2) == 0 {
					evs = append(evs, ev{v: &v}) // a second void
				}
			}
		}
		// A void of a sale that never comes (no loyalty id).
		evs = append(evs, ev{v: &Void{SaleID: fmt.Sprintf("cash%d", round), StoreID: "S001", VoidedAt: time.Now(), Day: "2026-11-20"}})
		run := func(order []ev) []Entry {
			b := &book{sales: map[string][]Entry{}, voided: map[string]bool{}, pending: map[string]Void{}}
			for _, e := range order {
				if e.s != nil {
					b.sale(*e.s, rules)
				} else {
					b.void(*e.v)
				}
			}
			SortEntries(b.entries)
			return b.entries
		}
		want := run(evs)
		perSale := map[string]int64{}
		voided := map[string]bool{}
		for _, e := range want {
			perSale[e.SaleID] += e.Points
			if e.Kind == EntryReverse {
				voided[e.SaleID] = true
			}
		}
		for id := range voided {
			if perSale[id] != 0 {
				t.Fatalf("round %d: voided sale %s nets %d points", round, id, perSale[id])
			}
		}
		for range 5 {
			shuffled := append([]ev(nil), evs...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got := run(shuffled); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: another order gives other entries:\n got %+v\nwant %+v", round, got, want)
			}
		}
	}
}

func TestStanding(t *testing.T) {
	t0 := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)
	es := []Counted{
		{Points: 4000, CountsAt: t0},
		{Points: 2000, CountsAt: t0.AddDate(0, 6, 0)},
		{Points: -2000, CountsAt: t0.AddDate(0, 6, 0)}, // voided
		{Points: 1500, CountsAt: t0.AddDate(0, 8, 0)},
	}
	tests := []struct {
		now  time.Time
		pts  int64
		tier string
		next time.Time
	}{
		{t0.AddDate(0, 9, 0), 5500, "Gold", t0.AddDate(1, 0, 0)},
		{t0.AddDate(1, 0, 0).Add(-time.Second), 5500, "Gold", t0.AddDate(1, 0, 0)},
		{t0.AddDate(1, 0, 0), 1500, "Silver", t0.AddDate(1, 6, 0)},
		{t0.AddDate(1, 8, 0), 0, "Green", time.Time{}},
	}
	for _, tt := range tests {
		got := StandingAt(es, tt.now, DefaultTiers)
		if got.Points12m != tt.pts || got.Tier != tt.tier || !got.NextChange.Equal(tt.next) {
			t.Errorf("at %s: %+v, want %d %s next %s", tt.now, got, tt.pts, tt.tier, tt.next)
		}
	}
	if TierFor(999, DefaultTiers) != "Green" || TierFor(1000, DefaultTiers) != "Silver" || TierFor(5000, DefaultTiers) != "Gold" {
		t.Error("thresholds")
	}
}
