package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListTransactions: v0-1
//
// Behavior:
//   - Every transactional id with its producer id and state, filtered by
//     the requested states and producer ids (empty filters match all) and
//     (v1+) by DurationFilterMillis: only transactions open for longer than
//     that. Unknown state names in the filter match nothing, as in Kafka.
//   - Without a coordinator: COORDINATOR_NOT_AVAILABLE.

func init() { Register(kmsg.ListTransactions.Int16(), 0, 1, handleListTransactions) }

func handleListTransactions(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	if s.cfg.Txns == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Reply{Resp: resp}, nil
	}
	states := map[string]bool{}
	for _, st := range req.StateFilters {
		states[st] = true
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	now := s.nowMillis()
	for _, t := range s.cfg.Txns.List() {
		if len(states) > 0 && !states[string(t.State)] {
			continue
		}
		if len(pids) > 0 && !pids[t.ProducerID] {
			continue
		}
		if r.Version >= 1 && req.DurationFilterMillis >= 0 && (t.StartMs < 0 || now-t.StartMs <= req.DurationFilterMillis) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = t.ID, t.ProducerID, string(t.State)
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return Reply{Resp: resp}, nil
}
