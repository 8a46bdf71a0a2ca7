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
//   - A transactional id goes to the transaction coordinator (txn
//     package): a new id gets a fresh producer id at epoch 0, a known one
//     keeps its producer id with the epoch bumped (fencing the previous
//     producer), its open transaction aborted first. v3+ with a producer id
//     and epoch (KIP-360): a different id is INVALID_PRODUCER_ID_MAPPING, an
//     epoch above the current one PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
//     below v4). A timeout outside (0, transaction.max.timeout.ms] is
//     INVALID_TRANSACTION_TIMEOUT. Without a coordinator:
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

func init() { Register(kmsg.InitProducerID.Int16(), 0, 5, handleInitProducerID) }

func handleInitProducerID(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		if s.cfg.Txns == nil {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return Reply{Resp: resp}, nil
		}
		if *req.TransactionalID == "" {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return Reply{Resp: resp}, nil
		}
		pid, epoch := int64(-1), int16(-1)
		if r.Version >= 3 {
			pid, epoch = req.ProducerID, req.ProducerEpoch
		}
		id, ep, err := s.cfg.Txns.InitProducerID(*req.TransactionalID, req.TransactionTimeoutMillis, pid, epoch)
		if code := fenced(err, r.Version, 4); code != 0 {
			resp.ErrorCode = code
			return Reply{Resp: resp}, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, ep
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
