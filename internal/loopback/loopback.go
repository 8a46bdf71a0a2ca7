// Package loopback hands out 127.0.0.1 ports for child processes to listen on: tests and
// benches that start the broker, Postgres or a service as a process of its own give it an
// address before it starts, because the child cannot be handed a listener.
//
// A port is checked free by listening on it and closing again, so it is free a moment later
// unless something else takes it in between. Two things could:
//
//   - this process asking again: the kernel's port-0 listener often offers a port it has just
//     offered (CI saw two services of one platform test given the same port). A port is never
//     handed out twice by one process.
//   - any outgoing connection on the machine, whose local port the kernel takes from the
//     ephemeral range (Linux: 32768-60999), as it does for port-0 listeners. The ports come
//     from 10000-19999 instead, below that range, where only a program that asks for a port
//     by number can take one.
package loopback

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// The range ports are chosen from.
const (
	first = 10000
	count = 10000
)

var (
	mu     sync.Mutex
	issued = map[int]bool{}
)

// Port returns a 127.0.0.1 port of 10000-19999 that was free a moment ago and that this
// process has not handed out before.
func Port() (int, error) { return portIn(first, count) }

// portIn is Port choosing from the n ports from lo on.
func portIn(lo, n int) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	start := rand.IntN(n)
	for i := range n {
		port := lo + (start+i)%n
		if issued[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken
		}
		ln.Close()
		issued[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("loopback: no free port found in %d-%d (%d handed out so far)", lo, lo+n-1, len(issued))
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
