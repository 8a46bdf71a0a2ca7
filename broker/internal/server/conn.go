package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Frames: every request and response is a 4-byte big-endian size followed
// by that many bytes. A request frame holds the request header (v1: api key,
// api version, correlation id, nullable client id; v2 for flexible versions
// adds tagged fields) and the body. A response frame holds the correlation
// id, tagged fields for flexible versions (except ApiVersions, whose
// response header is always v0) and the body.

// frameFree lists the API keys whose handlers keep no reference to the
// request frame once they return (kmsg decodes byte fields as slices of the
// frame), so the frame's buffer can be reused. Keys not listed (the group
// APIs keep member metadata) leave their frame to the garbage collector.
var frameFree = map[int16]bool{
	0: true, 1: true, 2: true, 3: true, 18: true, 19: true, 20: true, 21: true, 22: true,
	23: true, 32: true, 33: true, 37: true, 44: true, 60: true,
}

// errMalformed marks a request that cannot be decoded; the connection is closed.
var errMalformed = errors.New("malformed request")

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

type conn struct {
	s      *Server
	nc     net.Conn
	queue  chan *pending
	ctx    context.Context
	cancel context.CancelFunc
	stop   atomic.Bool
	act    activity // idle reaper bookkeeping (limits.go)
	sec    *session // SASL state and principal (authz.go); nil without Config.Security
}

// pending is one request whose response is (or will be) ready when done closes.
type pending struct {
	key, version int16
	corr         int32
	start        time.Time
	resp         kmsg.Response // nil: write nothing
	release      func()        // Reply.Done
	outcome      string
	done         chan struct{}
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{s: s, nc: nc, queue: make(chan *pending, s.cfg.MaxInFlight), ctx: ctx, cancel: cancel}
	c.act.touch(s.now())
	return c
}

// stopReading makes the read loop return after the request it is handling;
// responses already queued are still written.
func (c *conn) stopReading() {
	c.stop.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	c.s.metrics.connections.Inc()
	c.s.metrics.connectionsTotal.Inc()
	defer c.s.metrics.connections.Dec()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	close(c.queue)
	if err != nil && !c.stop.Load() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.s.log.Info("closing client connection", "remote", c.nc.RemoteAddr().String(), "err", err)
	}
	<-writerDone
	c.cancel()
	c.nc.Close()
}

func (c *conn) readLoop() error {
	var size [4]byte
	for {
		if c.stop.Load() {
			return nil
		}
		if _, err := io.ReadFull(c.nc, size[:]); err != nil {
			return err
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 0 || n > c.s.cfg.MaxFrameBytes {
			c.s.metrics.badFrames.Inc()
			return fmt.Errorf("frame size %d outside 0..%d", n, c.s.cfg.MaxFrameBytes)
		}
		c.act.pending.Add(1) // reading a request: not idle
		reserved, ok := c.s.limits.acquire(int64(n), nil)
		if !ok {
			c.act.pending.Add(-1)
			return nil // shutting down
		}
		p, err := c.readAndHandle(n)
		c.s.limits.release(reserved)
		if err != nil {
			c.act.pending.Add(-1)
			return err
		}
		c.s.metrics.inFlight.Inc()
		c.queue <- p
	}
}

// readAndHandle reads a frame body of n bytes and handles it.
func (c *conn) readAndHandle(n int32) (*pending, error) {
	fb := getBuf(int(n))
	body := (*fb)[:n]
	// A frame holds its share of the request budget while it arrives: one
	// trickled in slowly must not hold it for ever (limits.go).
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ConnectionsMaxIdle))
	_, err := io.ReadFull(c.nc, body)
	c.nc.SetReadDeadline(time.Time{})
	if err != nil {
		return nil, fmt.Errorf("read frame of %d bytes: %w", n, err)
	}
	c.act.touch(c.s.now())
	c.s.metrics.bytesIn.Add(float64(n + 4))
	p, err := c.handle(body)
	if err != nil {
		c.s.metrics.badFrames.Inc()
		return nil, err
	}
	if frameFree[p.key] {
		putBuf(fb)
	}
	return p, nil
}

