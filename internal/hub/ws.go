package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Defaults of ServeOptions.
const (
	DefaultWriteTimeout = 10 * time.Second
	DefaultPingInterval = 20 * time.Second
	DefaultPingTimeout  = 10 * time.Second
)

// ErrPingTimeout is why Serve closed a peer that did not answer a ping in time.
var ErrPingTimeout = errors.New("hub: peer did not answer a ping")

// ErrWriteTimeout is why Serve closed a peer a frame's write to which outlasted WriteTimeout
// (it stopped reading).
var ErrWriteTimeout = errors.New("hub: write timed out")

// ServeOptions configures Client.Serve. Zero values take the defaults in brackets.
type ServeOptions struct {
	// First are frames written, in order, before any queued message: typically a snapshot
	// taken after Subscribe, so that no message published in between is missed.
	First [][]byte
	// MessageType is the type of every frame written [websocket.MessageText].
	MessageType websocket.MessageType
	// WriteTimeout bounds each frame's write; a peer that takes longer is closed
	// [DefaultWriteTimeout].
	WriteTimeout time.Duration
	// PingInterval is how long the peer may stay silent before it is pinged
	// [DefaultPingInterval]; negative: never. Any message read from the peer (an
	// acknowledgement) shows it alive as a pong does, so a peer that talks is not pinged, and
	// the first ping comes at a random point of the second half of the interval, so that
	// thousands of websockets opened together (a store's signs after a restart) are not
	// pinged together ever after.
	PingInterval time.Duration
	// PingTimeout is how long a ping may wait for its pong before the peer is closed as dead
	// [DefaultPingTimeout].
	PingTimeout time.Duration
	// OnMessage receives each message the peer sends (acknowledgements), one at a time, in
	// order, in a buffer reused once it returns (it must not keep data); ctx ends when Serve
	// starts closing. An error closes the websocket: with the error's websocket.CloseError
	// code and reason if it is one, else with status 1008 (policy violation); Serve returns it.
	// [nil: the peer's messages are read and dropped.] The size of a message is limited by the
	// Conn's read limit (Conn.SetReadLimit; 32 KiB unless set).
	OnMessage func(ctx context.Context, typ websocket.MessageType, data []byte) error
	// Pull makes the frames of a Pulled client (ClientConfig.Pulled; required for one, not
	// allowed for a queued one): each time the client is woken (Hub.Wake, or a Publish to one
	// of its topics) a writer calls Pull until it returns an empty frame, writing each frame it
	// returns. Pull appends its frame to dst (empty, from a pool of buffers the writer reuses
	// once the frame is written, so Pull must not keep it) and returns it; calls never overlap,
	// and Pull runs on whichever goroutine writes (there is none while there is nothing to
	// write). An error closes the websocket, with the error's websocket.CloseError code and
	// reason if it is one (a client too far behind), else with status 1011, and is returned.
	Pull func(dst []byte) ([]byte, error)
}

