package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// AlterUserScramCredentials: v0
//
// Behavior:
//   - Upsertions carry the salt, the iteration count and the salted
//     password (the client salts, as with Kafka); the broker derives and
//     stores StoredKey and ServerKey durably (users.json) before answering.
//     Deletions remove one mechanism's credential.
//   - Per user results: an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM,
//     iterations outside 4096..16384 UNACCEPTABLE_CREDENTIAL, deleting a
//     missing credential RESOURCE_NOT_FOUND, a user changed twice in one
//     request DUPLICATE_RESOURCE, a bad name UNACCEPTABLE_CREDENTIAL.
//   - Without Security.Users: SECURITY_DISABLED. Needs ALTER on the cluster.

func init() { Register(kmsg.AlterUserSCRAMCredentials.Int16(), 0, 0, handleAlterUserScramCredentials) }

func wireScramMechanism(m int8) (auth.Mechanism, bool) {
	switch m {
	case 1:
		return auth.ScramSHA256, true
	case 2:
		return auth.ScramSHA512, true
	}
	return "", false
}

func handleAlterUserScramCredentials(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var users *auth.Users
	if s.cfg.Security != nil {
		users = s.cfg.Security.Users
	}
	count := map[string]int{}
	for _, d := range req.Deletions {
		count[d.Name]++
	}
	for _, u := range req.Upsertions {
		count[u.Name]++
	}
	add := func(name string, code int16, msg string) {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = name, code
		if msg != "" {
			res.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Results = append(resp.Results, res)
	}
	check := func(name string, mech int8) (auth.Mechanism, bool) {
		m, ok := wireScramMechanism(mech)
		switch {
		case users == nil:
			add(name, kerr.SecurityDisabled.Code, "the broker runs without users")
		case count[name] > 1:
			add(name, kerr.DuplicateResource.Code, "a user may be altered once per request")
		case auth.ValidName(name) != nil:
			add(name, kerr.UnacceptableCredential.Code, auth.ValidName(name).Error())
		case !ok:
			add(name, kerr.UnsupportedSaslMechanism.Code, "unknown SCRAM mechanism")
		default:
			return m, true
		}
		return "", false
	}
	for _, d := range req.Deletions {
		m, ok := check(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		switch err := users.Delete(d.Name, m); {
		case errors.Is(err, auth.ErrNoUser):
			add(d.Name, kerr.ResourceNotFound.Code, err.Error())
		case err != nil:
			s.log.Error("delete scram credential", "user", d.Name, "err", err)
			add(d.Name, kerr.UnknownServerError.Code, "storing the credential failed")
		default:
			add(d.Name, 0, "")
		}
	}
	for _, u := range req.Upsertions {
		m, ok := check(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		cred, err := auth.CredentialFromSalted(m, u.Salt, u.SaltedPassword, int(u.Iterations))
		if err != nil {
			add(u.Name, kerr.UnacceptableCredential.Code, err.Error())
			continue
		}
		if err := users.Set(u.Name, m, cred); err != nil {
			s.log.Error("store scram credential", "user", u.Name, "err", err)
			add(u.Name, kerr.UnknownServerError.Code, "storing the credential failed")
			continue
		}
		s.log.Info("scram credential altered", "user", u.Name, "mechanism", m, "by", principalOf(r))
		add(u.Name, 0, "")
	}
	return Reply{Resp: resp}, nil
}
