package loyalty

import (
	"slices"
	"time"
)

// Tier is a tier and the points earned in the last 12 months it starts from.
type Tier struct {
	Name      string
	MinPoints int64
}

// DefaultTiers are the tiers the migration seeds: Green from 0, Silver from 1,000, Gold from
// 5,000.
var DefaultTiers = []Tier{{"Green", 0}, {"Silver", 1000}, {"Gold", 5000}}

// TierFor returns the name of the highest tier whose threshold points reaches (the lowest tier
// when none does).
func TierFor(points int64, tiers []Tier) string {
	if len(tiers) == 0 {
		return ""
	}
	ts := slices.Clone(tiers)
	slices.SortFunc(ts, func(a, b Tier) int { return int(min(max(a.MinPoints-b.MinPoints, -1), 1)) })
	name := ts[0].Name
	for _, t := range ts {
		if points >= t.MinPoints {
			name = t.Name
		}
	}
	return name
}

// WindowStart is the start of the 12-month window ending at now: an entry counts when its
// CountsAt is after it. Months are calendar months in UTC (time.AddDate).
func WindowStart(now time.Time) time.Time { return now.UTC().AddDate(-1, 0, 0) }

// Counted is what the 12-month window needs of an entry: its points and the time it counts at.
type Counted struct {
	Points   int64
	CountsAt time.Time
}

// Standing is a member's 12-month figure as of a time.
type Standing struct {
	// Points12m is the sum of earnings and reversals counting after WindowStart(now).
	Points12m int64
	// Tier is TierFor(Points12m).
	Tier string
	// NextChange is the first time after now at which an entry leaves the window (zero when
	// none will): the member's standing must be computed again then.
	NextChange time.Time
}

// StandingAt computes the standing as of now from a member's earnings and reversals
// (redemptions do not count toward tiers). Entries counting after now count already (a
// register's clock may run ahead).
func StandingAt(entries []Counted, now time.Time, tiers []Tier) Standing {
	start := WindowStart(now)
	var s Standing
	for _, e := range entries {
		if !e.CountsAt.After(start) {
			continue
		}
		s.Points12m += e.Points
		// The entry leaves the window when now reaches CountsAt + 12 months.
		leaves := e.CountsAt.UTC().AddDate(1, 0, 0)
		if s.NextChange.IsZero() || leaves.Before(s.NextChange) {
			s.NextChange = leaves
		}
	}
	s.Tier = TierFor(s.Points12m, tiers)
	return s
}