func (o *ServeOptions) defaults() {
	if o.MessageType == 0 {
		o.MessageType = websocket.MessageText
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
}

// end is how one of Serve's goroutines ended it.
type end struct {
	err    error                // what Serve returns; nil for a normal end
	code   websocket.StatusCode // the close frame to send; 0 closes without a handshake
	reason string
}

func (e *end) Error() string { return fmt.Sprintf("hub: serve ended: %v", e.err) }

// Serve writes the client's messages to conn until ctx ends, the peer goes away or the client
// ends, then closes conn and the client (Serve owns both; it is called once per client):
//
//   - ctx ends: conn is closed with status 1001 (going away); Serve returns nil.
//   - the peer closes with status 1000 or 1001: Serve returns nil; other closes, read errors
//     and failed or timed-out writes close conn at once and are returned.
//   - the client is disconnected for being slow: conn is closed with status 1013 (try again
//     later, reason "too far behind; reconnect"); Serve returns ErrSlow.
//   - the client is closed (Client.Close): conn is closed with status 1000; Serve returns
//     ErrClosed.
//   - a ping is not answered within PingTimeout: conn is closed at once; Serve returns an
//     error wrapping ErrPingTimeout.
//   - OnMessage or Pull fails: see ServeOptions.OnMessage and ServeOptions.Pull.
//
// Serve is Go waiting for the end.
func (c *Client) Serve(ctx context.Context, conn *websocket.Conn, opts ServeOptions) error {
	res := make(chan error, 1)
	c.Go(ctx, conn, opts, func(err error) { res <- err })
	return <-res
}

// Go is Serve in the background: it returns at once, and done receives what Serve would
// return, once, when the websocket is closed and nothing runs for it any more. An HTTP
// handler can return after Go (the websocket was hijacked), so a served websocket costs
// one goroutine, reading the peer's messages (acknowledgements, pongs, the close frame), and
// for a queued client a second one writing; a Pulled client's writer runs only while it has
// something to write (on the hub's writer pool), and a timer (no goroutine while idle) pings.
func (c *Client) Go(ctx context.Context, conn *websocket.Conn, opts ServeOptions, done func(error)) {
	opts.defaults()
	if (c.pull != nil) != (opts.Pull != nil) {
		c.Close()
		_ = conn.Close(websocket.StatusInternalError, "")
		done(errors.New("hub: ServeOptions.Pull serves a Pulled client, and only one"))
		return
	}
	s := &wsSession{c: c, conn: conn, o: opts, first: opts.First, bg: context.WithoutCancel(ctx)}
	s.o.First = nil // written once, then let go
	s.inner, s.stop = context.WithCancelCause(ctx)
	// I/O runs on a context that is never cancelled, bounded by timeouts instead: coder/websocket
	// closes a connection whose Read or Write context ends, which would rule out a clean close.
	// Whoever ends the session first (the writer, the reader, a ping, ctx), the websocket is
	// closed at once from a goroutine started only then, so a write blocked on a stuck peer is
	// unblocked.
	closed := make(chan struct{})
	context.AfterFunc(s.inner, func() {
		defer close(closed)
		c.Close()                                  // publish no more to it while the websocket closes
		e := &end{code: websocket.StatusGoingAway} // ctx ended
		var ended *end
		if errors.As(context.Cause(s.inner), &ended) {
			e = ended
		}
		if e.code != 0 {
			_ = conn.Close(e.code, e.reason)
		} else {
			_ = conn.CloseNow()
		}
		s.ret = e.err
	})
	var ping *time.Timer
	if s.o.PingInterval > 0 {
		ping = keepalive(s.inner, s.bg, conn, &s.o, &s.heard, func(e error) { s.stop(e) })
	}
	var writer chan struct{} // a queued client's writer: closed when it returns
	if c.pull != nil {
		c.pull.begin(s.runPull)
	} else {
		writer = make(chan struct{})
		go func() {
			defer close(writer)
			s.stop(s.writeQueue())
		}()
	}
	go func() {
		s.stop(read(s.inner, s.bg, conn, s.o.OnMessage, &s.heard))
		<-closed
		if writer != nil {
			<-writer
		} else {
			c.pull.stop()
		}
		if ping != nil {
			ping.Stop()
		}
		if s.wt != nil {
			s.wt.Stop() // the writer has returned
		}
		done(s.ret)
	}()
}

// wsSession is one served websocket.
type wsSession struct {
	c     *Client
	conn  *websocket.Conn
	o     ServeOptions
	first [][]byte // ServeOptions.First, until written
	inner context.Context
	stop  context.CancelCauseFunc
	bg    context.Context
	heard atomic.Int64 // when a message was last read from the peer (Unix ns; 0: never)
	ret   error        // what Serve returns; set before the websocket is closed
	wt    *time.Timer  // bounds a write (write); touched by the writer only
}

func (s *wsSession) writeFirst() error {
	for _, b := range s.first {
		if err := s.write(b); err != nil {
			return err
		}
	}
	s.first = nil
	return nil
}

func (s *wsSession) writeQueue() error {
	if err := s.writeFirst(); err != nil {
		return err
	}
	for {
		m, err := s.c.Next(s.inner)
		if err := endOf(s.inner, err); err != nil || s.inner.Err() != nil {
			return err
		}
		if err := s.write(m.Data); err != nil {
			return err
		}
	}
}

// runPull is a Pulled client's writer: started by a wake when none runs, it pulls and writes
// until there is nothing more, then returns.
func (s *wsSession) runPull() {
	for {
		if err := s.pullAll(); err != nil {
			s.stop(err)
			s.c.pull.exit()
			return
		}
		if !s.c.pull.next() {
			return
		}
	}
}

// framePool holds the buffers Pull appends frames to.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled is the largest buffer put back in framePool (an aisle's snapshot-sized update).
const maxPooled = 256 << 10

func (s *wsSession) pullAll() error {
	if err := s.writeFirst(); err != nil {
		return err
	}
	bp := framePool.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= maxPooled {
			*bp = buf[:0]
			framePool.Put(bp)
		}
	}()
	for s.inner.Err() == nil {
		f, err := s.o.Pull(buf[:0])
		if err != nil {
			return closeEnd(err, websocket.StatusInternalError)
		}
		if len(f) == 0 {
			return nil
		}
		if err := s.write(f); err != nil {
			return err
		}
		buf = f
	}
	return nil
}

