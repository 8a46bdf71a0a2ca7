// Package server is the broker's Kafka wire layer: it accepts TCP
// connections, decodes size-prefixed request frames with franz-go's kmsg,
// dispatches each request to the handler registered for its API key (one file
// per key, 00_produce.go, 01_fetch.go, ...) and writes the responses back in
// request order. Data lives in a storage.Store; consumer groups, when
// configured, in a GroupCoordinator.
//
// Handlers of one connection run one at a time in request order, so that the
// store sees a connection's produce requests in the order they were sent
// (idempotent producers pipeline them). A handler that must wait (an acks=all
// produce waiting for its fsync, a fetch long poll) returns the waiting part
// as Reply.Later, which runs on its own goroutine while the connection reads
// and handles the next requests; responses are still written in order.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
	"github.com/freshmart/platform/broker/internal/txn"
)

// Defaults used when Config fields are zero.
const (
	DefaultMaxFrameBytes = 100 << 20 // 100 MiB
	DefaultMaxInFlight   = 64        // pipelined requests per connection
	DefaultClusterID     = "freshmart-broker"
)

// Config configures a Server.
type Config struct {
	// Addr is the TCP listen address; default "127.0.0.1:9092". Port 0
	// picks a free port (see Server.Addr).
	Addr string
	// AdvertisedAddr is the host:port clients are told to connect to in
	// Metadata and DescribeCluster; default the bound listen address (with
	// 127.0.0.1 for a wildcard host such as 0.0.0.0).
	AdvertisedAddr string
	// Store holds the topics and their data. Required.
	Store *storage.Store
	// AutoCreateTopics creates a topic with DefaultPartitions partitions
	// when Metadata or Produce names an unknown one; default false.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics requests asking for the broker default (-1); default 1.
	DefaultPartitions int32
	// MaxFrameBytes is the largest request frame accepted; a larger (or
	// negative) size closes the connection. Default 100 MiB.
	MaxFrameBytes int32
	// MaxInFlight bounds the pipelined requests read from one connection
	// before their responses are written; default 64.
	MaxInFlight int
	// NodeID is this broker's node id; default 0.
	NodeID int32
	// ClusterID is reported in Metadata and DescribeCluster; default
	// DefaultClusterID. The binary persists a random one in its data dir.
	ClusterID string
	// Groups serves the consumer-group APIs; nil leaves them to nobody
	// (their handlers answer COORDINATOR_NOT_AVAILABLE or are not advertised,
	// as each group handler decides).
	Groups GroupCoordinator
	// Txns serves the transaction APIs (keys 24-26, 28, 65, 66 and
	// InitProducerId with a transactional id); nil refuses transactions
	// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, COORDINATOR_NOT_AVAILABLE).
	// Shutdown closes it before the groups.
	Txns *txn.Coordinator
	// Metrics receives the wire-level metrics; default a fresh NewMetrics.
	Metrics *Metrics
	// Logger receives connection and request errors; default slog.Default().
	Logger *slog.Logger

	// MaxQueuedRequestBytes bounds the bytes of request frames read and not
	// yet handled across all connections (Kafka's queued.max.request.bytes);
	// past it connections stop reading. Default 100 MiB (limits.go).
	MaxQueuedRequestBytes int64
	// MaxConnectionsPerIP bounds the open connections of one client
	// address; more are closed at accept. Default 1000.
	MaxConnectionsPerIP int
	// ConnectionsMaxIdle closes connections without a request in flight
	// that have read nothing for this long (connections.max.idle.ms).
	// Default 10 minutes.
	ConnectionsMaxIdle time.Duration
	// Clock is the time of the idle reaper; default time.Now.
	Clock func() time.Time
	// Listeners are further addresses to accept on, each with its security
	// protocol (Addr is always PLAINTEXT). Clients connected to one are
	// told its own address in Metadata, FindCoordinator and DescribeCluster.
	Listeners []ListenerConfig
	// Security holds the users, the authorizer and the TLS files; nil means
	// none (PLAINTEXT only, every request allowed, as before).
	Security *Security
}

// GroupCoordinator is the consumer-group layer the group API handlers
// (groups.go and the files for keys 8-16, 42, 47) reach through
// Server.Groups. Close is called by Shutdown after the last connection has
// finished.
type GroupCoordinator interface {
	Close() error
}

// Server is a running Kafka-protocol listener.
type Server struct {
	cfg     Config
	store   *storage.Store
	log     *slog.Logger
	metrics *Metrics
	ln      net.Listener
	advHost string
	advPort int32
	extra   []*listener // Config.Listeners, bound

	// stopping is closed by Shutdown: long polls return early, reads stop.
	stopping chan struct{}
	stopOnce sync.Once
	conns    sync.WaitGroup
	mu       sync.Mutex
	open     map[*conn]struct{}
	acceptWG sync.WaitGroup
	limits   *limits
}

