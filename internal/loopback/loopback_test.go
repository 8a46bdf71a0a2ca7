package loopback

import (
	"net"
	"strconv"
	"testing"
)

func TestPortsAreNeverRepeated(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		port, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		if port < first || port >= first+count {
			t.Fatalf("port %d outside %d-%d", port, first, first+count-1)
		}
		seen[port] = true
	}
}

func TestAddrCanBeListenedOn(t *testing.T) {
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ln.Close()
}

func TestTakenPortIsNotHandedOut(t *testing.T) {
	// A range of 40 ports (kept apart from the one Port uses) of which all but three are held
	// by listeners: only those three can be handed out, and then nothing.
	const lo, n = 21000, 40
	free := map[int]bool{lo + 3: true, lo + 17: true, lo + 38: true}
	mu.Lock()
	for p := lo; p < lo+n; p++ {
		delete(issued, p) // handed out by an earlier run of this test (-count)
	}
	mu.Unlock()
	for p := lo; p < lo+n; p++ {
		if free[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Skipf("port %d is not free on this machine: %v", p, err)
		}
		defer ln.Close()
	}
	got := map[int]bool{}
	for range len(free) {
		port, err := portIn(lo, n)
		if err != nil {
			t.Fatal(err)
		}
		if !free[port] || got[port] {
			t.Fatalf("portIn returned %d (free: %v, already returned: %v)", port, free, got)
		}
		got[port] = true
	}
	if port, err := portIn(lo, n); err == nil {
		t.Fatalf("portIn returned %d with every port taken or handed out", port)
	}
}
