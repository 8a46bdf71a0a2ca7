package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	// PingInterval is how often the peer is pinged [DefaultPingInterval]; negative: never.
	PingInterval time.Duration
	// PingTimeout is how long a ping may wait for its pong before the peer is closed as dead
	// [DefaultPingTimeout].
	PingTimeout time.Duration
	// OnMessage receives each message the peer sends (acknowledgements), one at a time, in
	// order; ctx ends when Serve starts closing. An error closes the websocket: with the
	// error's websocket.CloseError code and reason if it is one, else with status 1008 (policy
	// violation); Serve returns it. [nil: the peer's messages are read and dropped.] The size
	// of a message is limited by the Conn's read limit (Conn.SetReadLimit; 32 KiB unless set).
	OnMessage func(ctx context.Context, typ websocket.MessageType, data []byte) error
	// Combine, when set, turns everything queued when the writer is free into one frame: the
	// writer takes the whole queue (Client.NextBatch) and writes Combine(its Data, oldest
	// first), so a client that fell behind catches up in one write (shelf signs merge their
	// per-SKU updates). An error closes the websocket, with the error's websocket.CloseError
	// code and reason if it is one (a client too far behind), else with status 1011, and is
	// returned. [nil: every message is its own frame.]
	Combine func(data [][]byte) ([]byte, error)
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
//   - OnMessage fails: see ServeOptions.OnMessage.
//
// Serve's goroutine writes opts.First and then the queue, a timer pings, and a
// reader goroutine reads the peer's messages, which also processes its pongs and close frame.
func (c *Client) Serve(ctx context.Context, conn *websocket.Conn, opts ServeOptions) error {
	opts.defaults()
	inner, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	// I/O runs on a context that is never cancelled, bounded by timeouts instead: coder/websocket
	// closes a connection whose Read or Write context ends, which would rule out a clean close.
	bg := context.WithoutCancel(ctx)
	// Whoever ends Serve first (the writer, the reader, a ping, ctx), the websocket is closed at
	// once from a goroutine started only then, so a write blocked on a stuck peer is unblocked
	// and the writer can run on Serve's own goroutine: an open websocket costs two goroutines
	// (this one and the reader), not three.
	var ret error
	closed := make(chan struct{})
	context.AfterFunc(inner, func() {
		defer close(closed)
		c.Close()                                  // publish no more to it while the websocket closes
		e := &end{code: websocket.StatusGoingAway} // ctx ended
		var ended *end
		if errors.As(context.Cause(inner), &ended) {
			e = ended
		}
		if e.code != 0 {
			_ = conn.Close(e.code, e.reason)
		} else {
			_ = conn.CloseNow()
		}
		ret = e.err
	})
	if opts.PingInterval > 0 {
		t := keepalive(inner, bg, conn, &opts, func(e error) { stop(e) })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	wg.Go(func() { stop(read(inner, bg, conn, opts.OnMessage)) })
	stop(c.write(inner, bg, conn, &opts))
	<-closed
	wg.Wait()
	return ret
}

func (c *Client) write(ctx, bg context.Context, conn *websocket.Conn, o *ServeOptions) error {
	for _, b := range o.First {
		if err := writeFrame(bg, conn, o, b); err != nil {
			return err
		}
	}
	if o.Combine != nil {
		return c.writeCombined(ctx, bg, conn, o)
	}
	for {
		m, err := c.Next(ctx)
		if err := endOf(ctx, err); err != nil || ctx.Err() != nil {
			return err
		}
		if err := writeFrame(bg, conn, o, m.Data); err != nil {
			return err
		}
	}
}

func (c *Client) writeCombined(ctx, bg context.Context, conn *websocket.Conn, o *ServeOptions) error {
	for {
		ms, err := c.NextBatch(ctx)
		if err := endOf(ctx, err); err != nil || ctx.Err() != nil {
			return err
		}
		data := make([][]byte, len(ms))
		for i, m := range ms {
			data[i] = m.Data
		}
		b, err := o.Combine(data)
		if err != nil {
			e := &end{err: err, code: websocket.StatusInternalError}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				e.code, e.reason = ce.Code, ce.Reason
			}
			return e
		}
		if err := writeFrame(bg, conn, o, b); err != nil {
			return err
		}
	}
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

func writeFrame(bg context.Context, conn *websocket.Conn, o *ServeOptions, b []byte) error {
	ctx, cancel := context.WithTimeout(bg, o.WriteTimeout)
	defer cancel()
	if err := conn.Write(ctx, o.MessageType, b); err != nil {
		return &end{err: fmt.Errorf("hub: write: %w", err)}
	}
	return nil
}

// keepalive pings the peer every PingInterval from a timer, not a goroutine of its own (a hub
// holds thousands of websockets; an idle one costs no stack), and calls fail when a ping is
// not answered within PingTimeout or fails.
func keepalive(ctx, bg context.Context, conn *websocket.Conn, o *ServeOptions, fail func(error)) *time.Timer {
	var t *time.Timer
	t = time.AfterFunc(o.PingInterval, func() {
		if ctx.Err() != nil {
			return
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

func read(ctx, bg context.Context, conn *websocket.Conn,
	on func(context.Context, websocket.MessageType, []byte) error) error {
	for {
		typ, data, err := conn.Read(bg)
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
			continue
		}
		if err := on(ctx, typ, data); err != nil {
			e := &end{err: err, code: websocket.StatusPolicyViolation}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				e.code, e.reason = ce.Code, ce.Reason
			}
			return e
		}
	}
}
