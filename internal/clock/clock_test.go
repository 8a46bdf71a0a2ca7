package clock

import (
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	t0 := time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)
	m := NewManual(t0)
	if !m.Now().Equal(t0) {
		t.Fatalf("Now = %v", m.Now())
	}
	a := m.After(time.Minute)
	u := Until(m, t0.Add(2*time.Minute))
	past := Until(m, t0.Add(-time.Hour))
	select {
	case <-past:
	default:
		t.Fatal("Until a past time did not receive at once")
	}
	m.After(time.Minute)
	if !m.Waiting(t0.Add(time.Minute)) || m.Waiters(t0.Add(time.Minute)) != 2 || !m.Waiting(t0.Add(2*time.Minute)) || m.Waiting(t0) {
		t.Fatal("Waiting wrong")
	}
	m.Advance(30 * time.Second)
	select {
	case <-a:
		t.Fatal("After(1m) fired after 30s")
	case <-u:
		t.Fatal("Until fired early")
	default:
	}
	m.Advance(30 * time.Second)
	if got := <-a; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("After received %v", got)
	}
	select {
	case <-u:
		t.Fatal("Until fired early")
	default:
	}
	m.Set(t0) // never backwards
	if !m.Now().Equal(t0.Add(time.Minute)) {
		t.Fatalf("Set moved the clock back to %v", m.Now())
	}
	m.Set(t0.Add(time.Hour))
	<-u
	if m.Waiting(t0.Add(2 * time.Minute)) {
		t.Fatal("a woken wait is still listed")
	}
}

func TestReal(t *testing.T) {
	c := Real()
	before := time.Now()
	<-Until(c, before.Add(time.Millisecond))
	if c.Now().Before(before.Add(time.Millisecond)) {
		t.Fatal("Until returned early")
	}
	<-c.After(0)
}
