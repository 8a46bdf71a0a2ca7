package complaints

import (
	"slices"
	"time"
)

// Status is where a tracked episode stands.
type Status string

// Statuses of a tracked episode.
const (
	// Active: the window after its newest complaint has not passed yet.
	Active Status = "active"
	// Resolved: it has (the service's timer noticed).
	Resolved Status = "resolved"
	// Merged: a late complaint made it part of an earlier episode (MergedInto).
	Merged Status = "merged"
)

// Tracked is an episode with the identity the service gave it when it opened: its alert id,
// kept while complaints join it, and its status.
type Tracked struct {
	AlertID string
	Episode
	Status     Status
	MergedInto string
}

// ChangeKind says what an arrival did to an episode.
type ChangeKind int

// What an arrival can do to an episode.
const (
	// Opened: a new episode, to alert on (alert.complaint_spike).
	Opened ChangeKind = iota + 1
	// Updated: complaints joined it, or it absorbed merged episodes (Merged lists them).
	Updated
	// Absorbed: it became part of an earlier episode (its MergedInto).
	Absorbed
)

// Change is one effect of an arrival on one episode, with the episode as it now stands.
type Change struct {
	Kind ChangeKind
	Tracked
	// Merged are the alert ids Updated absorbed.
	Merged []string
}

// Item is one store and SKU as the service tracks it: its complaints and its episodes (merged
// ones left out). Add keeps both up to date and says what changed.
type Item struct {
	Rule       Rule
	Complaints []Complaint
	Episodes   []Tracked
}

// Add adds complaint c, filed for this store and SKU, at now (the service's clock), and returns
// what it changed: at most one opened or updated episode, and the episodes it merged into that
// one. A complaint id already known changes nothing. newID names the alert of an episode the
// complaint opens. An updated episode that had been resolved is active again when its new end
// is after now; an episode's status otherwise stays what it was (the service resolves it when
// its end passes).
func (it *Item) Add(c Complaint, now time.Time, newID func() string) []Change {
	if slices.ContainsFunc(it.Complaints, func(k Complaint) bool { return k.ID == c.ID }) {
		return nil
	}
	it.Complaints = append(it.Complaints, c)
	rule := it.Rule.withDefaults()
	var changes []Change
	var next []Tracked
	for _, e := range Episodes(rule, it.Complaints) {
		var olds []Tracked
		for _, t := range it.Episodes {
			if slices.ContainsFunc(t.Members, func(m Complaint) bool { return e.Has(m.ID) }) {
				olds = append(olds, t)
			}
		}
		switch {
		case len(olds) == 0:
			// An episode known only now and over already is still alerted; the service's timer,
			// due at once, resolves it.
			t := Tracked{AlertID: newID(), Episode: e, Status: Active}
			next = append(next, t)
			changes = append(changes, Change{Kind: Opened, Tracked: t})
		default:
			// The earliest opened keeps its identity; the rest are merged into it.
			slices.SortFunc(olds, func(a, b Tracked) int {
				if c := a.Start.Compare(b.Start); c != 0 {
					return c
				}
				return compareStrings(a.AlertID, b.AlertID)
			})
			keep := olds[0]
			t := Tracked{AlertID: keep.AlertID, Episode: e, Status: keep.Status}
			if t.Status == Resolved && e.Open(rule, now) {
				t.Status = Active
			}
			next = append(next, t)
			var merged []string
			for _, o := range olds[1:] {
				merged = append(merged, o.AlertID)
				changes = append(changes, Change{Kind: Absorbed,
					Tracked: Tracked{AlertID: o.AlertID, Episode: o.Episode, Status: Merged, MergedInto: keep.AlertID}})
			}
			if len(merged) > 0 || len(e.Members) != len(keep.Members) || !e.Start.Equal(keep.Start) {
				changes = append(changes, Change{Kind: Updated, Tracked: t, Merged: merged})
			}
		}
	}
	// An episode no recomputed one covers can only be one whose complaints the service did not
	// load (older than it looks back); it is kept as it was.
	for _, t := range it.Episodes {
		if !slices.ContainsFunc(next, func(n Tracked) bool {
			return n.AlertID == t.AlertID || slices.ContainsFunc(changes, func(c Change) bool { return c.AlertID == t.AlertID })
		}) {
			next = append(next, t)
		}
	}
	it.Episodes = next
	return changes
}

// Resolve marks the episode alertID resolved when its end is at or before now and it is still
// active, and returns it; ok is false when there is nothing to resolve (it grew since, it is
// already resolved or merged, or it is unknown).
func (it *Item) Resolve(alertID string, now time.Time) (t Tracked, ok bool) {
	rule := it.Rule.withDefaults()
	for i := range it.Episodes {
		e := &it.Episodes[i]
		if e.AlertID != alertID {
			continue
		}
		if e.Status != Active || e.Open(rule, now) {
			return *e, false
		}
		e.Status = Resolved
		return *e, true
	}
	return Tracked{}, false
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
