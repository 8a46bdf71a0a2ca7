package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-4
//
// Behavior:
//   - This single broker coordinates every group: key type 0 (group) is
//     answered with this broker's node id and advertised address, for each
//     key of the v4+ batch.
//   - Key type 1 (transaction): this broker coordinates every
//     transactional id too; without a transaction coordinator configured
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED. Other key types get
//     INVALID_REQUEST.
//   - Without a group coordinator configured: COORDINATOR_NOT_AVAILABLE.

func init() { Register(kmsg.FindCoordinator.Int16(), 0, 4, handleFindCoordinator) }

func handleFindCoordinator(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.AdvertisedHostPort()
	answer := func() (int16, *string) {
		var code int16
		switch {
		case req.CoordinatorType == 1:
			if s.cfg.Txns == nil {
				code = kerr.TransactionalIDAuthorizationFailed.Code
			}
		case req.CoordinatorType != 0:
			code = kerr.InvalidRequest.Code
		case s.coordinator() == nil:
			code = kerr.CoordinatorNotAvailable.Code
		}
		if code == 0 {
			return 0, nil
		}
		msg := kerr.ErrorForCode(code).Error()
		return code, &msg
	}
	code, msg := answer()
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		resp.NodeID, resp.Host, resp.Port = -1, "", -1
		if code == 0 {
			resp.NodeID, resp.Host, resp.Port = s.NodeID(), host, port
		}
		return Reply{Resp: resp}, nil
	}
	for _, key := range req.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key, rc.ErrorCode, rc.ErrorMessage = key, code, msg
		rc.NodeID, rc.Host, rc.Port = -1, "", -1
		if code == 0 {
			rc.NodeID, rc.Host, rc.Port = s.NodeID(), host, port
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	return Reply{Resp: resp}, nil
}
