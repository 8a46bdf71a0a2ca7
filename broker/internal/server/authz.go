package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// Security: listeners, SASL state per connection and the authorizer hook.
//
// A connection accepted on a SASL listener (SASL_PLAINTEXT, SASL_SSL) may
// send ApiVersions and SaslHandshake, then SaslAuthenticate; anything else
// before it has authenticated closes the connection, as Kafka does. Its
// principal is then User:<name>. On an SSL listener the principal is
// User:<common name> of a verified client certificate, on every other
// connection User:ANONYMOUS. Each request then passes the authorizer's
// table (authz_rules.go) before its handler runs; the table answers denied
// requests, or removes denied resources from the request and puts them
// back into the response with their per-resource authorization error.
//
// KIP-368: with Security.MaxReauth set, SaslAuthenticate (v1+) tells the
// client its session lifetime; once it has passed, any request other than
// SaslHandshake/SaslAuthenticate (the re-authentication) closes the
// connection.

// Protocol is a listener's security protocol, as Kafka names them.
type Protocol string

// The security protocols.
const (
	Plaintext     Protocol = "PLAINTEXT"
	SaslPlaintext Protocol = "SASL_PLAINTEXT"
	SSL           Protocol = "SSL"
	SaslSSL       Protocol = "SASL_SSL"
)

func (p Protocol) sasl() bool { return p == SaslPlaintext || p == SaslSSL }
func (p Protocol) tls() bool  { return p == SSL || p == SaslSSL }

// ListenerConfig is one further listener (Config.Listeners).
type ListenerConfig struct {
	// Addr is the TCP listen address; port 0 picks a free one.
	Addr string
	// AdvertisedAddr is what clients connected here are told; default the
	// bound address (127.0.0.1 for a wildcard host).
	AdvertisedAddr string
	// Protocol is the listener's security protocol.
	Protocol Protocol
}

// Security is the broker's security configuration (Config.Security).
type Security struct {
	// Users holds the SASL credentials; required for SASL listeners.
	Users *auth.Users
	// ACLs is the ACL store the ACL APIs change; required with Authorizer.
	ACLs *auth.ACLs
	// Authorizer decides every request; nil allows everything.
	Authorizer *auth.Authorizer
	// TLS serves the SSL and SASL_SSL listeners; required for them.
	TLS *TLSFiles
	// MaxReauth is Kafka's connections.max.reauth.ms: the session lifetime
	// told to SASL clients, after which they must re-authenticate. Default
	// 0: sessions do not expire.
	MaxReauth time.Duration
}

type listener struct {
	cfg     ListenerConfig
	ln      net.Listener
	advHost string
	advPort int32
}

func (s *Server) listenExtra() error {
	for _, lc := range s.cfg.Listeners {
		sec := s.cfg.Security
		switch {
		case lc.Protocol != Plaintext && lc.Protocol != SaslPlaintext && lc.Protocol != SSL && lc.Protocol != SaslSSL:
			return fmt.Errorf("server: listener %s: unknown protocol %q", lc.Addr, lc.Protocol)
		case lc.Protocol.sasl() && (sec == nil || sec.Users == nil):
			return fmt.Errorf("server: %s listener %s needs Security.Users", lc.Protocol, lc.Addr)
		case lc.Protocol.tls() && (sec == nil || sec.TLS == nil):
			return fmt.Errorf("server: %s listener %s needs Security.TLS", lc.Protocol, lc.Addr)
		}
		ln, err := net.Listen("tcp", lc.Addr)
		if err != nil {
			s.closeExtra()
			return fmt.Errorf("server: %s listener on %s: %w", lc.Protocol, lc.Addr, err)
		}
		adv := lc.AdvertisedAddr
		if adv == "" {
			adv = ln.Addr().String()
		}
		host, port, err := splitHostPort(adv)
		if err != nil {
			ln.Close()
			s.closeExtra()
			return fmt.Errorf("server: advertised address %q: %w", adv, err)
		}
		if lc.Protocol.tls() {
			ln = tls.NewListener(ln, sec.TLS.Config())
		}
		s.extra = append(s.extra, &listener{cfg: lc, ln: ln, advHost: host, advPort: port})
	}
	return nil
}

func (s *Server) closeExtra() {
	for _, l := range s.extra {
		l.ln.Close()
	}
	s.extra = nil
}

// ListenerAddr returns the bound address of the first listener with
// protocol p (PLAINTEXT: Config.Addr), or nil.
func (s *Server) ListenerAddr(p Protocol) net.Addr {
	if p == Plaintext {
		return s.ln.Addr()
	}
	for _, l := range s.extra {
		if l.cfg.Protocol == p {
			return l.ln.Addr()
		}
	}
	return nil
}

// session is a connection's security state. Its methods are nil-safe: a
// nil session (no Config.Security) allows everything at no cost. It is used
// only by the connection's read goroutine.
type session struct {
	c         *conn
	l         *listener // nil: the PLAINTEXT Config.Addr listener
	sasl      bool
	principal string
	host      string
	tlsDone   bool

	authenticated bool
	mech          string
	conv          auth.Conversation // a SASL exchange in progress
	raw           bool              // SaslHandshake v0: bare tokens follow
	expires       time.Time         // zero: never
}

func (s *Server) newSession(c *conn, l *listener) *session {
	if s.cfg.Security == nil {
		return nil
	}
	z := &session{c: c, l: l, principal: auth.Anonymous}
	if l != nil {
		z.sasl = l.cfg.Protocol.sasl()
	}
	if tcp, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		z.host = tcp.IP.String()
	}
	return z
}

