package server

import (
	"sync"
	"sync/atomic"
)

// Buffers for request frames, encoded responses and fetched record data
// come from a pool shared by all connections, so an idle connection holds
// none and memory follows the data in flight, not the data retained.
//
// The pool keeps buffers in size classes (bufClasses): a request gets a
// buffer of the smallest class that holds it, so a small request never pins
// a large buffer and a large one never grows a small buffer in place. The
// bytes kept idle in the pool are capped at maxPooledBytes over all
// classes; a buffer returned beyond the cap, or larger than the largest
// class, is left to the garbage collector. Unlike a sync.Pool, the pool's
// size therefore does not depend on GC timing, which keeps the resident
// size predictable.

// bufClasses are the buffer capacities the pool hands out, smallest first.
var bufClasses = [...]int{16 << 10, 64 << 10, 256 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20}

// maxPooledBytes caps the capacity of all idle pooled buffers together.
const maxPooledBytes = 16 << 20

type bufClass struct {
	mu   sync.Mutex
	free []*[]byte
}

var (
	bufFree     [len(bufClasses)]bufClass
	pooledBytes atomic.Int64
)

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
	c := &bufFree[ci]
	c.mu.Lock()
	if k := len(c.free); k > 0 {
		b := c.free[k-1]
		c.free[k-1] = nil
		c.free = c.free[:k-1]
		c.mu.Unlock()
		pooledBytes.Add(-int64(cap(*b)))
		return b
	}
	c.mu.Unlock()
	b := make([]byte, 0, bufClasses[ci])
	return &b
}

// putBuf returns b to the pool, filed under the largest class its capacity
// covers. Buffers smaller than the smallest class, more than twice the
// largest class, or beyond the pool's byte cap are dropped.
func putBuf(b *[]byte) {
	size := cap(*b)
	if size < bufClasses[0] || size > 2*bufClasses[len(bufClasses)-1] {
		return
	}
	ci := len(bufClasses) - 1
	for bufClasses[ci] > size {
		ci--
	}
	if pooledBytes.Add(int64(size)) > maxPooledBytes {
		pooledBytes.Add(-int64(size))
		return
	}
	*b = (*b)[:0]
	c := &bufFree[ci]
	c.mu.Lock()
	c.free = append(c.free, b)
	c.mu.Unlock()
}
