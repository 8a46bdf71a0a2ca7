package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

// IncrementalAlterConfigs: v0-1
//
// Behavior:
//   - Topics: SET sets a config, DELETE resets it to its default; APPEND and
//     SUBTRACT add or remove items of a list config (cleanup.policy) and
//     get INVALID_CONFIG on other configs. Configs not named keep their
//     values. Unknown names and bad values get INVALID_CONFIG and change
//     nothing; a config named twice gets INVALID_REQUEST; an unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION. ValidateOnly checks and changes nothing.
//   - Broker configs are static (flags): other resource types get
//     INVALID_REQUEST.

func init() { Register(kmsg.IncrementalAlterConfigs.Int16(), 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		configs, code, err := s.incrementalChanges(rr)
		if code == 0 {
			code, err = s.alterTopicConfigs(rr.ResourceType, rr.ResourceName, configs, true, req.ValidateOnly)
		}
		sr.ErrorCode, sr.ErrorMessage = code, errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return Reply{Resp: resp}, nil
}

// incrementalChanges turns the operations into name -> new value (nil:
// reset to default).
func (s *Server) incrementalChanges(rr kmsg.IncrementalAlterConfigsRequestResource) (map[string]*string, int16, error) {
	configs := make(map[string]*string, len(rr.Configs))
	var current map[string]storage.ConfigEntry
	for _, c := range rr.Configs {
		if _, dup := configs[c.Name]; dup {
			return nil, kerr.InvalidRequest.Code, fmt.Errorf("config %q named more than once", c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return nil, kerr.InvalidRequest.Code, fmt.Errorf("config %q: SET needs a value", c.Name)
			}
			configs[c.Name] = c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			configs[c.Name] = nil
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if current == nil {
				info, ok := s.store.Topic(rr.ResourceName)
				if !ok || rr.ResourceType != kmsg.ConfigResourceTypeTopic {
					return configs, 0, nil // alterTopicConfigs reports the resource error
				}
				current = make(map[string]storage.ConfigEntry)
				for _, e := range storage.DescribeTopicConfig(info) {
					current[e.Name] = e
				}
			}
			e, ok := current[c.Name]
			if !ok || e.Type != "LIST" {
				return nil, kerr.InvalidConfig.Code, fmt.Errorf("config %q: %s only applies to list configs", c.Name, c.Op)
			}
			items := splitList(e.Value)
			for _, v := range splitList(deref(c.Value)) {
				i := slices.Index(items, v)
				switch {
				case c.Op == kmsg.IncrementalAlterConfigOpAppend && i < 0:
					items = append(items, v)
				case c.Op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0:
					items = slices.Delete(items, i, i+1)
				}
			}
			v := strings.Join(items, ",")
			configs[c.Name] = &v
		default:
			return nil, kerr.InvalidRequest.Code, fmt.Errorf("config %q: unknown operation %d", c.Name, c.Op)
		}
	}
	return configs, 0, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