func (z *session) rawToken() bool { return z != nil && z.raw }

// gate runs before every decoded request: it refuses what an
// unauthenticated (or expired) SASL connection may not send, and learns the
// TLS client certificate's principal on the first request.
func (z *session) gate(r *Request) error {
	if z == nil {
		return nil
	}
	r.sess = z
	if !z.tlsDone {
		z.tlsDone = true
		if tc, ok := z.c.nc.(*tls.Conn); ok && !z.sasl {
			cs := tc.ConnectionState()
			if len(cs.VerifiedChains) > 0 && len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName != "" {
				z.principal = "User:" + cs.PeerCertificates[0].Subject.CommonName
			}
		}
	}
	if !z.sasl {
		return nil
	}
	switch kmsg.Key(r.Key) {
	case kmsg.ApiVersions, kmsg.SASLHandshake:
		return nil
	case kmsg.SASLAuthenticate:
		if z.conv != nil {
			return nil
		}
	}
	if !z.authenticated {
		return fmt.Errorf("%s v%d before SASL authentication on a %s listener", kmsg.NameForKey(r.Key), r.Version, z.l.cfg.Protocol)
	}
	if !z.expires.IsZero() && time.Now().After(z.expires) && z.conv == nil {
		return fmt.Errorf("SASL session of %s expired at %s without re-authentication", z.principal, z.expires.Format(time.RFC3339))
	}
	return nil
}

// run calls r's handler behind the authorizer and rewrites broker
// addresses for the listener the client came in on.
func (z *session) run(s *Server, r *Request) (Reply, error) {
	h := handlers[r.Key].fn
	if z == nil {
		return h(s, r)
	}
	var post func(kmsg.Response)
	if a := s.cfg.Security.Authorizer; a != nil && !a.Open() {
		if rule, ok := authzRules[r.Key]; ok {
			deny, p := rule(&authzReq{a: a, principal: z.principal, host: z.host, s: s}, r)
			if deny != nil {
				s.log.Debug("request denied", "api", kmsg.NameForKey(r.Key), "principal", z.principal, "host", z.host)
				return Reply{Resp: deny}, nil
			}
			post = p
		}
	}
	if z.l != nil {
		post = chainPost(post, z.l.rewriteAddrs)
	}
	reply, err := h(s, r)
	if err != nil || post == nil {
		return reply, err
	}
	if reply.Resp != nil {
		post(reply.Resp)
	}
	if later := reply.Later; later != nil {
		reply.Later = func(ctx context.Context) kmsg.Response {
			resp := later(ctx)
			if resp != nil {
				post(resp)
			}
			return resp
		}
	}
	return reply, nil
}

func chainPost(a, b func(kmsg.Response)) func(kmsg.Response) {
	if a == nil {
		return b
	}
	return func(r kmsg.Response) { a(r); b(r) }
}

// rewriteAddrs puts this listener's advertised address where handlers put
// the PLAINTEXT one.
func (l *listener) rewriteAddrs(resp kmsg.Response) {
	switch resp := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range resp.Brokers {
			resp.Brokers[i].Host, resp.Brokers[i].Port = l.advHost, l.advPort
		}
	case *kmsg.FindCoordinatorResponse:
		if resp.Host != "" {
			resp.Host, resp.Port = l.advHost, l.advPort
		}
		for i := range resp.Coordinators {
			if resp.Coordinators[i].Host != "" {
				resp.Coordinators[i].Host, resp.Coordinators[i].Port = l.advHost, l.advPort
			}
		}
	case *kmsg.DescribeClusterResponse:
		for i := range resp.Brokers {
			resp.Brokers[i].Host, resp.Brokers[i].Port = l.advHost, l.advPort
		}
	}
}

// rawToken is a bare SASL token written after SaslHandshake v0: a 4-byte
// size and the token, no response header (what kafka-python 2.0 speaks).
type rawToken struct {
	*kmsg.SASLAuthenticateResponse
	tok []byte
}

// handleRawToken feeds one bare token (a whole frame) to the SASL exchange
// begun by SaslHandshake v0. Bad credentials close the connection (the
// legacy protocol has no way to carry an error).
func (z *session) handleRawToken(frame []byte, start time.Time) (*pending, error) {
	out, done, err := z.conv.Step(append([]byte(nil), frame...))
	if err != nil {
		z.conv, z.raw = nil, false
		return nil, fmt.Errorf("SASL %s (handshake v0): %w", z.mech, err)
	}
	p := &pending{key: kmsg.SASLAuthenticate.Int16(), start: start, done: closedCh, outcome: "ok",
		resp: rawToken{SASLAuthenticateResponse: kmsg.NewPtrSASLAuthenticateResponse(), tok: out}}
	if done {
		z.finish(z.conv.User())
	}
	return p, nil
}

// finish marks the connection authenticated as user and starts its session
// lifetime; it returns the lifetime in milliseconds (0: none).
func (z *session) finish(user string) int64 {
	z.principal, z.authenticated, z.conv, z.raw = "User:"+user, true, nil, false
	z.c.s.log.Debug("sasl authenticated", "principal", z.principal, "mechanism", z.mech, "remote", z.host)
	if d := z.c.s.cfg.Security.MaxReauth; d > 0 {
		z.expires = time.Now().Add(d)
		return d.Milliseconds()
	}
	return 0
}

func (c *conn) writeRawToken(t rawToken) bool {
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(t.tok)), uint32(len(t.tok)))
	buf = append(buf, t.tok...)
	if _, err := c.nc.Write(buf); err != nil {
		return false
	}
	c.s.metrics.bytesOut.Add(float64(len(buf)))
	return true
}
