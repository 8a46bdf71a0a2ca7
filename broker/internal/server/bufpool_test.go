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
	if got := pooledBytes.Load(); got > maxPooledBytes || got <= 0 {
		t.Fatalf("pooled bytes %d, want 1..%d", got, maxPooledBytes)
	}
	for range len(bufs) {
		b := getBuf(1 << 20)
		if len(*b) != 0 || cap(*b) < 1<<20 {
			t.Fatalf("getBuf(1 MiB) after returns: len %d cap %d", len(*b), cap(*b))
		}
	}
	if got := pooledBytes.Load(); got < 0 {
		t.Fatalf("pooled bytes %d after draining", got)
	}
}
