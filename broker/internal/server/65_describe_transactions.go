package server

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions: v0
//
// Behavior:
//   - Per transactional id: its state (Empty, Ongoing, PrepareCommit,
//     PrepareAbort, CompleteCommit, CompleteAbort), producer id and epoch,
//     timeout, start time (-1 when none is open) and partitions. Unknown
//     ids get TRANSACTIONAL_ID_NOT_FOUND; without a coordinator
//     COORDINATOR_NOT_AVAILABLE.

func init() { Register(kmsg.DescribeTransactions.Int16(), 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		if s.cfg.Txns == nil {
			st.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		t, ok := s.cfg.Txns.Describe(id)
		if !ok {
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State = string(t.State)
		st.TimeoutMillis = t.TimeoutMs
		st.StartTimestamp = t.StartMs
		st.ProducerID, st.ProducerEpoch = t.ProducerID, t.Epoch
		topics := make([]string, 0, len(t.Partitions))
		for topic := range t.Partitions {
			topics = append(topics, topic)
		}
		sort.Strings(topics)
		for _, topic := range topics {
			tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			tt.Topic = topic
			tt.Partitions = t.Partitions[topic]
			st.Topics = append(st.Topics, tt)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return Reply{Resp: resp}, nil
}
