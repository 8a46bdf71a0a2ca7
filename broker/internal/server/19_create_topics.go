package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

// CreateTopics: v0-7
//
// Behavior:
//   - Creates each topic with its partition count (-1, v4+: the broker
//     default, Config.DefaultPartitions) and explicit configs, which are
//     validated (INVALID_CONFIG names the bad one).
//   - Replication factor must be 1 or -1 (the broker default): there is one
//     broker; anything else gets INVALID_REPLICATION_FACTOR. A manual replica
//     assignment is accepted when every partition's only replica is this
//     broker (INVALID_REPLICA_ASSIGNMENT otherwise); it sets the partition count.
//   - An existing topic gets TOPIC_ALREADY_EXISTS, a bad name
//     INVALID_TOPIC_EXCEPTION, a topic named twice in one request
//     INVALID_REQUEST. v1+ ValidateOnly checks everything and creates nothing.
//   - v5+ answers the partition count, replication factor and every config
//     with its source; v7 the topic id. The timeout is ignored: creation is
//     synchronous.

func init() { Register(kmsg.CreateTopics.Int16(), 0, 7, handleCreateTopics) }

func handleCreateTopics(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("topic named more than once in the request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		info, code, err := s.createTopic(rt, r.Version >= 1 && req.ValidateOnly)
		if code != 0 {
			st.ErrorCode, st.ErrorMessage = code, errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = info.ID
		st.NumPartitions, st.ReplicationFactor = info.Partitions, 1
		for _, e := range storage.DescribeTopicConfig(info) {
			c := kmsg.NewCreateTopicsResponseTopicConfig()
			c.Name, c.Value, c.Source = e.Name, kmsg.StringPtr(e.Value), e.Source
			st.Configs = append(st.Configs, c)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Reply{Resp: resp}, nil
}

// createTopic validates and (unless validateOnly) creates one topic. On
// validateOnly the returned TopicInfo describes what would be created.
func (s *Server) createTopic(rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (storage.TopicInfo, int16, error) {
	var none storage.TopicInfo
	if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 && len(rt.ReplicaAssignment) == 0 {
		return none, kerr.InvalidReplicationFactor.Code, fmt.Errorf("replication factor %d: this broker is a single node, use 1", rt.ReplicationFactor)
	}
	partitions := rt.NumPartitions
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return none, kerr.InvalidRequest.Code, fmt.Errorf("a replica assignment requires partitions and replication factor -1")
		}
		for i, a := range rt.ReplicaAssignment {
			if a.Partition != int32(i) || len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
				return none, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("partition %d: the only replica must be broker %d", a.Partition, s.cfg.NodeID)
			}
		}
		partitions = int32(len(rt.ReplicaAssignment))
	}
	if partitions == -1 {
		partitions = s.cfg.DefaultPartitions
	}
	if partitions < 1 {
		return none, kerr.InvalidPartitions.Code, fmt.Errorf("partition count %d: must be at least 1", partitions)
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue
		}
		configs[c.Name] = *c.Value
	}
	if validateOnly {
		if _, ok := s.store.Topic(rt.Topic); ok {
			return none, kerr.TopicAlreadyExists.Code, fmt.Errorf("topic %q: %w", rt.Topic, storage.ErrTopicExists)
		}
		if err := validateConfigs(configs); err != nil {
			return none, errorCode(err), err
		}
		return storage.TopicInfo{Name: rt.Topic, Partitions: partitions, Configs: configs}, 0, nil
	}
	info, err := s.store.CreateTopic(rt.Topic, partitions, configs)
	if err != nil {
		return none, errorCode(err), err
	}
	s.log.Info("created topic", "topic", rt.Topic, "partitions", partitions)
	return info, 0, nil
}

// validateConfigs checks config names and values as the store would.
func validateConfigs(configs map[string]string) error {
	for name, value := range configs {
		if err := storage.ValidateConfig(name, value); err != nil {
			return err
		}
	}
	return nil
}
