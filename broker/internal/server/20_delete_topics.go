package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

// DeleteTopics: v0-6
//
// Behavior:
//   - Deletes each topic and its data at once (no delayed deletion); the
//     name can be reused immediately and gets a new topic id.
//   - v0-5 name topics; v6 by name or, when the name is null, by id.
//     Unknown names get UNKNOWN_TOPIC_OR_PARTITION, unknown ids
//     UNKNOWN_TOPIC_ID. The timeout is ignored.

func init() { Register(kmsg.DeleteTopics.Int16(), 0, 6, handleDeleteTopics) }

func handleDeleteTopics(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := req.Topics
	if r.Version < 6 {
		topics = nil
		for _, name := range req.TopicNames {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = kmsg.StringPtr(name)
			topics = append(topics, t)
		}
	}
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var (
			info storage.TopicInfo
			ok   bool
		)
		if rt.Topic != nil {
			info, ok = s.store.Topic(*rt.Topic)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		} else {
			info, ok = s.store.TopicByID(rt.TopicID)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicID.Code
			}
		}
		if ok {
			st.Topic, st.TopicID = kmsg.StringPtr(info.Name), info.ID
			if err := s.store.DeleteTopic(info.Name); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(fmt.Errorf("delete %q: %w", info.Name, err))
			} else {
				s.log.Info("deleted topic", "topic", info.Name)
				if c := s.coordinator(); c != nil {
					c.TopicDeleted(info.Name)
				}
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Reply{Resp: resp}, nil
}
