package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// session is one websocket the test server serves.
type session struct {
	c   *Client
	err chan error // what Serve returned
}

type testServer struct {
	url      string
	sessions chan session
	end      context.CancelFunc // ends every Serve's context
}

// serveHub starts an HTTP server that serves every websocket with Serve(opts), subscribed to
// the query's topic with the query's queue size; before runs between Subscribe and Serve.
// With small, the server's sockets get 4 KiB buffers, so a peer that does not read stalls the
// writer after a few messages instead of after megabytes.
func serveHub(t *testing.T, h *Hub, opts ServeOptions, before func(*Client), small bool) *testServer {
	t.Helper()
	ctx, end := context.WithCancel(context.Background())
	ts := &testServer{sessions: make(chan session, 16), end: end}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		q, _ := strconv.Atoi(r.URL.Query().Get("queue"))
		c := h.Subscribe(ClientConfig{Topics: []string{r.URL.Query().Get("topic")}, QueueSize: q})
		if before != nil {
			before(c)
		}
		s := session{c: c, err: make(chan error, 1)}
		ts.sessions <- s
		sctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		s.err <- c.Serve(sctx, conn, opts)
	}))
	if small {
		hs.Listener = smallBuffers{hs.Listener}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	t.Cleanup(end)
	ts.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	return ts
}

type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
		_ = tc.SetReadBuffer(4096)
	}
	return c, err
}

// smallDialer dials with a 4 KiB receive buffer.
var smallDialer = &http.Client{Transport: &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	},
}}

// dial opens a websocket to the test server and returns it with its server-side session.
func (ts *testServer) dial(t *testing.T, topic string, queue int, opts *websocket.DialOptions) (*websocket.Conn, session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/?topic=%s&queue=%d", ts.url, topic, queue), opts)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	select {
	case s := <-ts.sessions:
		return conn, s
	case <-ctx.Done():
		t.Fatal("the server did not subscribe the websocket")
		return nil, session{}
	}
}

// result waits for the session's Serve to return.
func (s session) result(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-s.err:
		return err
	case <-time.After(within):
		t.Fatalf("Serve still running after %v", within)
		return nil
	}
}

