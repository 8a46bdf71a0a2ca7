package hub

import (
	"sync"
	"testing"
	"time"
)

// TestWorkersRunEveryWriter: writers queued far faster than the few workers take them each
// run once, on a handful of goroutines rather than one each.
func TestWorkersRunEveryWriter(t *testing.T) {
	w := newWorkers()
	const n = 5000
	ran := make([]int, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		w.run(func() { ran[i]++; wg.Done() })
	}
	wg.Wait()
	for i, k := range ran {
		if k != 1 {
			t.Fatalf("writer %d ran %d times", i, k)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n > n/10 {
		t.Fatalf("%d workers ran %d writers that never block (limit %d)", w.n, n, w.limit)
	}
}

// TestWorkersOutgrowStalledWriters: writers blocked in their writes (stalled peers) hold every
// worker; the next writer still runs, on a worker started because the queue stopped moving.
func TestWorkersOutgrowStalledWriters(t *testing.T) {
	w := newWorkers()
	release := make(chan struct{})
	defer close(release)
	var started sync.WaitGroup
	started.Add(w.limit)
	for range w.limit {
		w.run(func() { started.Done(); <-release })
	}
	started.Wait()
	ran := make(chan struct{})
	w.run(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatalf("a writer queued behind %d stalled ones never ran", w.limit)
	}
}
