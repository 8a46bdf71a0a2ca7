package events

import (
	"runtime"
	"testing"
)

func TestAcceptedForgetsOldest(t *testing.T) {
	r := NewAccepted(2)
	r.Put("a", Position{Partition: 1, Offset: 10})
	r.Put("b", Position{Partition: 2, Offset: 20})
	r.Put("a", Position{Partition: 9, Offset: 99}) // known: the first answer stays
	r.Put("c", Position{Partition: 3, Offset: 30}) // full: a is forgotten
	tests := []struct {
		id   string
		want Position
		ok   bool
	}{
		{"a", Position{}, false},
		{"b", Position{Partition: 2, Offset: 20}, true},
		{"c", Position{Partition: 3, Offset: 30}, true},
	}
	for _, tt := range tests {
		if got, ok := r.Get(tt.id); ok != tt.ok || got != tt.want {
			t.Errorf("Get(%s) = %+v, %v; want %+v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAcceptedJoinsFlights(t *testing.T) {
	a := NewAccepted(10)
	started := 0
	f0 := &Flight{ID: "s1", done: make(chan struct{})}
	start := func() (*Flight, error) { started++; return f0, nil }
	f, joined, err := a.Start("sale/s1", start)
	if err != nil || joined || f != f0 {
		t.Fatalf("first Start: %v %v %v", f, joined, err)
	}
	if f, joined, _ := a.Start("sale/s1", start); !joined || f != f0 || started != 1 {
		t.Fatalf("a retry in flight must join it: joined %v, started %d", joined, started)
	}
	close(f0.done) // acknowledged: the flight is forgotten, the caller records the position
	for {
		a.mu.Lock()
		n := len(a.flights)
		a.mu.Unlock()
		if n == 0 {
			break
		}
		runtime.Gosched()
	}
	f1 := &Flight{ID: "s1", done: make(chan struct{})}
	if f, joined, _ := a.Start("sale/s1", func() (*Flight, error) { started++; return f1, nil }); joined || f != f1 || started != 2 {
		t.Fatalf("after the flight ended a new one starts: joined %v, started %d", joined, started)
	}
}