// decodeRequest parses a request frame's header and body. An unknown key or
// an undecodable frame is an error wrapping errMalformed. A key or version
// this broker does not serve is returned with served=false and an undecoded
// body (except ApiVersions, which is decoded when its version is known).
func decodeRequest(frame []byte) (r *Request, served bool, err error) {
	rd := kbin.Reader{Src: frame}
	key, version, corr := rd.Int16(), rd.Int16(), rd.Int32()
	cid := rd.NullableString()
	if !rd.Ok() {
		return nil, false, fmt.Errorf("%w: short request header (%d bytes)", errMalformed, len(frame))
	}
	kreq := kmsg.RequestForKey(key)
	if kreq == nil {
		return nil, false, fmt.Errorf("%w: unknown api key %d (version %d, correlation id %d)", errMalformed, key, version, corr)
	}
	r = &Request{Key: key, Version: version, Corr: corr, Body: kreq}
	if cid != nil {
		r.ClientID = *cid
	}
	h, ok := handlers[key]
	if !ok || version < h.min || version > h.max {
		if key == kmsg.ApiVersions.Int16() && ok && version > h.max {
			// KIP-511: too new to decode; the handler answers v0.
			kreq.SetVersion(version)
			return r, true, nil
		}
		return r, false, nil
	}
	kreq.SetVersion(version)
	if kreq.IsFlexible() {
		skipTags(&rd)
		if !rd.Ok() {
			return nil, false, fmt.Errorf("%w: %s v%d: bad header tags", errMalformed, kmsg.NameForKey(key), version)
		}
	}
	if kreq.IsFlexible() {
		if err := prescan(requestTypeNames[key], version, rd.Src); err != nil {
			return nil, false, fmt.Errorf("%w: %s v%d: %w", errMalformed, kmsg.NameForKey(key), version, err)
		}
	}
	if err := kreq.ReadFrom(rd.Src); err != nil {
		return nil, false, fmt.Errorf("%w: %s v%d: %v", errMalformed, kmsg.NameForKey(key), version, err)
	}
	return r, true, nil
}

// skipTags skips a tagged-field section. Unlike kmsg.SkipTags it stops at
// the first short read, so a huge tag count in a small frame costs nothing.
func skipTags(rd *kbin.Reader) {
	for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
		rd.Uvarint()
		rd.Span(int(rd.Uvarint()))
	}
}

// handle decodes one frame and runs its handler, returning the pending
// response to queue. An error closes the connection.
func (c *conn) handle(frame []byte) (*pending, error) {
	start := time.Now()
	if c.sec.rawToken() {
		return c.sec.handleRawToken(frame, start) // SaslHandshake v0: bare SASL tokens follow
	}
	r, served, err := decodeRequest(frame)
	if err != nil {
		return nil, err
	}
	r.Remote = c.nc.RemoteAddr()
	if err := c.sec.gate(r); err != nil {
		return nil, err // unauthenticated on a SASL listener, or the session expired
	}
	p := &pending{key: r.Key, version: r.Version, corr: r.Corr, start: start, done: closedCh, outcome: "ok"}
	if !served {
		resp, ok := unsupportedVersionResponse(r.Key, r.Version)
		if !ok {
			return nil, fmt.Errorf("%w: %s v%d is not served", errMalformed, kmsg.NameForKey(r.Key), r.Version)
		}
		c.s.log.Debug("unsupported api version", "api", kmsg.NameForKey(r.Key), "version", r.Version, "remote", r.Remote.String())
		p.resp, p.outcome = resp, "unsupported_version"
		return p, nil
	}
	reply, err := c.sec.run(c.s, r) // the handler, behind the authorizer
	if err != nil {
		if reply.Done != nil {
			reply.Done()
		}
		return nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(r.Key), r.Version, err)
	}
	p.release = reply.Done
	switch {
	case reply.Later != nil:
		p.done = make(chan struct{})
		go func() {
			defer close(p.done)
			p.resp = reply.Later(c.ctx)
		}()
	case reply.Resp != nil:
		p.resp = reply.Resp
	default:
		p.outcome = "no_response"
	}
	return p, nil
}

// unsupportedVersionResponse builds, for a key and version kmsg can encode
// but this broker does not serve, a response whose top-level error code is
// UNSUPPORTED_VERSION. Responses without a top-level error code at that
// version cannot carry the error; ok is false and the connection is closed
// instead (as Kafka does).
func unsupportedVersionResponse(key, version int16) (kmsg.Response, bool) {
	kreq := kmsg.RequestForKey(key)
	if kreq == nil || version < 0 || version > kreq.MaxVersion() {
		return nil, false
	}
	resp := kreq.ResponseKind()
	resp.SetVersion(version)
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 || !f.CanSet() {
		return nil, false
	}
	without := resp.AppendTo(nil)
	f.SetInt(int64(kerr.UnsupportedVersion.Code))
	if bytes.Equal(without, resp.AppendTo(nil)) {
		return nil, false // the field is not encoded at this version
	}
	return resp, true
}