// New starts listening on cfg.Addr; call Serve to accept connections.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9092"
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.MaxQueuedRequestBytes <= 0 {
		cfg.MaxQueuedRequestBytes = DefaultMaxQueuedRequestBytes
	}
	if cfg.MaxConnectionsPerIP <= 0 {
		cfg.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if cfg.ConnectionsMaxIdle <= 0 {
		cfg.ConnectionsMaxIdle = DefaultConnectionsMaxIdle
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Addr, err)
	}
	adv := cfg.AdvertisedAddr
	if adv == "" {
		adv = ln.Addr().String()
	}
	host, port, err := splitHostPort(adv)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("server: advertised address %q: %w", adv, err)
	}
	s := &Server{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		metrics:  cfg.Metrics,
		ln:       ln,
		advHost:  host,
		advPort:  port,
		stopping: make(chan struct{}),
		open:     make(map[*conn]struct{}),
	}
	if s.cfg.ClusterID == "" {
		s.cfg.ClusterID = DefaultClusterID
	}
	if err := s.listenExtra(); err != nil {
		ln.Close()
		return nil, err
	}
	s.metrics.watchStore(cfg.Store)
	s.limits = newLimits(s)
	tick := time.NewTicker(min(max(cfg.ConnectionsMaxIdle/10, 10*time.Millisecond), 30*time.Second))
	go func() {
		defer tick.Stop()
		s.reaper(tick.C)
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Store returns the store the server serves.
func (s *Server) Store() *storage.Store { return s.store }

// Groups returns Config.Groups (nil if none).
func (s *Server) Groups() GroupCoordinator { return s.cfg.Groups }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// NodeID returns this broker's node id.
func (s *Server) NodeID() int32 { return s.cfg.NodeID }

// AdvertisedHostPort returns the host and port clients are told to use.
func (s *Server) AdvertisedHostPort() (string, int32) { return s.advHost, s.advPort }

// ClusterID returns the cluster id reported to clients.
func (s *Server) ClusterID() string { return s.cfg.ClusterID }

// Stopping returns a channel closed when Shutdown begins; long-running
// handlers (long polls, group joins) return early when it closes.
func (s *Server) Stopping() <-chan struct{} { return s.stopping }

// Serve accepts connections until Shutdown; it returns nil after Shutdown
// and the accept error otherwise.
func (s *Server) Serve() error {
	errs := make(chan error, len(s.extra))
	for _, l := range s.extra {
		s.acceptWG.Add(1)
		go func() { errs <- s.serveListener(l) }()
	}
	if err := s.serveListener(nil); err != nil {
		return err
	}
	for range s.extra {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// serveListener accepts on l (nil: the PLAINTEXT Config.Addr listener).
func (s *Server) serveListener(l *listener) error {
	ln := s.ln
	if l != nil {
		ln = l.ln
	} else {
		s.acceptWG.Add(1)
	}
	defer s.acceptWG.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.stopping:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		delay = 0
		if !s.limits.admit(nc) {
			s.log.Warn("refusing connection: too many from its address", "remote", nc.RemoteAddr().String(), "limit", s.cfg.MaxConnectionsPerIP)
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		c.sec = s.newSession(c, l)
		s.mu.Lock()
		select {
		case <-s.stopping:
			s.mu.Unlock()
			s.limits.leave(nc)
			nc.Close()
			return nil
		default:
		}
		s.open[c] = struct{}{}
		s.conns.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.conns.Done()
			defer s.limits.leave(nc)
			c.serve()
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, stops reading new requests, lets in-flight
// requests finish (long polls return what they have), writes their
// responses and closes every connection. If ctx ends first the remaining
// connections are closed at once and ctx's error is returned. The store is
// not closed: the caller closes it afterwards (that fsyncs everything).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		close(s.stopping)
		for c := range s.open {
			c.stopReading()
		}
		s.mu.Unlock()
		s.ln.Close()
		for _, l := range s.extra {
			l.ln.Close()
		}
	})
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		s.acceptWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.open {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		err = fmt.Errorf("server: shutdown: %w", ctx.Err())
	}
	if s.cfg.Txns != nil {
		if cerr := s.cfg.Txns.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("server: close transactions: %w", cerr)
		}
	}
	if s.cfg.Groups != nil {
		if cerr := s.cfg.Groups.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("server: close groups: %w", cerr)
		}
	}
	return err
}

// Request is one decoded request as a handler sees it.
type Request struct {
	Key      int16
	Version  int16
	Corr     int32
	ClientID string
	// Body is the decoded request, e.g. *kmsg.ProduceRequest.
	Body kmsg.Request
	// Remote is the client's address.
	Remote net.Addr

	sess *session // the connection's security state (authz.go); nil without Config.Security
}

// Reply is what a handler answers.
type Reply struct {
	// Resp is the response to write. Nil with Later also nil means no
	// response at all (acks=0 produce).
	Resp kmsg.Response
	// Later, if set, runs on its own goroutine after the handler returns
	// (while the connection handles further requests) and returns the
	// response to write; ctx is done when the server shuts down hard.
	Later func(ctx context.Context) kmsg.Response
	// Done, if set, runs once the response has been written (or dropped
	// because the connection died); handlers release buffers here.
	Done func()
}

// HandlerFunc serves one API key. It runs on the connection's goroutine in
// request order. A returned error closes the connection (malformed request).
type HandlerFunc func(s *Server, r *Request) (Reply, error)

type apiHandler struct {
	min, max int16
	fn       HandlerFunc
}

var handlers = map[int16]apiHandler{}

// Register serves API key with versions minV..maxV by fn; ApiVersions
// advertises every registered key. Call it from an init function of the
// key's file. Registering a key twice panics.
func Register(key, minV, maxV int16, fn HandlerFunc) {
	if _, ok := handlers[key]; ok {
		panic(fmt.Sprintf("server: API key %d registered twice", key))
	}
	if kreq := kmsg.RequestForKey(key); kreq == nil || maxV > kreq.MaxVersion() || minV < 0 || minV > maxV {
		panic(fmt.Sprintf("server: API key %d: bad version range %d-%d", key, minV, maxV))
	}
	handlers[key] = apiHandler{min: minV, max: maxV, fn: fn}
}

// registeredKeys returns the served keys in ascending order.
func registeredKeys() []int16 {
	keys := make([]int16, 0, len(handlers))
	for k := range handlers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func splitHostPort(addr string) (string, int32, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscanf(ps, "%d", &port); err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return host, int32(port), nil
}
