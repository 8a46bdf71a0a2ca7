package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

// Metadata: v0-12
//
// Behavior:
//   - One broker (Config.NodeID at the advertised address), which is the
//     controller and the leader of every partition, the only replica and
//     the only in-sync replica; leader epoch 0.
//   - All topics when the request lists none (null, or empty in v0); else
//     each named topic, or (v10+) the topic with the given id when the name
//     is null: UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID by id) if it does
//     not exist.
//   - An unknown named topic is created with Config.DefaultPartitions
//     partitions only when the broker runs with auto-creation on and the
//     request allows it (v4+ AllowAutoTopicCreation; always allowed below
//     v4); an invalid name then gets INVALID_TOPIC_EXCEPTION.
//   - Internal topics: __consumer_offsets and __transaction_state are
//     listed (with all topics, or when named) with is_internal set, as
//     Kafka lists them, so that clients leave them out of regex and
//     "all topics" subscriptions; they hold no records here (group offsets
//     and transaction state live in the broker's own files).
//   - v2+ cluster id, v1+ controller id, v10+ topic ids. Authorized
//     operations (v8-10) are not computed (left at "not requested").

func init() { Register(kmsg.Metadata.Int16(), 0, 12, handleMetadata) }

func handleMetadata(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = s.cfg.NodeID
	b.Host, b.Port = s.advHost, s.advPort
	resp.Brokers = append(resp.Brokers, b)
	resp.ClusterID = kmsg.StringPtr(s.cfg.ClusterID)
	resp.ControllerID = s.cfg.NodeID

	all := req.Topics == nil || (r.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range s.store.Topics() {
			if _, internal := internalTopic(t.Name); internal {
				continue // a stored topic by that name is shadowed
			}
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
		}
		for _, t := range internalTopics {
			resp.Topics = append(resp.Topics, s.internalMetadataTopic(t.name, t.partitions))
		}
		return Reply{Resp: resp}, nil
	}
	allowCreate := r.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			t, ok := s.store.TopicByID(rt.TopicID)
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
			continue
		}
		name := *rt.Topic
		if n, internal := internalTopic(name); internal {
			resp.Topics = append(resp.Topics, s.internalMetadataTopic(name, n))
			continue
		}
		t, ok := s.store.Topic(name)
		if !ok && allowCreate && s.cfg.AutoCreateTopics {
			var err error
			if t, err = s.autoCreate(name); err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = kmsg.StringPtr(name)
				mt.ErrorCode = errorCode(err)
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			ok = true
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(t))
	}
	return Reply{Resp: resp}, nil
}

func (s *Server) metadataTopic(t storage.TopicInfo) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	for i := int32(0); i < t.Partitions; i++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = i
		mp.Leader = s.cfg.NodeID
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{s.cfg.NodeID}
		mp.ISR = []int32{s.cfg.NodeID}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// internalMetadataTopic describes an internal topic.
func (s *Server) internalMetadataTopic(name string, partitions int32) kmsg.MetadataResponseTopic {
	mt := s.metadataTopic(storage.TopicInfo{Name: name, ID: internalTopicID(name), Partitions: partitions})
	mt.IsInternal = true
	return mt
}

// autoCreate creates topic name with the default partition count; a
// concurrent creation of the same topic is not an error.
func (s *Server) autoCreate(name string) (storage.TopicInfo, error) {
	t, err := s.store.CreateTopic(name, s.cfg.DefaultPartitions, nil)
	if errors.Is(err, storage.ErrTopicExists) {
		if t, ok := s.store.Topic(name); ok {
			return t, nil
		}
	}
	if err == nil {
		s.log.Info("auto-created topic", "topic", name, "partitions", s.cfg.DefaultPartitions)
	}
	return t, err
}
