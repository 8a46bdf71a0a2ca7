package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn: v0-3
//
// Behavior:
//   - Adds a consumer group to the producer's transaction (starting it),
//     so that TxnOffsetCommit may stage its offsets; durable before the
//     answer. Errors as AddPartitionsToTxn (PRODUCER_FENCED from v2).
//   - Without a coordinator: COORDINATOR_NOT_AVAILABLE.

func init() { Register(kmsg.AddOffsetsToTxn.Int16(), 0, 3, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case s.cfg.Txns == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	default:
		resp.ErrorCode = fenced(s.cfg.Txns.AddOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group), r.Version, 2)
	}
	return Reply{Resp: resp}, nil
}
