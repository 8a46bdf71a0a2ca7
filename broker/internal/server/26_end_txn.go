package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn: v0-3
//
// Behavior:
//   - Commit or abort: the Prepare state is made durable, a control batch
//     (commit or abort marker) is written to every partition of the
//     transaction that holds its records and fsynced, on commit the
//     staged offsets are committed to their groups, and then the answer is
//     sent. The epoch stays the same across transactions (v5's per
//     transaction epoch bump, KIP-890, is not served).
//   - A retry of a completed EndTxn with the same outcome succeeds; the
//     other outcome, or a transaction never started, is INVALID_TXN_STATE.
//     Wrong producer id: INVALID_PRODUCER_ID_MAPPING; another epoch:
//     PRODUCER_FENCED (INVALID_PRODUCER_EPOCH below v2). If a marker cannot
//     be written the answer is COORDINATOR_NOT_AVAILABLE and the
//     coordinator finishes the transaction in the background.

func init() { Register(kmsg.EndTxn.Int16(), 0, 3, handleEndTxn) }

func handleEndTxn(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if s.cfg.Txns == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Reply{Resp: resp}, nil
	}
	resp.ErrorCode = fenced(s.cfg.Txns.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit), r.Version, 2)
	return Reply{Resp: resp}, nil
}
