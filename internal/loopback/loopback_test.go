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
	// Hold every port of the range but a few: those are the only ones Port may return.
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	free := map[int]bool{}
	for p := first; p < first+count; p++ {
		if p%1000 == 7 && !issued[p] {
			free[p] = true
			continue
		}
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			held = append(held, ln)
		}
	}
	for range len(free) {
		port, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if !free[port] {
			t.Fatalf("Port returned %d, which is taken", port)
		}
	}
}
