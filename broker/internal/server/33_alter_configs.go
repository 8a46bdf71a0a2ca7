package server

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs: v0-2
//
// Behavior:
//   - Topics: replaces the topic's whole set of explicit configs with the
//     request's (configs not named go back to their defaults; a null value
//     also means the default). Unknown names and bad values get
//     INVALID_CONFIG and change nothing; an unknown topic gets
//     UNKNOWN_TOPIC_OR_PARTITION. ValidateOnly checks and changes nothing.
//   - Broker configs are static (flags): resource type 4 and any other
//     type get INVALID_REQUEST.

func init() { Register(kmsg.AlterConfigs.Int16(), 0, 2, handleAlterConfigs) }

func handleAlterConfigs(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		configs := make(map[string]*string, len(rr.Configs))
		for _, c := range rr.Configs {
			configs[c.Name] = c.Value
		}
		code, err := s.alterTopicConfigs(rr.ResourceType, rr.ResourceName, configs, false, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = code, errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return Reply{Resp: resp}, nil
}

// alterTopicConfigs applies (or with validateOnly only checks) a config
// change to a topic resource.
func (s *Server) alterTopicConfigs(typ kmsg.ConfigResourceType, name string, configs map[string]*string, incremental, validateOnly bool) (int16, error) {
	if typ != kmsg.ConfigResourceTypeTopic {
		return kerr.InvalidRequest.Code, fmt.Errorf("resource type %s cannot be altered: only topic configs are dynamic", typ)
	}
	if _, ok := s.store.Topic(name); !ok {
		return kerr.UnknownTopicOrPartition.Code, fmt.Errorf("unknown topic %s", strconv.Quote(name))
	}
	set := make(map[string]string, len(configs))
	for k, v := range configs {
		if v != nil {
			set[k] = *v
		}
	}
	if err := validateConfigs(set); err != nil {
		return errorCode(err), fmt.Errorf("topic %s: %w", strconv.Quote(name), err)
	}
	if validateOnly {
		return 0, nil
	}
	if err := s.store.AlterConfigs(name, configs, incremental); err != nil {
		return errorCode(err), fmt.Errorf("topic %s: %w", strconv.Quote(name), err)
	}
	s.log.Info("altered topic configs", "topic", name, "incremental", incremental)
	return 0, nil
}
