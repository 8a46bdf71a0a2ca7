package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// SaslAuthenticate: v0-2
//
// Behavior:
//   - Carries the tokens of the exchange SaslHandshake v1 began: one for
//     PLAIN, two for SCRAM (client-first, client-final; RFC 5802 with
//     SHA-256 or SHA-512; the server-final message carries the server
//     signature).
//   - Wrong credentials (or an unknown user, which looks the same, or a
//     malformed message): SASL_AUTHENTICATION_FAILED with a message, and the
//     connection is closed once the answer is written. Without a handshake
//     first: ILLEGAL_SASL_STATE, closed too.
//   - v1+: SessionLifetimeMillis is Security.MaxReauth (0: none). After it
//     the client must re-authenticate (KIP-368) before its next request or
//     the connection is closed; a re-authentication must keep the principal.

func init() { Register(kmsg.SASLAuthenticate.Int16(), 0, 2, handleSaslAuthenticate) }

func handleSaslAuthenticate(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	z := r.sess
	if z == nil || !z.sasl || z.conv == nil || z.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake v1 first")
		if z != nil {
			z.c.stopReading()
		}
		return Reply{Resp: resp}, nil
	}
	out, done, err := z.conv.Step(append([]byte(nil), req.SASLAuthBytes...))
	if err == nil && done && z.authenticated && "User:"+z.conv.User() != z.principal {
		err = errors.New("re-authentication as another principal")
	}
	if err != nil {
		s.log.Info("sasl authentication failed", "mechanism", z.mech, "remote", z.host, "err", err)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed: invalid credentials"
		if !errors.Is(err, auth.ErrAuthFailed) && !z.authenticated {
			msg = "Authentication failed"
		}
		resp.ErrorMessage = kmsg.StringPtr(msg + " (" + z.mech + ")")
		z.conv = nil
		z.c.stopReading()
		return Reply{Resp: resp}, nil
	}
	resp.SASLAuthBytes = out
	if done {
		resp.SessionLifetimeMillis = z.finish(z.conv.User())
	}
	return Reply{Resp: resp}, nil
}
