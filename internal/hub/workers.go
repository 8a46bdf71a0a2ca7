package hub

import (
	"runtime"
	"sync"
	"time"
)

// Tuning of a hub's writer pool (workers).
const (
	// stallAfter is how long the queue may wait without a writer taking from it before the
	// pool starts one more worker: what keeps signs whose writes block (a stalled peer, until
	// WriteTimeout) from delaying the others.
	stallAfter = 5 * time.Millisecond
	// workerIdle is how long a worker waits for a writer to run before it exits.
	workerIdle = 30 * time.Second
	// maxIdleWorkers bounds the workers waiting for work (each holds its stack).
	maxIdleWorkers = 256
)

// workers runs Pulled clients' writers (a wake's Pull and write) on a few goroutines that
// stay while there is work, instead of a goroutine per wake: a new goroutine's stack is fresh
// memory (page faults) grown by copying on its way into the write syscall, which cost about
// 15% of the hub's CPU in a fan-out to thousands of signs (make bench-signs, perf). Writers
// are taken in the order they were woken. At most 2×GOMAXPROCS workers (at least 4) start
// for the queue; a write to a peer whose buffers are full blocks its worker, so when the queue
// has not moved for stallAfter one more worker starts, and so on, and a stalled sign never
// holds up the others for longer than that.
type workers struct {
	mu     sync.Mutex
	queue  []func()
	head   int           // queue[head:] are waiting
	n      int           // workers running (busy or idle)
	idle   int           // workers waiting for a writer
	wakeup chan struct{} // a token per idle worker to wake (capacity maxIdleWorkers)
	taken  uint64        // writers taken from the queue so far: progress, for the stall check
	watch  *time.Timer   // the stall check, while writers wait
	seen   uint64        // taken when the stall check was armed
	armed  bool
	limit  int // workers started for the queue before the stall check has its say
}

func newWorkers() *workers {
	w := &workers{wakeup: make(chan struct{}, maxIdleWorkers), limit: max(4, 2*runtime.GOMAXPROCS(0))}
	w.watch = time.AfterFunc(time.Hour, w.check)
	w.watch.Stop()
	return w
}

// run queues f to run on a worker. It never waits.
func (w *workers) run(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = append(w.queue, f)
	switch {
	case len(w.wakeup) < w.idle:
		w.wakeup <- struct{}{} // an idle worker takes it; cannot block (idle ≤ capacity)
	case w.n < w.limit:
		w.start()
	}
	if !w.armed {
		w.armed, w.seen = true, w.taken
		w.watch.Reset(stallAfter)
	}
}

// start starts a worker. w.mu is held.
func (w *workers) start() {
	w.n++
	go w.loop()
}

// check is the stall check: writers waiting and none taken since it was armed (every worker
// busy in a write that does not finish) starts one more worker.
func (w *workers) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head == len(w.queue) {
		w.armed = false
		return
	}
	if w.taken == w.seen && len(w.wakeup) >= w.idle {
		w.start()
	}
	w.seen = w.taken
	w.watch.Reset(stallAfter)
}

func (w *workers) loop() {
	var idle *time.Timer
	w.mu.Lock()
	for {
		if w.head < len(w.queue) {
			f := w.queue[w.head]
			w.queue[w.head] = nil
			w.head++
			if w.head == len(w.queue) {
				w.queue, w.head = w.queue[:0], 0
			}
			w.taken++
			w.mu.Unlock()
			f()
			w.mu.Lock()
			continue
		}
		if w.idle >= cap(w.wakeup) {
			break // enough wait already
		}
		w.idle++
		w.mu.Unlock()
		if idle == nil {
			idle = time.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		timedOut := false
		select {
		case <-w.wakeup:
			idle.Stop()
		case <-idle.C:
			timedOut = true
		}
		w.mu.Lock()
		w.idle--
		if timedOut && w.head == len(w.queue) {
			break
		}
	}
	w.n--
	// A token sent for this worker as it timed out stays in the channel: the next worker to
	// wait takes it and finds the queue as it is (a spurious wake, harmless).
	w.mu.Unlock()
}
