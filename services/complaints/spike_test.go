package complaints

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

var day = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// at returns a complaint filed at hh:mm on the test day, with id "c<hh><mm>".
func at(hm string) Complaint {
	t, err := time.Parse("15:04", hm)
	if err != nil {
		panic(err)
	}
	return Complaint{ID: "c" + hm, FiledAt: day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute)}
}

func cs(hms ...string) []Complaint {
	out := make([]Complaint, len(hms))
	for i, hm := range hms {
		out[i] = at(hm)
	}
	return out
}

// summary is an episode as hh:mm of its start and end and its members' ids.
func summary(r Rule, eps []Episode) []string {
	var out []string
	for _, e := range eps {
		out = append(out, fmt.Sprintf("%s-%s %v", e.Start.Format("15:04"), e.End(r).Format("15:04"), e.IDs()))
	}
	return out
}

func TestEpisodes(t *testing.T) {
	r := DefaultRule
	tests := []struct {
		name string
		in   []Complaint
		want []string
	}{
		{"both ends of the window count", cs("10:00", "10:10", "10:30"), []string{"10:30-11:00 [c10:00 c10:10 c10:30]"}},
		{"31 minutes is too far", cs("10:00", "10:16", "10:31"), nil},
		{"two is not a spike", cs("10:00", "10:01"), nil},
		{"joiners extend the episode", cs("10:00", "10:10", "10:29", "10:35", "10:40"),
			[]string{"10:29-11:10 [c10:00 c10:10 c10:29 c10:35 c10:40]"}},
		{"a complaint 30 minutes after the last joins", cs("10:00", "10:01", "10:02", "10:32"),
			[]string{"10:02-11:02 [c10:00 c10:01 c10:02 c10:32]"}},
		{"later than 30 minutes starts afresh", cs("10:00", "10:01", "10:02", "10:33", "10:34", "10:35"),
			[]string{"10:02-10:32 [c10:00 c10:01 c10:02]", "10:35-11:05 [c10:33 c10:34 c10:35]"}},
		{"one after the episode is no spike on its own", cs("10:00", "10:01", "10:02", "10:40"),
			[]string{"10:02-10:32 [c10:00 c10:01 c10:02]"}},
		{"a lone early complaint stays out", cs("09:00", "10:00", "10:01", "10:02"),
			[]string{"10:02-10:32 [c10:00 c10:01 c10:02]"}},
		{"copies count once", []Complaint{at("10:00"), at("10:00"), at("10:05"), at("10:05")}, nil},
		{"same instant", []Complaint{{ID: "b", FiledAt: day}, {ID: "a", FiledAt: day}, {ID: "c", FiledAt: day}},
			[]string{"00:00-00:30 [a b c]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summary(r, Episodes(r, tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("episodes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuleSettings(t *testing.T) {
	r := Rule{Threshold: 2, Window: 10 * time.Minute}
	if got := summary(r, Episodes(r, cs("10:00", "10:10", "10:30"))); !reflect.DeepEqual(got, []string{"10:10-10:20 [c10:00 c10:10]"}) {
		t.Fatalf("episodes %v", got)
	}
}

// permutations calls fn with every ordering of cs.
func permutations(cs []Complaint, fn func([]Complaint)) {
	var rec func(int)
	a := slices.Clone(cs)
	rec = func(k int) {
		if k == len(a) {
			fn(slices.Clone(a))
			return
		}
		for i := k; i < len(a); i++ {
			a[k], a[i] = a[i], a[k]
			rec(k + 1)
			a[k], a[i] = a[i], a[k]
		}
	}
	rec(0)
}

// TestOrderIndependence: every arrival order of the same complaints, folded one at a time as
// the service does (the episodes after each arrival), ends with the same episodes, and along
// the way no episode ever loses a member (so an alert, once raised, always has its episode).
func TestOrderIndependence(t *testing.T) {
	r := DefaultRule
	sets := [][]Complaint{
		cs("10:00", "10:10", "10:29", "10:35", "10:40"),
		cs("10:00", "10:01", "10:02", "10:31", "11:02"), // 10:31 then bridges into one
		cs("10:00", "10:05", "10:10", "10:50", "10:55"),
	}
	for _, set := range sets {
		want := summary(r, Episodes(r, set))
		n := 0
		permutations(set, func(order []Complaint) {
			n++
			var seen []Complaint
			var prev []Episode
			for _, c := range order {
				seen = append(seen, c)
				now := Episodes(r, seen)
				checkGrows(t, prev, now)
				prev = now
			}
			if got := summary(r, prev); !reflect.DeepEqual(got, want) {
				t.Fatalf("order %v: episodes %v, want %v", summary(r, []Episode{{Members: order}}), got, want)
			}
		})
		if n != 120 {
			t.Fatalf("%d permutations", n)
		}
	}
}

// checkGrows fails unless every member of every episode in prev is in one episode of now.
func checkGrows(t *testing.T, prev, now []Episode) {
	t.Helper()
	for _, p := range prev {
		home := -1
		for _, m := range p.Members {
			found := -1
			for j, e := range now {
				if e.Has(m.ID) {
					found = j
				}
			}
			if found < 0 || (home >= 0 && found != home) {
				t.Fatalf("episode %v split or shrank into %v", p.IDs(), summary(DefaultRule, now))
			}
			home = found
		}
	}
}

// TestAddingNeverSplits adds complaints in random orders over random sets and checks the
// property the service relies on: episodes only grow or merge.
func TestAddingNeverSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var all []Complaint
		for i := range 4 + rng.IntN(20) {
			all = append(all, Complaint{ID: fmt.Sprintf("r%d-%d", round, i), FiledAt: day.Add(time.Duration(rng.IntN(180)) * time.Minute)})
		}
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		var prev []Episode
		for k := range all {
			now := Episodes(DefaultRule, all[:k+1])
			checkGrows(t, prev, now)
			prev = now
		}
		want := summary(DefaultRule, prev)
		if got := summary(DefaultRule, Episodes(DefaultRule, Sort(all))); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: sorted %v, arrival order %v", round, got, want)
		}
	}
}

func TestOpen(t *testing.T) {
	e := Episodes(DefaultRule, cs("10:00", "10:10", "10:29"))[0]
	if !e.Open(DefaultRule, at("10:58").FiledAt) || e.Open(DefaultRule, at("10:59").FiledAt) {
		t.Fatalf("episode ending %s: open at 10:58 and closed at 10:59 expected", e.End(DefaultRule))
	}
}

// TestItemAlertsOncePerEpisode folds every arrival order of complaint sets through Item, as the
// service does, and checks what it would emit: every final episode has exactly one open alert
// (alerts merged away are answered by an Absorbed change naming the survivor), updates never
// open a second alert, and the tracked episodes end equal to Episodes of the whole set.
func TestItemAlertsOncePerEpisode(t *testing.T) {
	r := DefaultRule
	sets := [][]Complaint{
		cs("10:00", "10:10", "10:29", "10:35", "10:40"),
		cs("10:00", "10:01", "10:02", "10:31", "11:02"),
		cs("10:00", "10:01", "10:02", "10:33", "10:34", "10:35"),
	}
	now := day.Add(48 * time.Hour)
	for _, set := range sets {
		want := summary(r, Episodes(r, set))
		permutations(set, func(order []Complaint) {
			it := Item{Rule: r}
			live := map[string]bool{}
			n := 0
			for _, c := range order {
				for _, ch := range it.Add(c, now, func() string { n++; return fmt.Sprintf("a%d", n) }) {
					switch ch.Kind {
					case Opened:
						if live[ch.AlertID] {
							t.Fatalf("alert %s opened twice", ch.AlertID)
						}
						live[ch.AlertID] = true
					case Absorbed:
						if !live[ch.AlertID] || !live[ch.MergedInto] || ch.MergedInto == ch.AlertID {
							t.Fatalf("absorbed %s into %s", ch.AlertID, ch.MergedInto)
						}
						delete(live, ch.AlertID)
					case Updated:
						if !live[ch.AlertID] {
							t.Fatalf("update of an alert never opened: %s", ch.AlertID)
						}
					}
				}
			}
			var eps []Episode
			for _, tr := range it.Episodes {
				if !live[tr.AlertID] {
					t.Fatalf("tracked episode %s has no open alert", tr.AlertID)
				}
				eps = append(eps, tr.Episode)
			}
			if len(live) != len(it.Episodes) {
				t.Fatalf("%d open alerts for %d episodes", len(live), len(it.Episodes))
			}
			if got := summary(r, eps); !reflect.DeepEqual(got, want) {
				t.Fatalf("tracked %v, want %v", got, want)
			}
		})
	}
}

func TestItemResolve(t *testing.T) {
	it := Item{Rule: DefaultRule}
	for _, c := range cs("10:00", "10:10", "10:29") {
		it.Add(c, at("10:30").FiledAt, func() string { return "a1" })
	}
	if _, ok := it.Resolve("a1", at("10:58").FiledAt); ok {
		t.Fatal("resolved before its end")
	}
	if tr, ok := it.Resolve("a1", at("10:59").FiledAt); !ok || tr.Status != Resolved {
		t.Fatalf("not resolved at its end: %+v %v", tr, ok)
	}
	if _, ok := it.Resolve("a1", at("11:00").FiledAt); ok {
		t.Fatal("resolved twice")
	}
	// A late complaint that joins reopens it while its new end is ahead.
	ch := it.Add(at("10:45"), at("11:01").FiledAt, func() string { return "a2" })
	if len(ch) != 1 || ch[0].Kind != Updated || ch[0].Status != Active || ch[0].AlertID != "a1" {
		t.Fatalf("late joiner: %+v", ch)
	}
}
