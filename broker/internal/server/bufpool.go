package server

import "sync"

// Buffers for request frames, encoded responses and fetched record data
// come from a pool shared by all connections, so an idle connection holds
// none and memory follows the data in flight, not the data retained.
//
// The pool keeps buffers in size classes (bufClasses): a request gets a
// buffer of the smallest class that holds it, so a small request never pins
// a large buffer and a large one never grows a small buffer in place. The
// bytes kept idle in the pool are capped at maxPooledBytes over all
// classes; a buffer larger than the largest class is left to the garbage
// collector, and a full pool drops idle buffers of other sizes first. Unlike a sync.Pool, the pool's
// size therefore does not depend on GC timing, which keeps the resident
// size predictable.

// bufClasses are the buffer capacities the pool hands out, smallest first.
var bufClasses = [...]int{16 << 10, 64 << 10, 256 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20}

// maxPooledBytes caps the capacity of all idle pooled buffers together.
const maxPooledBytes = 16 << 20

// bufPool holds the idle buffers of every class under one lock (a handful
// of operations per request; contention is negligible).
var bufPool struct {
	mu     sync.Mutex
	free   [len(bufClasses)][]*[]byte
	idle   [len(bufClasses)]int // idle bytes per class
	pooled int                  // idle bytes in all classes
}

// classFor returns the index of the smallest class holding n bytes, or -1
// if n is larger than every class.
func classFor(n int) int {
	for i, c := range bufClasses {
		if n <= c {
			return i
		}
	}
	return -1
}

// getBuf returns an empty buffer with capacity for at least n bytes: from
// the pool when its class has one, else newly allocated.
func getBuf(n int) *[]byte {
	ci := classFor(n)
	if ci < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	bp := &bufPool
	bp.mu.Lock()
	if k := len(bp.free[ci]); k > 0 {
		b := bp.free[ci][k-1]
		bp.free[ci][k-1] = nil
		bp.free[ci] = bp.free[ci][:k-1]
		bp.idle[ci] -= cap(*b)
		bp.pooled -= cap(*b)
		bp.mu.Unlock()
		return b
	}
	bp.mu.Unlock()
	b := make([]byte, 0, bufClasses[ci])
	return &b
}

// putBuf returns b to the pool, filed under the largest class its capacity
// covers. Buffers smaller than the smallest class or more than twice the
// largest are dropped. When the pool is full, idle buffers of the other
// class holding the most idle bytes are dropped to make room (the load has
// moved on to other sizes, say from fetching to producing); if only b's own
// class holds idle bytes, b is dropped.
func putBuf(b *[]byte) {
	size := cap(*b)
	if size < bufClasses[0] || size > 2*bufClasses[len(bufClasses)-1] {
		return
	}
	ci := len(bufClasses) - 1
	for bufClasses[ci] > size {
		ci--
	}
	*b = (*b)[:0]
	bp := &bufPool
	bp.mu.Lock()
	defer bp.mu.Unlock()
	for bp.pooled+size > maxPooledBytes {
		victim := -1
		for i, n := range bp.idle {
			if i != ci && n > 0 && (victim < 0 || n > bp.idle[victim]) {
				victim = i
			}
		}
		if victim < 0 {
			return
		}
		k := len(bp.free[victim]) - 1
		v := bp.free[victim][k]
		bp.free[victim][k] = nil
		bp.free[victim] = bp.free[victim][:k]
		bp.idle[victim] -= cap(*v)
		bp.pooled -= cap(*v)
	}
	bp.free[ci] = append(bp.free[ci], b)
	bp.idle[ci] += size
	bp.pooled += size
}
