// Package clock is the time source of FreshMart's clock-driven code (the timers of the
// exactly-once consumer in internal/stream, the job scheduler in internal/schedule): the
// system clock in production, a Manual clock that a test moves by hand.
//
// Code that waits for a point in time calls Until(c, t) rather than c.After(t.Sub(c.Now())):
// with a Manual clock the two steps of the latter race with Advance (the clock can move between
// Now and After, and the wait then ends late), while Until registers the deadline itself.
//
// Operational waits (a back-off after a failure, a poll interval) use real time, not a Clock:
// a test that holds its Manual clock still still gets its retries.
package clock

import (
	"slices"
	"sync"
	"time"
)

// Clock tells the time and waits for it.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the clock's time once d has passed on the clock.
	After(d time.Duration) <-chan time.Time
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// untiler is implemented by clocks that wait for an absolute time in one step.
type untiler interface {
	Until(t time.Time) <-chan time.Time
}

// Until returns a channel that receives once c reaches t: at once when c is already at or past
// t. Clocks with an Until method (Manual) register t in one step; for others it is
// c.After(t.Sub(c.Now())).
func Until(c Clock, t time.Time) <-chan time.Time {
	if u, ok := c.(untiler); ok {
		return u.Until(t)
	}
	return c.After(t.Sub(c.Now()))
}

// Manual is a Clock that moves only when told to (Advance, Set): tests use it to make timers and
// scheduled jobs due without waiting. Channels returned by After and Until receive when the
// clock is moved to or past their deadline. It is safe for concurrent use.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewManual returns a Manual clock showing t0.
func NewManual(t0 time.Time) *Manual { return &Manual{now: t0} }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// After returns a channel that receives once the clock has been moved d past its current time.
func (m *Manual) After(d time.Duration) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.until(m.now.Add(d))
}

// Until returns a channel that receives once the clock is at or past t (at once if it is).
func (m *Manual) Until(t time.Time) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.until(t)
}

func (m *Manual) until(t time.Time) <-chan time.Time {
	ch := make(chan time.Time, 1)
	if !t.After(m.now) {
		ch <- m.now
		return ch
	}
	m.waiters = append(m.waiters, waiter{at: t, ch: ch})
	return ch
}

// Advance moves the clock forward by d (d < 0 is ignored) and wakes the waits that are due.
func (m *Manual) Advance(d time.Duration) {
	if d < 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.set(m.now.Add(d))
}

// Set moves the clock to t and wakes the waits that are due. A t before the clock's time is
// ignored: the clock never goes back.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.After(m.now) {
		m.set(t)
	}
}

func (m *Manual) set(t time.Time) {
	m.now = t
	m.waiters = slices.DeleteFunc(m.waiters, func(w waiter) bool {
		if w.at.After(t) {
			return false
		}
		w.ch <- t
		return true
	})
}

// Waiting reports whether something waits (After, Until) for the clock to reach exactly t.
// Tests use it to know that a loop has seen a deadline and gone to sleep on it before they move
// the clock.
func (m *Manual) Waiting(t time.Time) bool { return m.Waiters(t) > 0 }

// Waiters returns how many waits (After, Until) wait for the clock to reach exactly t,
// including those whose channel nobody reads any more.
func (m *Manual) Waiters(t time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, w := range m.waiters {
		if w.at.Equal(t) {
			n++
		}
	}
	return n
}
