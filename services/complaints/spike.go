// Package complaints holds the complaint spike rule: when enough complaints about the same SKU
// in the same store are filed close together, the store manager is alerted. It is pure logic
// over complaint times (event time, never arrival time); the service in complaints/app keeps the
// complaints in Postgres, runs the rule on every change and turns its episodes into alerts.
//
// The rule, with the defaults (Rule{Threshold: 3, Window: 30 * time.Minute}):
//
//   - a spike holds at time T when at least Threshold distinct complaints have filed_at in
//     [T − Window, T], both ends inclusive (10:00, 10:10, 10:30 is a spike; 10:00, 10:16, 10:31
//     is not);
//   - an episode opens at the first moment a spike holds and stays open until Window has
//     passed since its newest complaint; every complaint filed while it is open joins it
//     (10:00, 10:10, 10:29, 10:35, 10:40 is one episode, open from 10:29 to 11:10).
//
// Episodes are a function of the set of complaints: Episodes gives the same episodes for any
// order the complaints arrived in. Adding complaints only ever grows episodes, opens new ones
// or merges neighbours (a late complaint that bridges two episodes makes them one); it never
// splits or shrinks one, so a service can keep an episode's identity across arrivals.
package complaints

import (
	"cmp"
	"slices"
	"time"
)

// Complaint is what the rule needs of a complaint.
type Complaint struct {
	// ID is the complaint's id; a complaint counts once whatever its copies.
	ID string
	// FiledAt is when it was filed (event time).
	FiledAt time.Time
}

// Rule is the spike rule's settings.
type Rule struct {
	// Threshold is how many complaints make a spike. Default 3.
	Threshold int
	// Window is the span they must fall in, and how long an episode stays open after its
	// newest complaint. Default 30 minutes.
	Window time.Duration
}

// DefaultRule is 3 complaints within 30 minutes.
var DefaultRule = Rule{Threshold: 3, Window: 30 * time.Minute}

func (r Rule) withDefaults() Rule {
	if r.Threshold <= 0 {
		r.Threshold = DefaultRule.Threshold
	}
	if r.Window <= 0 {
		r.Window = DefaultRule.Window
	}
	return r
}

// Episode is one run of a spike for a store and SKU.
type Episode struct {
	// Members are the episode's complaints, by filed_at then id.
	Members []Complaint
	// Start is when the spike first held (the filed_at of the complaint that made it).
	Start time.Time
	// First and Last are the earliest and newest filed_at of its members.
	First, Last time.Time
}

// End is when the episode closes: Window after its newest complaint.
func (e Episode) End(r Rule) time.Time { return e.Last.Add(r.withDefaults().Window) }

// Open reports whether the episode is still open at now.
func (e Episode) Open(r Rule, now time.Time) bool { return now.Before(e.End(r)) }

// IDs returns the ids of the episode's members, in order.
func (e Episode) IDs() []string {
	out := make([]string, len(e.Members))
	for i, c := range e.Members {
		out[i] = c.ID
	}
	return out
}

// Has reports whether the complaint id is a member.
func (e Episode) Has(id string) bool {
	return slices.ContainsFunc(e.Members, func(c Complaint) bool { return c.ID == id })
}

// Sort orders complaints by filed_at, then id, and drops copies of an id (keeping the first
// in that order).
func Sort(cs []Complaint) []Complaint {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b Complaint) int {
		if c := a.FiledAt.Compare(b.FiledAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	seen := make(map[string]bool, len(out))
	return slices.DeleteFunc(out, func(c Complaint) bool {
		if seen[c.ID] {
			return true
		}
		seen[c.ID] = true
		return false
	})
}

// Episodes returns the episodes of one store and SKU's complaints, oldest first. The order of
// cs does not matter.
func Episodes(r Rule, cs []Complaint) []Episode {
	r = r.withDefaults()
	cs = Sort(cs)
	var out []Episode
	var cur *Episode
	for i, c := range cs {
		if cur != nil {
			if !c.FiledAt.After(cur.Last.Add(r.Window)) {
				cur.Members = append(cur.Members, c)
				cur.Last = c.FiledAt
				continue
			}
			out = append(out, *cur)
			cur = nil
		}
		// Does a spike hold at c.FiledAt? Count the complaints in [T − Window, T], the ones
		// filed at the same instant after c included.
		from := c.FiledAt.Add(-r.Window)
		lo := i
		for lo > 0 && !cs[lo-1].FiledAt.Before(from) {
			lo--
		}
		hi := i + 1
		for hi < len(cs) && cs[hi].FiledAt.Equal(c.FiledAt) {
			hi++
		}
		if hi-lo < r.Threshold {
			continue
		}
		// The complaints before c in the window open the episode with it; those filed at the
		// same instant after c join on the next turns. None of them is in an earlier episode:
		// that one closed more than Window before c.
		cur = &Episode{Members: slices.Clone(cs[lo : i+1]), Start: c.FiledAt, First: cs[lo].FiledAt, Last: c.FiledAt}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}