// pullState starts a Pulled client's writer on demand, on the hub's writer pool (workers), so
// an idle client costs no goroutine.
type pullState struct {
	mu      sync.Mutex
	start   func()        // runs the writer; nil until Go
	woken   bool          // woken since the writer last began pulling (or before Go)
	running bool          // a writer runs
	stopped bool          // the session is ending: start no writer
	idle    chan struct{} // closed when the writer returns after stop
	writing *atomic.Int64 // the hub's count of running writers
	pool    *workers      // the hub's, which runs the writer
}

// wake makes the writer pull: it starts one, or tells the running one to pull again.
// hub.mu is held.
func (p *pullState) wake() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	if p.running || p.start == nil {
		p.woken = true
		p.mu.Unlock()
		return
	}
	p.running, p.woken = true, false
	p.writing.Add(1)
	start := p.start
	p.mu.Unlock()
	p.pool.run(start)
}

// begin sets the writer and starts it once (the First frames, and whatever changed since the
// caller's snapshot).
func (p *pullState) begin(start func()) {
	p.mu.Lock()
	p.start, p.running, p.woken = start, true, false
	p.writing.Add(1)
	p.mu.Unlock()
	p.pool.run(start)
}

// next is the writer's question when it has pulled everything: pull again (woken meanwhile),
// or return (it is no longer running).
func (p *pullState) next() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.woken && !p.stopped {
		p.woken = false
		return true
	}
	p.exitLocked()
	return false
}

// exit is the writer returning after an error.
func (p *pullState) exit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exitLocked()
}

func (p *pullState) exitLocked() {
	p.running = false
	p.writing.Add(-1)
	if p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
}

// stop starts no more writers and waits for a running one to return.
func (p *pullState) stop() {
	p.mu.Lock()
	p.stopped = true
	var idle chan struct{}
	if p.running {
		idle = make(chan struct{})
		p.idle = idle
	}
	p.mu.Unlock()
	if idle != nil {
		<-idle
	}
}

// closeEnd ends a session for a caller's error (Pull's, OnMessage's): closing with the error's
// websocket.CloseError code and reason if it is one, else with code.
func closeEnd(err error, code websocket.StatusCode) *end {
	e := &end{err: err, code: code}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		e.code, e.reason = ce.Code, ce.Reason
	}
	return e
}

// endOf is how the writer ends after Next or NextBatch returned err (nil: it goes on).
func endOf(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return nil // Serve is closing for another reason
	case errors.Is(err, ErrSlow):
		return &end{err: ErrSlow, code: websocket.StatusTryAgainLater, reason: "too far behind; reconnect"}
	case err != nil:
		return &end{err: err, code: websocket.StatusNormalClosure}
	}
	return nil
}

