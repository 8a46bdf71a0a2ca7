package schedule

import (
	"time"

	"github.com/robfig/cron/v3"
)

// slots turns a cron schedule read on the wall clock of a location into instants. The cron
// fields are matched against the local calendar (robfig/cron evaluates them in UTC, where no
// hour is skipped or repeated), and each local reading is mapped to one instant:
//
//   - a reading the clocks show twice (fall back) is its first occurrence, so "30 1 * * *"
//     runs once on that day, and an hourly job has no slots in the repeated hour;
//   - a reading the clocks skip (spring forward) is the instant that reading names in the
//     offset before the change, an hour later on the wall clock: "30 2 * * *" runs at 03:30.
type slots struct {
	spec cron.Schedule // evaluated on UTC-coded wall-clock readings
	loc  *time.Location
}

// after returns the first slot strictly after t, or the zero time when the schedule has none in
// the next five years.
func (s slots) after(t time.Time) time.Time {
	w := wall(t, s.loc)
	// Readings whose instant is not after t are the second occurrences of an overlap: at most an
	// hour of them.
	for range 100_000 {
		w = s.spec.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := instant(w, s.loc); at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// latest returns the latest slot s with from < s <= now.
func (s slots) latest(from, now time.Time) (time.Time, bool) {
	var last time.Time
	for at := s.after(from); !at.IsZero() && !at.After(now); at = s.after(at) {
		last = at
	}
	return last, !last.IsZero()
}

// maxLookBack bounds how far back latestSince looks for a missed slot.
const maxLookBack = 400 * 24 * time.Hour

// latestSince returns the latest slot in (since, now], looking back at most maxLookBack, in
// windows growing from an hour so that a frequent schedule is not walked from far back.
func (s slots) latestSince(since, now time.Time) (time.Time, bool) {
	for window := time.Hour; ; window *= 4 {
		from := now.Add(-window)
		if window >= maxLookBack || !from.After(since) {
			return s.latest(later(since, now.Add(-maxLookBack)), now)
		}
		if at, ok := s.latest(from, now); ok {
			return at, true
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// wall returns t's wall-clock reading in loc, coded as a UTC time.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instant returns the first instant whose wall-clock reading in loc is w (UTC-coded); for a
// reading the clocks skip, the instant it names in the offset in force before the change.
// (time.Date leaves both cases unspecified, and does pick differently in different zones.)
func instant(w time.Time, loc *time.Location) time.Time {
	guess := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	_, before := guess.Add(-24 * time.Hour).Zone()
	_, after := guess.Add(24 * time.Hour).Zone()
	var first time.Time
	for _, off := range []int{before, after} {
		at := w.Add(-time.Duration(off) * time.Second)
		if wall(at, loc).Equal(w) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	if first.IsZero() {
		first = w.Add(-time.Duration(before) * time.Second)
	}
	return first.In(loc)
}
