package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Network hardening: limits that keep a misbehaving or hostile client from
// exhausting the broker.
//
//   - Request bytes in flight (Kafka's queued.max.request.bytes): before a
//     connection reads a frame's body it reserves the frame's size from one
//     budget shared by every connection, and gives it back once the request
//     has been handled (its frame released). Past the budget connections stop
//     reading from their sockets until earlier requests finish, so TCP
//     pushes back on the clients and memory stays bounded, however many
//     connections send large requests at once. A frame larger than the whole
//     budget waits until it can have all of it. A frame's body must arrive
//     within ConnectionsMaxIdle, so a client trickling one in cannot hold
//     its share of the budget for ever.
//   - Connections per client address (max.connections.per.ip): an accepted
//     connection over the limit is closed at once and logged.
//   - Idle connections (connections.max.idle.ms): a connection with no
//     request in flight that has read nothing for the idle time is closed by
//     a reaper that runs on the server's clock.
//   - Flexible requests are pre-scanned (prescan.go) before kmsg decodes them.

// Defaults used when the Config limit fields are zero.
const (
	DefaultMaxQueuedRequestBytes = 100 << 20        // queued.max.request.bytes
	DefaultMaxConnectionsPerIP   = 1000             // max.connections.per.ip
	DefaultConnectionsMaxIdle    = 10 * time.Minute // connections.max.idle.ms
)

// limits holds the server-wide limit state.
type limits struct {
	s *Server

	mu       sync.Mutex
	budget   int64 // bytes
	used     int64
	waiting  int           // connections waiting in acquire
	released chan struct{} // closed and replaced when bytes are given back while some wait

	perIPMu sync.Mutex
	perIP   map[string]int

	queuedBytes prometheus.Gauge
	readWaits   prometheus.Counter
	refused     prometheus.Counter
	reaped      prometheus.Counter
}

func newLimits(s *Server) *limits {
	l := &limits{
		s:        s,
		budget:   s.cfg.MaxQueuedRequestBytes,
		released: make(chan struct{}),
		perIP:    make(map[string]int),
		queuedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "broker_request_bytes_queued", Help: "Bytes of request frames read or being read and not yet handled (bounded by queued.max.request.bytes).",
		}),
		readWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_request_read_waits_total", Help: "Times a connection stopped reading because the request bytes in flight reached queued.max.request.bytes.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_connections_refused_total", Help: "Connections closed at accept because their client address had max.connections.per.ip open.",
		}),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_connections_idle_closed_total", Help: "Connections closed after connections.max.idle.ms without a request.",
		}),
	}
	s.metrics.Registry.MustRegister(l.queuedBytes, l.readWaits, l.refused, l.reaped)
	return l
}

// acquire reserves n bytes of the request budget, waiting while it is
// used up; false if the server began shutting down (or quit closed)
// meanwhile. It returns the bytes reserved, which release takes back.
func (l *limits) acquire(n int64, quit <-chan struct{}) (int64, bool) {
	n = min(n, l.budget)
	waited := false
	for {
		l.mu.Lock()
		if l.used+n <= l.budget {
			l.used += n
			l.mu.Unlock()
			l.queuedBytes.Add(float64(n))
			return n, true
		}
		ch := l.released
		l.waiting++
		l.mu.Unlock()
		if !waited {
			waited = true
			l.readWaits.Inc()
		}
		var ok bool
		select {
		case <-ch:
			ok = true
		case <-quit:
		case <-l.s.stopping:
		}
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
		if !ok {
			return 0, false
		}
	}
}

// release gives back bytes reserved by acquire.
func (l *limits) release(n int64) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	l.used -= n
	if l.waiting > 0 {
		close(l.released)
		l.released = make(chan struct{})
	}
	l.mu.Unlock()
	l.queuedBytes.Sub(float64(n))
}

// admit counts a new connection against its client address's limit; false
// means it is over the limit (and not counted).
func (l *limits) admit(nc net.Conn) bool {
	ip := hostOf(nc.RemoteAddr())
	l.perIPMu.Lock()
	defer l.perIPMu.Unlock()
	if l.perIP[ip] >= l.s.cfg.MaxConnectionsPerIP {
		l.refused.Inc()
		return false
	}
	l.perIP[ip]++
	return true
}

// leave uncounts a connection admit counted.
func (l *limits) leave(nc net.Conn) {
	ip := hostOf(nc.RemoteAddr())
	l.perIPMu.Lock()
	defer l.perIPMu.Unlock()
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// now returns the server's time (Config.Clock, default time.Now).
func (s *Server) now() time.Time {
	if s.cfg.Clock != nil {
		return s.cfg.Clock()
	}
	return time.Now()
}

// activity is a connection's idle bookkeeping.
type activity struct {
	last    atomic.Int64 // UnixNano of the last frame read or response written
	pending atomic.Int32 // requests read whose responses are not written yet
}

func (a *activity) touch(now time.Time) { a.last.Store(now.UnixNano()) }

// reapIdle closes every connection that has no request in flight and has
// been idle for ConnectionsMaxIdle at now; it returns how many it closed.
func (s *Server) reapIdle(now time.Time) int {
	limit := s.cfg.ConnectionsMaxIdle
	var idle []*conn
	s.mu.Lock()
	for c := range s.open {
		if c.act.pending.Load() == 0 && now.Sub(time.Unix(0, c.act.last.Load())) >= limit {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		s.log.Info("closing idle connection", "remote", c.nc.RemoteAddr().String(), "idle_limit", limit)
		s.limits.reaped.Inc()
		c.stopReading()
	}
	return len(idle)
}

// reaper runs reapIdle every tick until Shutdown. Tests drive reapIdle
// directly with a controllable clock.
func (s *Server) reaper(tick <-chan time.Time) {
	for {
		select {
		case <-s.stopping:
			return
		case <-tick:
			s.reapIdle(s.now())
		}
	}
}
