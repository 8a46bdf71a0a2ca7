// Package loopback hands out 127.0.0.1 ports for child processes to listen on: tests and
// benches that start the broker, Postgres or a service as a process of its own give it an
// address before it starts, because the child cannot be handed a listener.
//
// A port is one the kernel chose for a listener on port 0, closed again at once, so it is free
// a moment later unless something else takes it. The kernel can choose the same port again for
// the next listener (CI saw two services of one platform test given the same port), so a port
// is never handed out twice by one process: a repeat is asked for again.
package loopback

import (
	"fmt"
	"net"
	"sync"
)

var (
	mu     sync.Mutex
	issued = map[int]bool{}
)

// Port returns a 127.0.0.1 port that was free a moment ago and that this process has not
// handed out before.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("loopback: find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !issued[port] {
			issued[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("loopback: the kernel offered only ports already handed out (%d so far)", len(issued))
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
