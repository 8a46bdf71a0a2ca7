package inventory

import (
	"math/rand/v2"
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.start
			for i, s := range tc.steps {
				var c Change
				if s.count {
					c = Count(it, s.qty, s.at, s.movedAfter)
				} else {
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

// TestOrderIndependence checks the property the rebuild relies on: the final on-hand quantity
// does not depend on the order in which movements and counts are consumed.
func TestOrderIndependence(t *testing.T) {
	type ev struct {
		count bool
		qty   int64
		at    time.Time
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var evs []ev
		for i := range 30 {
			e := ev{at: at(i*7%30 + round%3), qty: int64(rng.IntN(9) - 4)}
			if rng.IntN(6) == 0 {
				e.count, e.qty = true, int64(rng.IntN(40))
			}
			evs = append(evs, e)
		}
		fold := func(order []int) int64 {
			it := NewItem(20, 10)
			var moves []ev
			for _, i := range order {
				e := evs[i]
				if e.count {
					var after int64
					for _, m := range moves {
						if m.at.After(e.at) {
							after += m.qty
						}
					}
					it = Count(it, e.qty, e.at, after).After
					continue
				}
				moves = append(moves, e)
				it = Move(it, e.qty, e.at).After
			}
			return it.OnHand
		}
		base := make([]int, len(evs))
		for i := range base {
			base[i] = i
		}
		want := fold(base)
		for range 5 {
			perm := rng.Perm(len(evs))
			if got := fold(perm); got != want {
				t.Fatalf("round %d: order %v gives %d, in-order gives %d", round, perm, got, want)
			}
		}
	}
}
