package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId: v0-5
//
// Behavior:
//   - Idempotent producers (no transactional id) get a fresh producer id,
//     unique across restarts (Store.NextProducerID), with epoch 0. A v3+
//     request that names its current id and epoch (a producer resetting
//     after an error) gets a fresh id as well, which is always safe.
//   - Transactions are not supported: a transactional id gets
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

func init() { Register(kmsg.InitProducerID.Int16(), 0, 5, handleInitProducerID) }

func handleInitProducerID(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return Reply{Resp: resp}, nil
	}
	id, err := s.store.NextProducerID()
	if err != nil {
		s.log.Error("allocate producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Reply{Resp: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return Reply{Resp: resp}, nil
}
