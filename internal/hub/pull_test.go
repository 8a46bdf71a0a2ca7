package hub

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// view is the state the pulled clients of a test make their frames from: one number, sent
// when it is newer than what the client was last sent. A negative number makes Pull fail.
type view struct {
	mu    sync.Mutex
	val   int
	gate  chan struct{} // when set, Pull waits for it to close (a busy writer)
	pulls int
}

func (v *view) set(n int) {
	v.mu.Lock()
	v.val = n
	v.mu.Unlock()
}

// pull returns the Pull of one client.
func (v *view) pull() func(dst []byte) ([]byte, error) {
	sent := 0
	return func(dst []byte) ([]byte, error) {
		v.mu.Lock()
		gate := v.gate
		v.pulls++
		v.mu.Unlock()
		if gate != nil {
			<-gate
		}
		v.mu.Lock()
		n := v.val
		v.mu.Unlock()
		switch {
		case n < 0:
			return nil, websocket.CloseError{Code: websocket.StatusTryAgainLater, Reason: "too far behind"}
		case n == sent:
			return dst, nil
		}
		sent = n
		return strconv.AppendInt(dst, int64(n), 10), nil
	}
}

// servePulled starts an HTTP server that serves every websocket as a Pulled client of the
// query's topic with Go, its frames pulled from v; the handler returns at once. ended
// receives what each session's done is given.
func servePulled(t *testing.T, h *Hub, v *view) (url string, ended chan error, end context.CancelFunc) {
	t.Helper()
	ctx, end := context.WithCancel(context.Background())
	ended = make(chan error, 64)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := h.Subscribe(ClientConfig{Topics: []string{r.URL.Query().Get("topic")}, Pulled: true})
		c.Go(ctx, conn, ServeOptions{First: [][]byte{[]byte("hello")}, Pull: v.pull()}, func(err error) { ended <- err })
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(end)
	return "ws" + strings.TrimPrefix(hs.URL, "http"), ended, end
}

func dialPulled(t *testing.T, ctx context.Context, url, topic string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, url+"/?topic="+topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if got, err := readN(ctx, conn, 1); err != nil || got[0] != "hello" {
		t.Fatalf("first frame %q, %v; want hello", got, err)
	}
	return conn
}

// TestPulledClientCatchesUp: a Pulled client is written what Pull makes each time it is woken,
// by Wake or by a Publish to its topic; wakes while its writer is busy make it pull once more
// when done, so it skips straight to the latest state; a client of another topic is not
// woken; a Pull error that is a CloseError closes the websocket with its code.
func TestPulledClientCatchesUp(t *testing.T) {
	h, _ := newHub(t, Config{})
	v := &view{}
	url, ended, _ := servePulled(t, h, v)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn := dialPulled(t, ctx, url, "S001")
	other := dialPulled(t, ctx, url, "S002")
	// Each got its First frame; its writer then pulls once more (nothing yet) and returns. A
	// writer still pulling when the value moves on would send it early.
	waitFor(t, func() bool { return h.Writing() == 0 })

	v.set(1)
	h.Wake([]string{"S001"})
	if got, err := readN(ctx, conn, 1); err != nil || got[0] != "1" {
		t.Fatalf("after a wake: %q, %v", got, err)
	}

	// The writer is busy (Pull waits at the gate) while the value moves on twice and two more
	// wakes come: once through, it is written the latest value, then the next, and nothing
	// in between.
	gate := make(chan struct{})
	waitFor(t, func() bool { return h.Writing() == 0 }) // the other client's first writer is done too
	v.mu.Lock()
	v.gate, v.pulls = gate, 0
	v.mu.Unlock()
	v.set(2)
	h.Wake([]string{"S001"})
	waitFor(t, func() bool { v.mu.Lock(); defer v.mu.Unlock(); return v.pulls > 0 }) // at the gate
	if n := h.Writing(); n != 1 {
		t.Fatalf("Writing() = %d with one writer at the gate", n)
	}
	v.set(3)
	h.Wake([]string{"S001"})
	h.Publish(Message{Topics: []string{"S001"}, Data: []byte("ignored: a Pulled client has no queue")})
	v.mu.Lock()
	v.gate = nil
	v.mu.Unlock()
	close(gate)
	v.set(4)
	h.Publish(Message{Topics: []string{"S001"}})
	got, err := readN(ctx, conn, 1)
	if err != nil || (got[0] != "3" && got[0] != "4") {
		t.Fatalf("after the busy writer: %q, %v; want 3 or 4", got, err)
	}
	if got[0] == "3" {
		if got, err = readN(ctx, conn, 1); err != nil || got[0] != "4" {
			t.Fatalf("after 3: %q, %v; want 4", got, err)
		}
	}

	// The client of S002 was woken by none of that: the next wake of its topic sends it the
	// latest value, which is its first update.
	h.Wake([]string{"S002"})
	if got, err := readN(ctx, other, 1); err != nil || got[0] != "4" {
		t.Fatalf("the other topic's client: %q, %v; want 4", got, err)
	}
	waitFor(t, func() bool { return h.Writing() == 0 }) // its writer's last Pull (nothing) is done

	v.set(-1)
	h.Wake([]string{"S001"})
	_, _, err = conn.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || ce.Reason != "too far behind" {
		t.Fatalf("after a failing Pull the peer read %v", err)
	}
	select {
	case err := <-ended:
		if websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
			t.Fatalf("done got %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the session did not end")
	}
	if n := h.Clients(); n != 1 {
		t.Fatalf("%d clients subscribed after one session ended, want 1", n)
	}
}

