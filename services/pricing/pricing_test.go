package pricing

import (
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func TestResolve(t *testing.T) {
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	changes := []Change{
		{PriceCents: 100, EffectiveAt: h(-100), Seq: 1},
		{PriceCents: 120, EffectiveAt: h(1), Seq: 2},
		{StoreID: "S001", PriceCents: 90, EffectiveAt: h(2), Seq: 3},
		{PriceCents: 150, EffectiveAt: h(3), Seq: 4}, // chain-wide: the override still wins
		{StoreID: "S001", PriceCents: 95, EffectiveAt: h(4), Seq: 5},
		{StoreID: "S001", PriceCents: 97, EffectiveAt: h(4), Seq: 6}, // same instant: later request wins
	}
	promos := []Promo{
		{ID: "p1", PercentOff: 25, StartsAt: h(5), EndsAt: h(6)},
		{ID: "p2", PromoPriceCents: 50, StartsAt: h(6), EndsAt: h(7)},
	}
	tests := []struct {
		name       string
		at         time.Time
		price, reg int64
		override   bool
		promo      string
	}{
		{"before any change", h(0), 100, 100, false, ""},
		{"chain-wide change", h(1), 120, 120, false, ""},
		{"store override", h(2), 90, 90, true, ""},
		{"chain-wide change after the override", h(3), 90, 90, true, ""},
		{"two overrides at once", h(4), 97, 97, true, ""},
		{"percent off, rounded", h(5), 73, 97, true, "p1"}, // 97*0.75 = 72.75
		{"back-to-back promotion", h(6), 50, 97, true, "p2"},
		{"promotion over", h(7), 97, 97, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := Resolve(changes, promos, tc.at)
			got := ""
			if q.Promo != nil {
				got = q.Promo.ID
			}
			if q.PriceCents != tc.price || q.RegularPriceCents != tc.reg || q.Override != tc.override || got != tc.promo || !q.Known {
				t.Fatalf("Resolve at %s = %+v (promo %q), want price %d regular %d override %v promo %q",
					tc.at, q, got, tc.price, tc.reg, tc.override, tc.promo)
			}
		})
	}
	if q := Resolve(nil, nil, t0); q.Known {
		t.Fatalf("no history: %+v, want unknown", q)
	}
}

// TestResolveOrderIndependent: the price in force does not depend on the order in which the
// history is read.
func TestResolveOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var cs []Change
		for i := range 20 {
			c := Change{PriceCents: int64(rng.IntN(1000)), EffectiveAt: t0.Add(time.Duration(rng.IntN(10)) * time.Hour), Seq: int64(i)}
			if rng.IntN(3) == 0 {
				c.StoreID = "S001"
			}
			cs = append(cs, c)
		}
		at := t0.Add(time.Duration(rng.IntN(12)) * time.Hour)
		want := Resolve(cs, nil, at)
		for range 5 {
			perm := make([]Change, len(cs))
			for i, j := range rng.Perm(len(cs)) {
				perm[i] = cs[j]
			}
			if got := Resolve(perm, nil, at); got != want {
				t.Fatalf("round %d: permuted history gives %+v, in order %+v", round, got, want)
			}
		}
	}
}

func TestPercentOff(t *testing.T) {
	for _, tc := range []struct {
		reg  int64
		pct  int
		want int64
	}{{100, 25, 75}, {99, 50, 50}, {1, 99, 0}, {333, 10, 300}, {0, 10, 0}} {
		if got := PercentOff(tc.reg, tc.pct); got != tc.want {
			t.Errorf("PercentOff(%d, %d) = %d, want %d", tc.reg, tc.pct, got, tc.want)
		}
	}
}

func TestParseWhenInZones(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	la, _ := time.LoadLocation("America/Los_Angeles")
	w, err := ParseWhen("2026-12-05T08:00")
	if err != nil || !w.Local {
		t.Fatalf("ParseWhen wall: %+v %v", w, err)
	}
	if got, want := w.In(ny), time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("08:00 New York = %s, want %s", got.UTC(), want)
	}
	if got, want := w.In(la), time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("08:00 Los Angeles = %s, want %s", got.UTC(), want)
	}
	abs, err := ParseWhen("2026-12-05T08:00:00-05:00")
	if err != nil || abs.Local || !abs.In(la).Equal(time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("absolute: %+v %v", abs, err)
	}
	for _, bad := range []string{"", "tomorrow", "2026-13-05T08:00", "08:00"} {
		if _, err := ParseWhen(bad); err == nil {
			t.Errorf("ParseWhen(%q) accepted", bad)
		}
	}
}

func TestWindows(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	la, _ := time.LoadLocation("America/Los_Angeles")
	locs := map[string]*time.Location{"S001": ny, "S004": la}
	s, _ := ParseWhen("2026-12-05T08:00")
	e, _ := ParseWhen("2026-12-05T20:00")
	var ps Problems
	ws := Windows(&ps, s, e, []string{"S001", "S004"}, locs, t0)
	if len(ps) != 0 || len(ws) != 2 || ws[1].StartsAt.Sub(ws[0].StartsAt) != 3*time.Hour {
		t.Fatalf("windows %+v problems %v", ws, ps)
	}
	ps = nil
	Windows(&ps, e, s, []string{"S001"}, locs, t0)
	if len(ps) != 1 || ps[0].Field != "ends_at" {
		t.Fatalf("end before start: %v", ps)
	}
	ps = nil
	Windows(&ps, s, e, []string{"S001"}, locs, t0.Add(48*time.Hour))
	if len(ps) != 1 || ps[0].Field != "ends_at" {
		t.Fatalf("end in the past: %v", ps)
	}
}

func TestCeilMinute(t *testing.T) {
	if got := CeilMinute(t0.Add(time.Second)); !got.Equal(t0.Add(time.Minute)) {
		t.Fatal(got)
	}
	if got := CeilMinute(t0); !got.Equal(t0) {
		t.Fatal(got)
	}
}

func TestChecks(t *testing.T) {
	var ps Problems
	CheckPrice(&ps, "a", -1, 0)
	CheckPrice(&ps, "b", MaxPriceCents+1, 0)
	CheckPrice(&ps, "ok", 250, 0)
	CheckPercent(&ps, "c", 0)
	CheckPercent(&ps, "d", 101)
	CheckPercent(&ps, "ok", 30)
	var fields []string
	for _, p := range ps {
		fields = append(fields, p.Field)
	}
	if len(fields) != 4 || fields[0] != "a" || fields[1] != "b" || fields[2] != "c" || fields[3] != "d" {
		t.Fatalf("problems on %v", fields)
	}
	if Accuracy(0, 0) != 1 || Accuracy(4, 1) != 0.75 {
		t.Fatal("Accuracy")
	}
	out, rep := Dedupe([]string{"a", "b", "a"})
	if len(out) != 2 || len(rep) != 1 || rep[0] != 2 {
		t.Fatal("Dedupe", out, rep)
	}
}
