package server

import "testing"

func TestBufPoolClasses(t *testing.T) {
	tests := []struct {
		n, wantCap int
	}{
		{0, 16 << 10},
		{1, 16 << 10},
		{16 << 10, 16 << 10},
		{16<<10 + 1, 64 << 10},
		{1 << 20, 1 << 20},
		{3 << 20, 4 << 20},
		{5 << 20, 8 << 20},
		{9 << 20, 9 << 20}, // above every class: exact size
	}
	for _, tc := range tests {
		b := getBuf(tc.n)
		if len(*b) != 0 || cap(*b) < tc.n || cap(*b) != tc.wantCap {
			t.Errorf("getBuf(%d): len %d cap %d, want len 0 cap %d", tc.n, len(*b), cap(*b), tc.wantCap)
		}
		putBuf(b)
	}
}

func TestBufPoolBounded(t *testing.T) {
	// Return far more than the cap; the idle bytes must stay within it, and
	// every buffer handed out afterwards must still fit its request.
	var bufs []*[]byte
	for range 3 * maxPooledBytes / (1 << 20) {
		bufs = append(bufs, getBuf(1<<20))
	}
	huge := make([]byte, 0, 17<<20)
	bufs = append(bufs, &huge)
	for _, b := range bufs {
		*b = append(*b, 1, 2, 3)
		putBuf(b)
	}
	if got := pooledBytesNow(); got > maxPooledBytes || got <= 0 {
		t.Fatalf("pooled bytes %d, want 1..%d", got, maxPooledBytes)
	}
	for range len(bufs) {
		b := getBuf(1 << 20)
		if len(*b) != 0 || cap(*b) < 1<<20 {
			t.Fatalf("getBuf(1 MiB) after returns: len %d cap %d", len(*b), cap(*b))
		}
	}
	if got := pooledBytesNow(); got < 0 {
		t.Fatalf("pooled bytes %d after draining", got)
	}
}

func pooledBytesNow() int {
	bufPool.mu.Lock()
	defer bufPool.mu.Unlock()
	sum := 0
	for i, free := range bufPool.free {
		n := 0
		for _, b := range free {
			n += cap(*b)
		}
		if n != bufPool.idle[i] {
			panic("idle bytes out of step with the free list")
		}
		sum += n
	}
	if sum != bufPool.pooled {
		panic("pooled bytes out of step with the free lists")
	}
	return sum
}

// TestBufPoolMakesRoomForNewSizes fills the pool with one size, then
// returns buffers of another: they must be kept (older idle buffers of the
// first size make room), so a load that moves from fetching to producing
// keeps reusing its buffers.
func TestBufPoolMakesRoomForNewSizes(t *testing.T) {
	var small []*[]byte
	for range maxPooledBytes / (1 << 20) {
		small = append(small, getBuf(1<<20))
	}
	for _, b := range small {
		putBuf(b)
	}
	big := getBuf(8 << 20)
	putBuf(big)
	if again := getBuf(8 << 20); again != big {
		t.Fatal("8 MiB buffer not kept by a pool full of 1 MiB buffers")
	}
	if got := pooledBytesNow(); got > maxPooledBytes {
		t.Fatalf("pooled bytes %d over the cap %d", got, maxPooledBytes)
	}
}