// write writes one frame within WriteTimeout. The bound is a timer of the session's, made at
// its first write and reset at each (no allocation per frame), that ends the session when a
// write outlasts it: closing the websocket unblocks the write.
func (s *wsSession) write(b []byte) error {
	if s.wt == nil {
		s.wt = time.AfterFunc(s.o.WriteTimeout, s.writeTimedOut)
	} else {
		s.wt.Reset(s.o.WriteTimeout)
	}
	err := s.conn.Write(s.bg, s.o.MessageType, b)
	if !s.wt.Stop() {
		return s.timedOut()
	}
	if err != nil {
		return &end{err: fmt.Errorf("hub: write: %w", err)}
	}
	return nil
}

func (s *wsSession) writeTimedOut() { s.stop(s.timedOut()) }

func (s *wsSession) timedOut() *end {
	return &end{err: fmt.Errorf("hub: write: %w after %v", ErrWriteTimeout, s.o.WriteTimeout)}
}

// keepalive pings the peer once it has been silent for PingInterval, from a timer, not a
// goroutine of its own (a hub holds thousands of websockets; an idle one costs no stack), and
// calls fail when a ping is not answered within PingTimeout or fails. heard is when the peer
// was last heard from (read); the first ping comes at a random point of the second half of
// PingInterval.
func keepalive(ctx, bg context.Context, conn *websocket.Conn, o *ServeOptions, heard *atomic.Int64, fail func(error)) *time.Timer {
	var t *time.Timer
	t = time.AfterFunc(o.PingInterval/2+rand.N(o.PingInterval/2+1), func() {
		if ctx.Err() != nil {
			return
		}
		if at := heard.Load(); at != 0 {
			if quiet := time.Since(time.Unix(0, at)); quiet < o.PingInterval {
				t.Reset(o.PingInterval - quiet) // heard from since: it is alive
				return
			}
		}
		pctx, cancel := context.WithTimeout(bg, o.PingTimeout)
		err := conn.Ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
		case err == nil:
			t.Reset(o.PingInterval)
		case errors.Is(err, context.DeadlineExceeded):
			fail(&end{err: fmt.Errorf("%w within %v", ErrPingTimeout, o.PingTimeout)})
		default:
			fail(&end{err: fmt.Errorf("hub: ping: %w", err)})
		}
	})
	return t
}

// readPool holds the buffers the peer's messages are read into, for the time of OnMessage (an
// idle websocket holds none; reading an acknowledgement allocates nothing).
var readPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// readMessage reads the next message into a buffer of readPool's; release gives it back.
func readMessage(bg context.Context, conn *websocket.Conn) (typ websocket.MessageType, data []byte, release func(), err error) {
	typ, r, err := conn.Reader(bg)
	if err != nil {
		return 0, nil, nil, err
	}
	bp := readPool.Get().(*[]byte)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	release = func() {
		if cap(buf) <= maxPooled {
			*bp = buf[:0]
			readPool.Put(bp)
		}
	}
	if err != nil {
		release()
		return 0, nil, nil, err
	}
	return typ, buf, release, nil
}

// read reads the peer's messages, handing each to on, and sets heard to when each arrived.
func read(ctx, bg context.Context, conn *websocket.Conn,
	on func(context.Context, websocket.MessageType, []byte) error, heard *atomic.Int64) error {
	for {
		typ, data, release, err := readMessage(bg, conn)
		if err == nil {
			heard.Store(time.Now().UnixNano())
		}
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case websocket.CloseStatus(err) == websocket.StatusNormalClosure,
				websocket.CloseStatus(err) == websocket.StatusGoingAway:
				return &end{} // the peer left
			}
			return &end{err: fmt.Errorf("hub: read: %w", err)}
		}
		if on == nil {
			release()
			continue
		}
		err = on(ctx, typ, data)
		release()
		if err != nil {
			return closeEnd(err, websocket.StatusPolicyViolation)
		}
	}
}