// readAll reads n text frames.
func readN(ctx context.Context, conn *websocket.Conn, n int) ([]string, error) {
	var out []string
	for len(out) < n {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// TestServeStalledPeer: a real websocket peer that never reads, over loopback, while two peers
// read: publishing thousands of messages does not block, the readers get every message in
// order, and the stalled peer is disconnected, counted and closed with status 1013.
func TestServeStalledPeer(t *testing.T) {
	const n, size = 3000, 64
	h, reg := newHub(t, Config{Name: "ws", QueueSize: size})
	ts := serveHub(t, h, ServeOptions{WriteTimeout: 5 * time.Second, PingInterval: -1}, nil, true)
	stalled, stalledSession := ts.dial(t, "t", 0, &websocket.DialOptions{HTTPClient: smallDialer})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type read struct {
		got []string
		err error
	}
	reads := make([]chan read, 2)
	for i := range reads {
		conn, _ := ts.dial(t, "t", n, nil) // room for everything: their speed does not matter
		reads[i] = make(chan read, 1)
		go func() {
			got, err := readN(ctx, conn, n)
			reads[i] <- read{got, err}
		}()
	}
	pad := strings.Repeat("x", 1024)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			h.Publish(Message{Topics: []string{"t"}, Data: fmt.Appendf(nil, "%06d %s", i, pad)})
		}
	}()
	select {
	case <-published:
	case <-ctx.Done():
		t.Fatal("Publish blocked on the stalled peer")
	}
	for i, ch := range reads {
		r := <-ch
		if r.err != nil {
			t.Fatalf("reader %d after %d messages: %v", i, len(r.got), r.err)
		}
		for j, s := range r.got {
			if !strings.HasPrefix(s, fmt.Sprintf("%06d ", j)) {
				t.Fatalf("reader %d: message %d is %.6q: out of order", i, j, s)
			}
		}
	}
	if !errors.Is(stalledSession.c.Err(), ErrSlow) {
		t.Fatalf("the stalled peer's client: %v, want ErrSlow", stalledSession.c.Err())
	}
	wantMetric(t, reg, "freshmart_hub_slow_disconnects_total", 1)
	if got := metric(t, reg, "freshmart_hub_messages_dropped_total"); got < size+1 {
		t.Errorf("dropped %v messages, want at least the %d of the full queue", got, size+1)
	}
	// Now the stalled peer reads: what was in flight, then the close frame.
	var err error
	for err == nil {
		_, _, err = stalled.Read(ctx)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || ce.Reason != "too far behind; reconnect" {
		t.Fatalf("the stalled peer's websocket ended with %v, want status 1013", err)
	}
	if err := stalledSession.result(t, 20*time.Second); !errors.Is(err, ErrSlow) {
		t.Fatalf("Serve of the stalled peer returned %v, want ErrSlow", err)
	}
	wantMetric(t, reg, "freshmart_hub_clients", 2)
}

// TestServePingTimeout: a peer that never reads never answers pings and is closed after
// PingTimeout; a peer that reads answers them and stays.
func TestServePingTimeout(t *testing.T) {
	h, reg := newHub(t, Config{})
	ts := serveHub(t, h, ServeOptions{PingInterval: 50 * time.Millisecond, PingTimeout: 250 * time.Millisecond}, nil, false)
	_, dead := ts.dial(t, "t", 0, nil) // never reads, so never answers
	var pings atomic.Int64
	pinged := make(chan struct{}, 1)
	live, liveSession := ts.dial(t, "t", 0, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		select {
		case pinged <- struct{}{}:
		default:
		}
		return true // answer it
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	frames := make(chan string, 1)
	go func() {
		for {
			_, b, err := live.Read(ctx)
			if err != nil {
				close(frames)
				return
			}
			frames <- string(b)
		}
	}()
	start := time.Now()
	if err := dead.result(t, 10*time.Second); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("Serve of the dead peer returned %v, want ErrPingTimeout", err)
	}
	t.Logf("dead peer closed after %v", time.Since(start).Round(time.Millisecond))
	// The live peer keeps answering for well over a PingTimeout.
	for pings.Load() < 12 {
		select {
		case <-pinged:
		case <-ctx.Done():
			t.Fatalf("the live peer got %d pings", pings.Load())
		}
	}
	select {
	case err := <-liveSession.err:
		t.Fatalf("the live peer was closed: %v", err)
	default:
	}
	h.Publish(msg("still here", "t"))
	if s := <-frames; s != "still here" {
		t.Fatalf("live peer got %q", s)
	}
	wantMetric(t, reg, "freshmart_hub_clients", 1)
	wantMetric(t, reg, "freshmart_hub_slow_disconnects_total", 0)
	live.Close(websocket.StatusNormalClosure, "")
	if err := liveSession.result(t, 10*time.Second); err != nil {
		t.Fatalf("Serve after the peer closed normally: %v", err)
	}
}

// TestServePingsOnlyASilentPeer: a peer that sends messages (acknowledgements) more often
// than PingInterval is not pinged; once it falls silent it is pinged again.
func TestServePingsOnlyASilentPeer(t *testing.T) {
	h, _ := newHub(t, Config{})
	const interval = 60 * time.Millisecond
	ts := serveHub(t, h, ServeOptions{PingInterval: interval, PingTimeout: time.Second}, nil, false)
	var pings atomic.Int64
	conn, s := ts.dial(t, "t", 0, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { // read, so that pings are seen and answered
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()
	// Talk for 15 intervals, a message every fifth of one.
	for range 75 {
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ack","version":1}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(interval / 5)
	}
	// The first ping may have been due before the first message arrived; after it, none.
	if n := pings.Load(); n > 1 {
		t.Fatalf("a peer that talked every %v was pinged %d times in %v", interval/5, n, 15*interval)
	}
	before := pings.Load()
	for pings.Load() < before+3 {
		select {
		case <-ctx.Done():
			t.Fatalf("a silent peer got %d pings", pings.Load()-before)
		case <-time.After(interval / 4):
		}
	}
	select {
	case err := <-s.err:
		t.Fatalf("the peer was closed: %v", err)
	default:
	}
}

// TestServeSnapshotThenMessagesAndAcks: the First frames go out before what was published
// after Subscribe, then live messages; the peer's messages reach OnMessage; an OnMessage
// error closes the websocket with its status.
func TestServeSnapshotThenMessagesAndAcks(t *testing.T) {
	h, _ := newHub(t, Config{Policy: Coalesce})
	acks := make(chan string, 4)
	ts := serveHub(t, h, ServeOptions{
		First: [][]byte{[]byte("snapshot v1")},
		OnMessage: func(_ context.Context, typ websocket.MessageType, b []byte) error {
			if string(b) == "bad" {
				return websocket.CloseError{Code: 4000, Reason: "bad ack"}
			}
			acks <- fmt.Sprintf("%v %s", typ, b)
			return nil
		},
	}, func(*Client) { h.Publish(Message{Topics: []string{"S001"}, Key: "sku1", Data: []byte("sku1 v2")}) }, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, s := ts.dial(t, "S001", 0, nil)
	got, err := readN(ctx, conn, 2)
	if err != nil || got[0] != "snapshot v1" || got[1] != "sku1 v2" {
		t.Fatalf("got %q, %v; want the snapshot then the delta published after Subscribe", got, err)
	}
	h.Publish(Message{Topics: []string{"S001"}, Key: "sku2", Data: []byte("sku2 v3")})
	if got, err := readN(ctx, conn, 1); err != nil || got[0] != "sku2 v3" {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte("ack v3")); err != nil {
		t.Fatal(err)
	}
	if a := <-acks; a != "MessageText ack v3" {
		t.Fatalf("OnMessage got %q", a)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte("bad")); err != nil {
		t.Fatal(err)
	}
	_, _, err = conn.Read(ctx)
	if websocket.CloseStatus(err) != 4000 {
		t.Fatalf("after a bad ack the peer read %v, want close status 4000", err)
	}
	if err := s.result(t, 10*time.Second); websocket.CloseStatus(err) != 4000 {
		t.Fatalf("Serve returned %v, want OnMessage's error", err)
	}
	if h.Clients() != 0 {
		t.Fatalf("%d clients after Serve returned", h.Clients())
	}
}

// TestServeClosesOnContextEnd: when Serve's context ends the peer gets a close frame with
// status 1001 and Serve returns nil.
func TestServeClosesOnContextEnd(t *testing.T) {
	h, reg := newHub(t, Config{})
	ts := serveHub(t, h, ServeOptions{}, nil, false)
	conn, s := ts.dial(t, "t", 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h.Publish(msg("one", "t"))
	if got, err := readN(ctx, conn, 1); err != nil || got[0] != "one" {
		t.Fatalf("got %q, %v", got, err)
	}
	ts.end()
	_, _, err := conn.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("the peer read %v, want close status 1001", err)
	}
	if err := s.result(t, 10*time.Second); err != nil {
		t.Fatalf("Serve returned %v after its context ended, want nil", err)
	}
	wantMetric(t, reg, "freshmart_hub_clients", 0)
}