func (c *conn) writeLoop() {
	dead := false
	for p := range c.queue {
		select {
		case <-p.done:
		case <-c.ctx.Done():
			<-p.done // handlers see ctx and return promptly
		}
		c.s.metrics.observeRequest(kmsg.NameForKey(p.key), p.version, p.outcome, time.Since(p.start))
		c.s.metrics.inFlight.Dec()
		if p.resp != nil && !dead && !c.write(p) {
			dead = true
			c.cancel()
			c.nc.Close()
		}
		p.resp = nil // do not retain fetched data
		if p.release != nil {
			p.release()
		}
		c.act.touch(c.s.now())
		c.act.pending.Add(-1)
	}
}

// write encodes and writes one response; false means the connection is dead.
func (c *conn) write(p *pending) bool {
	if tok, ok := p.resp.(rawToken); ok {
		return c.writeRawToken(tok)
	}
	if fr, ok := p.resp.(*kmsg.FetchResponse); ok {
		return c.writeFetch(p, fr)
	}
	bp := getBuf(0)
	defer putBuf(bp)
	buf := append((*bp)[:0], 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint32(buf, uint32(p.corr))
	if p.resp.IsFlexible() && p.key != kmsg.ApiVersions.Int16() {
		buf = append(buf, 0) // empty header tagged fields
	}
	buf = p.resp.AppendTo(buf)
	*bp = buf
	binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
	if _, err := c.nc.Write(buf); err != nil {
		return false
	}
	c.s.metrics.bytesOut.Add(float64(len(buf)))
	return true
}

// spliceMin is the smallest record data writeFetch sends without copying.
const spliceMin = 16 << 10

// markerKey makes fetch markers unguessable, so no client-written bytes
// (topic names, small inline record sets) can imitate one.
var markerKey = func() [8]byte {
	var k [8]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic(fmt.Sprintf("server: random marker key: %v", err))
	}
	return k
}()

func fetchMarker(i int) []byte {
	m := make([]byte, 0, 16)
	m = append(m, markerKey[:]...)
	return binary.BigEndian.AppendUint64(m, uint64(i))
}

// writeFetch writes a fetch response without copying large record data
// into the encode buffer: each large partition's records are swapped for a
// 16-byte marker, the response is encoded, and a vectored write sends the
// encoding with every marker (and its length prefix) replaced by the
// records and their real length prefix.
func (c *conn) writeFetch(p *pending, resp *kmsg.FetchResponse) bool {
	var datas [][]byte
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			rp := &resp.Topics[ti].Partitions[pi]
			if len(rp.RecordBatches) >= spliceMin {
				rp.RecordBatches, datas = fetchMarker(len(datas)), append(datas, rp.RecordBatches)
			}
		}
	}
	bp := getBuf(0)
	defer putBuf(bp)
	buf := append((*bp)[:0], 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint32(buf, uint32(p.corr))
	flexible := resp.IsFlexible()
	if flexible {
		buf = append(buf, 0) // empty header tagged fields
	}
	buf = resp.AppendTo(buf)
	*bp = buf

	markerPrefix := 4 // non-flexible bytes: int32 length
	if flexible {
		markerPrefix = 1 // compact bytes: uvarint(16+1)
	}
	out := make(net.Buffers, 0, 3*len(datas)+1)
	size, pos := len(buf)-4, 0
	for i, d := range datas {
		m := fetchMarker(i)
		at := bytes.Index(buf[pos:], m)
		if at < markerPrefix {
			c.s.log.Error("fetch response marker not found; closing connection", "marker", i)
			return false
		}
		at += pos
		var prefix []byte
		if flexible {
			prefix = binary.AppendUvarint(nil, uint64(len(d))+1)
		} else {
			prefix = binary.BigEndian.AppendUint32(nil, uint32(len(d)))
		}
		out = append(out, buf[pos:at-markerPrefix], prefix, d)
		size += len(prefix) + len(d) - markerPrefix - len(m)
		pos = at + len(m)
	}
	out = append(out, buf[pos:])
	binary.BigEndian.PutUint32(buf[:4], uint32(size))
	n, err := out.WriteTo(c.nc)
	if err != nil {
		return false
	}
	c.s.metrics.bytesOut.Add(float64(n))
	return true
}
