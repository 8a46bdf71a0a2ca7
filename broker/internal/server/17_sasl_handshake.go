package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// SaslHandshake: v0-1
//
// Behavior:
//   - Lists the enabled mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
//     and starts the exchange for the one asked for; an unknown mechanism
//     gets UNSUPPORTED_SASL_MECHANISM and the connection is closed.
//   - v1: the exchange continues with SaslAuthenticate requests. v0 (what
//     kafka-python 2.0 sends): bare size-prefixed SASL tokens follow, with
//     bare answers (PLAIN: an empty token on success).
//   - On an authenticated connection a v1 handshake starts a
//     re-authentication (KIP-368); the principal may not change.
//   - On a listener without SASL: ILLEGAL_SASL_STATE.

func init() { Register(kmsg.SASLHandshake.Int16(), 0, 1, handleSaslHandshake) }

func handleSaslHandshake(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = auth.SupportedMechanisms
	z := r.sess
	if z == nil || !z.sasl {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return Reply{Resp: resp}, nil
	}
	if z.authenticated && r.Version == 0 {
		resp.ErrorCode = kerr.IllegalSaslState.Code // re-authentication needs SaslAuthenticate
		z.c.stopReading()
		return Reply{Resp: resp}, nil
	}
	conv, err := auth.NewConversation(req.Mechanism, s.cfg.Security.Users)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		z.c.stopReading()
		return Reply{Resp: resp}, nil
	}
	z.mech, z.conv, z.raw = req.Mechanism, conv, r.Version == 0
	return Reply{Resp: resp}, nil
}
