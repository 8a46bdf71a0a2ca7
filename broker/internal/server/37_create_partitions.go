package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions: v0-3
//
// Behavior:
//   - Grows each topic to Count partitions; a count not above the current
//     one gets INVALID_PARTITIONS, an unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION, a topic named twice INVALID_REQUEST.
//   - A manual assignment is accepted when each new partition's only
//     replica is this broker (INVALID_REPLICA_ASSIGNMENT otherwise).
//   - ValidateOnly checks and changes nothing. The timeout is ignored.

func init() { Register(kmsg.CreatePartitions.Int16(), 0, 3, handleCreatePartitions) }

func handleCreatePartitions(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		code, err := s.createPartitions(rt, req.ValidateOnly, seen[rt.Topic] > 1)
		st.ErrorCode, st.ErrorMessage = code, errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return Reply{Resp: resp}, nil
}

func (s *Server) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly, dup bool) (int16, error) {
	if dup {
		return kerr.InvalidRequest.Code, fmt.Errorf("topic %q named more than once in the request", rt.Topic)
	}
	info, ok := s.store.Topic(rt.Topic)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, fmt.Errorf("unknown topic %q", rt.Topic)
	}
	if rt.Count <= info.Partitions {
		return kerr.InvalidPartitions.Code, fmt.Errorf("topic %q has %d partitions; the new count must be larger, got %d", rt.Topic, info.Partitions, rt.Count)
	}
	if rt.Assignment != nil {
		if len(rt.Assignment) != int(rt.Count-info.Partitions) {
			return kerr.InvalidReplicaAssignment.Code, fmt.Errorf("%d assignments for %d new partitions", len(rt.Assignment), rt.Count-info.Partitions)
		}
		for _, a := range rt.Assignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
				return kerr.InvalidReplicaAssignment.Code, fmt.Errorf("the only replica must be broker %d", s.cfg.NodeID)
			}
		}
	}
	if validateOnly {
		return 0, nil
	}
	if err := s.store.CreatePartitions(rt.Topic, rt.Count); err != nil {
		return errorCode(err), fmt.Errorf("topic %q: %w", rt.Topic, err)
	}
	s.log.Info("added partitions", "topic", rt.Topic, "partitions", rt.Count)
	return 0, nil
}