// TestPulledClientsCostOneGoroutine: with Go the handler returns, and an idle Pulled client
// keeps one goroutine (its reader); ending the context closes every websocket with 1001 and
// calls done with nil.
func TestPulledClientsCostOneGoroutine(t *testing.T) {
	h, _ := newHub(t, Config{})
	v := &view{}
	url, ended, end := servePulled(t, h, v)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 50
	before := runtime.NumGoroutine()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dialPulled(t, ctx, url, "S001")
	}
	v.set(7)
	h.Wake([]string{"S001"})
	for _, c := range conns {
		if got, err := readN(ctx, c, 1); err != nil || got[0] != "7" {
			t.Fatalf("update %q, %v", got, err)
		}
	}
	// Handlers and writers return on their own goroutines; wait for them to be gone.
	waitFor(t, func() bool { return h.Writing() == 0 })
	waitFor(t, func() bool { return runtime.NumGoroutine()-before <= n+5 })

	end()
	for _, c := range conns {
		if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("after the context ended the peer read %v, want 1001", err)
		}
	}
	for range n {
		select {
		case err := <-ended:
			if err != nil {
				t.Fatalf("done got %v after the context ended, want nil", err)
			}
		case <-ctx.Done():
			t.Fatal("sessions did not end")
		}
	}
}

// TestGoRefusesMismatchedPull: Pull serves Pulled clients, and they need it.
func TestGoRefusesMismatchedPull(t *testing.T) {
	h, _ := newHub(t, Config{})
	for _, tt := range []struct {
		name   string
		pulled bool
		pull   func([]byte) ([]byte, error)
	}{
		{"queued client with Pull", false, (&view{}).pull()},
		{"pulled client without Pull", true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errc := make(chan error, 1)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				c := h.Subscribe(ClientConfig{Topics: []string{"x"}, Pulled: tt.pulled})
				c.Go(context.Background(), conn, ServeOptions{Pull: tt.pull}, func(err error) { errc <- err })
			}))
			defer hs.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusInternalError {
				t.Fatalf("peer read %v, want a 1011 close", err)
			}
			if err := <-errc; err == nil || !strings.Contains(err.Error(), "Pull") {
				t.Fatalf("done got %v", err)
			}
			if h.Clients() != 0 {
				t.Fatalf("%d clients left subscribed", h.Clients())
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPulledWriteTimeout: a peer that stops reading blocks its writer only until WriteTimeout,
// then it is closed and done gets ErrWriteTimeout; Writing drops back to 0.
func TestPulledWriteTimeout(t *testing.T) {
	h, _ := newHub(t, Config{})
	big := strings.Repeat("x", 256<<10)
	ended := make(chan error, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := h.Subscribe(ClientConfig{Topics: []string{"t"}, Pulled: true})
		c.Go(context.Background(), conn, ServeOptions{WriteTimeout: 300 * time.Millisecond, PingInterval: -1,
			Pull: func(dst []byte) ([]byte, error) { return append(dst, big...), nil }}, // always more
			func(err error) { ended <- err })
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{HTTPClient: smallDialer})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	select {
	case err := <-ended:
		if !errors.Is(err, ErrWriteTimeout) {
			t.Fatalf("done got %v, want ErrWriteTimeout", err)
		}
	case <-ctx.Done():
		t.Fatal("the stalled peer was not dropped")
	}
	if h.Writing() != 0 || h.Clients() != 0 {
		t.Fatalf("Writing %d, Clients %d after the drop", h.Writing(), h.Clients())
	}
}
