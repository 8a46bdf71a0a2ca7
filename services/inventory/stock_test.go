package inventory

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func TestMargin(t *testing.T) {
	for _, tc := range []struct{ threshold, want int64 }{
		{0, 2}, {1, 2}, {5, 2}, {10, 2}, {11, 3}, {20, 4}, {24, 5}, {100, 20},
	} {
		if got := Margin(tc.threshold); got != tc.want {
			t.Errorf("Margin(%d) = %d, want %d", tc.threshold, got, tc.want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		name              string
		onHand, threshold int64
		want              Status
		badge             string
	}{
		{"negative", -3, 10, StatusOut, "out"},
		{"zero", 0, 10, StatusOut, "out"},
		{"below", 9, 10, StatusLow, "low"},
		{"at threshold", 10, 10, StatusOK, "in_stock"},
		{"above", 50, 10, StatusOK, "in_stock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StatusOf(tc.onHand, tc.threshold)
			if s != tc.want || s.Badge() != tc.badge {
				t.Fatalf("StatusOf(%d, %d) = %q/%q, want %q/%q", tc.onHand, tc.threshold, s, s.Badge(), tc.want, tc.badge)
			}
		})
	}
}

// step is one event in a scripted sequence.
type step struct {
	count      bool
	void       bool  // qty units of a voided sale back at at
	qty        int64 // delta for a movement, absolute for a count
	at         time.Time
	movedAfter int64
	wantOnHand int64
	wantAlert  Alert
	wantBadge  bool
}

func TestHysteresis(t *testing.T) {
	// threshold 10, margin 2: low below 10, re-armed at >= 12.
	tests := []struct {
		name  string
		start Item
		steps []step
	}{
		{"one alert per crossing", NewItem(15, 10), []step{
			{qty: -5, at: at(1), wantOnHand: 10},
			{qty: -1, at: at(2), wantOnHand: 9, wantAlert: AlertLowStock, wantBadge: true},
			{qty: -1, at: at(3), wantOnHand: 8},
			{qty: 3, at: at(4), wantOnHand: 11, wantBadge: true}, // above threshold, below re-arm
			{qty: -2, at: at(5), wantOnHand: 9, wantBadge: true}, // no second alert
			{qty: 3, at: at(6), wantOnHand: 12, wantAlert: AlertRestocked, wantBadge: true},
			{qty: -3, at: at(7), wantOnHand: 9, wantAlert: AlertLowStock, wantBadge: true},
		}},
		{"out of stock and negative", NewItem(3, 10), []step{
			{qty: -3, at: at(1), wantOnHand: 0, wantAlert: AlertLowStock, wantBadge: true},
			{qty: -2, at: at(2), wantOnHand: -2},
			{qty: 20, at: at(3), wantOnHand: 18, wantAlert: AlertRestocked, wantBadge: true},
		}},
		{"count sets absolute and adds later movements", NewItem(50, 10), []step{
			{qty: -5, at: at(10), wantOnHand: 45},
			{count: true, qty: 8, at: at(5), movedAfter: -5, wantOnHand: 3, wantAlert: AlertLowStock, wantBadge: true},
			{qty: -1, at: at(4), wantOnHand: 3},              // before the count: already in it
			{count: true, qty: 30, at: at(2), wantOnHand: 3}, // stale count
			{count: true, qty: 30, at: at(11), wantOnHand: 30, wantAlert: AlertRestocked, wantBadge: true},
		}},
		{"a void puts the units back after the latest count only", NewItem(12, 10), []step{
			{qty: -4, at: at(10), wantOnHand: 8, wantAlert: AlertLowStock, wantBadge: true},
			{count: true, qty: 7, at: at(20), wantOnHand: 7},
			{void: true, qty: 4, at: VoidAt(at(10), at(15)), wantOnHand: 7}, // voided before the count: in it
			{qty: -3, at: at(12), wantOnHand: 7},
			{count: true, qty: 9, at: at(30), wantOnHand: 9},
			{void: true, qty: 3, at: VoidAt(at(12), at(31)), wantOnHand: 12, wantAlert: AlertRestocked, wantBadge: true},
		}},
		{"a void stamped before its sale counts from the sale", NewItem(20, 10), []step{
			{count: true, qty: 15, at: at(5), wantOnHand: 15},
			{qty: -6, at: at(10), wantOnHand: 9, wantAlert: AlertLowStock, wantBadge: true},
			{void: true, qty: 6, at: VoidAt(at(10), at(2)), wantOnHand: 15, wantAlert: AlertRestocked, wantBadge: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.start
			for i, s := range tc.steps {
				var c Change
				switch {
				case s.count:
					c = Count(it, s.qty, s.at, s.movedAfter)
				case s.void:
					c = Void(it, s.qty, s.at)
				default:
					c = Move(it, s.qty, s.at)
				}
				if c.After.OnHand != s.wantOnHand || c.Alert != s.wantAlert || c.BadgeChanged != s.wantBadge {
					t.Fatalf("step %d: on_hand %d alert %q badge %v, want %d %q %v",
						i, c.After.OnHand, c.Alert, c.BadgeChanged, s.wantOnHand, s.wantAlert, s.wantBadge)
				}
				if c.LevelChanged != (c.Before.OnHand != c.After.OnHand) {
					t.Fatalf("step %d: LevelChanged %v inconsistent", i, c.LevelChanged)
				}
				it = c.After
			}
		})
	}
}

func TestVoidAt(t *testing.T) {
	if got := VoidAt(at(10), at(12)); !got.Equal(at(12)) {
		t.Errorf("void after the sale: %v, want the void's time", got)
	}
	if got := VoidAt(at(10), at(10)); !got.Equal(at(10)) {
		t.Errorf("void at the sale's time: %v", got)
	}
	if got := VoidAt(at(10), at(3)); !got.Equal(at(10)) {
		t.Errorf("void stamped before the sale: %v, want the sale's time", got)
	}
}

// TestOrderIndependence checks the property the rebuild relies on: the final on-hand quantity
// does not depend on the order in which sales, deliveries, voids and counts are consumed (a
// void after its sale, as on pos-sales, where both are in the store's partition), and it is the
// closed form of the package documentation: the latest count plus the movements after it,
// where a void is its sale's units back at VoidAt, once, and only for a sale that was folded.
// The streams void about a third of their sales, some twice, some stamped before the sale, and
// some sales that never appear.
func TestOrderIndependence(t *testing.T) {
	type ev struct {
		kind string // sale, delivery, count, void
		sale int    // a sale's id; the voided sale's id for a void
		qty  int64  // signed movement, or counted quantity; unused for a void
		at   time.Time
	}
	rng := rand.New(rand.NewPCG(1, 2))
	voids, matched := 0, 0
	for round := range 300 {
		var evs []ev
		for i := range 40 {
			e := ev{at: at(i*7%40 + round%3), qty: int64(rng.IntN(9) - 4), sale: i}
			switch r := rng.IntN(12); {
			case r < 2:
				e.kind, e.qty = "count", int64(rng.IntN(40))
			case r < 4:
				e.kind, e.qty = "void", 0
				e.sale = rng.IntN(50) // an earlier or later sale, a delivery or count, or no event at all
				e.at = at(rng.IntN(45))
				voids++
			case e.qty < 0:
				e.kind = "sale"
			default:
				e.kind = "delivery"
			}
			evs = append(evs, e)
		}
		saleOf := map[int]int{} // sale id -> index of the sale in evs
		for i, e := range evs {
			if e.kind == "sale" {
				saleOf[e.sale] = i
			}
		}
		targets := map[int]bool{} // the sales voided
		for _, e := range evs {
			if e.kind == "void" {
				targets[e.sale] = true
			}
		}
		// causal keeps what pos-sales fixes, where a store's sales and voids share a partition:
		// the voids of a sale keep their stream order, and a void that came before its sale is
		// moved right after it. Everything else (the other topics) may interleave freely.
		causal := func(order []int) []int {
			order = slices.Clone(order)
			var slots, ids []int
			for target := range targets {
				slots, ids = slots[:0], ids[:0]
				for pos, i := range order {
					if evs[i].kind == "void" && evs[i].sale == target {
						slots, ids = append(slots, pos), append(ids, i)
					}
				}
				slices.Sort(ids)
				for k, pos := range slots {
					order[pos] = ids[k]
				}
			}
			out := make([]int, 0, len(order))
			emitted := map[int]bool{}
			waiting := map[int][]int{}
			for _, i := range order {
				e := evs[i]
				if s, ok := saleOf[e.sale]; ok && e.kind == "void" && !emitted[s] {
					waiting[s] = append(waiting[s], i)
					continue
				}
				out = append(out, i)
				emitted[i] = true
				if e.kind == "sale" {
					out = append(out, waiting[i]...)
				}
			}
			return out
		}
		// fold consumes evs in order as the service does: it keeps the movements (for counts), the
		// folded sales (for voids) and the voided ones.
		fold := func(order []int) (int64, int) {
			it := NewItem(20, 10)
			var moves []ev
			folded := map[int]ev{}
			voided := map[int]bool{}
			applied := 0
			for _, i := range order {
				e := evs[i]
				switch e.kind {
				case "count":
					var after int64
					for _, m := range moves {
						if m.at.After(e.at) {
							after += m.qty
						}
					}
					it = Count(it, e.qty, e.at, after).After
				case "void":
					s, ok := folded[e.sale]
					if !ok || voided[e.sale] {
						continue // a void of a sale never folded, or a second void: nothing
					}
					voided[e.sale] = true
					applied++
					back := ev{kind: "void", qty: -s.qty, at: VoidAt(s.at, e.at)}
					moves = append(moves, back)
					it = Void(it, back.qty, back.at).After
				default:
					if e.kind == "sale" {
						folded[e.sale] = e
					}
					moves = append(moves, e)
					it = Move(it, e.qty, e.at).After
				}
			}
			return it.OnHand, applied
		}
		base := make([]int, len(evs))
		for i := range base {
			base[i] = i
		}
		base = causal(base)
		want, n := fold(base)
		matched += n

		// The closed form, computed from the set of events alone.
		onHand, counted := int64(20), time.Time{}
		for _, e := range evs {
			if e.kind == "count" && e.at.After(counted) {
				onHand, counted = e.qty, e.at
			}
		}
		firstVoid := map[int]int{} // sale id -> index of its first void on pos-sales
		for _, i := range base {
			if e := evs[i]; e.kind == "void" {
				if _, ok := firstVoid[e.sale]; !ok {
					firstVoid[e.sale] = i
				}
			}
		}
		for i, e := range evs {
			moved := e
			switch e.kind {
			case "count":
				continue
			case "void":
				s, ok := saleOf[e.sale]
				if !ok || firstVoid[e.sale] != i {
					continue
				}
				moved = ev{qty: -evs[s].qty, at: VoidAt(evs[s].at, e.at)}
			}
			if counted.IsZero() || moved.at.After(counted) {
				onHand += moved.qty
			}
		}
		if want != onHand {
			t.Fatalf("round %d: the fold gives %d, the closed form %d", round, want, onHand)
		}

		for range 5 {
			perm := causal(rng.Perm(len(evs)))
			if got, k := fold(perm); got != want || k != n {
				t.Fatalf("round %d: order %v gives %d (%d voids applied), in-order gives %d (%d)", round, perm, got, k, want, n)
			}
		}
	}
	if matched < voids/6 || matched == voids {
		t.Fatalf("%d of %d voids matched a sale: the streams do not exercise both kinds", matched, voids)
	}
}
