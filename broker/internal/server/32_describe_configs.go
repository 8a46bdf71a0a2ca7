package server

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

// DescribeConfigs: v0-4
//
// Behavior:
//   - Topics (resource type 2): every known topic config with its resolved
//     value and source (set on the topic, broker default, or built-in
//     default), or only the names asked for; an unknown topic gets
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - The broker (resource type 4, named by its node id or ""): the static
//     settings a client may care about, read-only. Other resource types
//     get INVALID_REQUEST.
//   - v1+ IncludeSynonyms lists the entry itself as its one synonym; v3+
//     config types are set, documentation is not. Nothing is sensitive.

func init() { Register(kmsg.DescribeConfigs.Int16(), 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []storage.ConfigEntry
		readOnly := false
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			info, ok := s.store.Topic(rr.ResourceName)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				sr.ErrorMessage = kmsg.StringPtr("unknown topic " + strconv.Quote(rr.ResourceName))
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			entries = storage.DescribeTopicConfig(info)
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(s.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = kmsg.StringPtr("unknown broker " + strconv.Quote(rr.ResourceName))
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			entries, readOnly = s.brokerConfigs(), true
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = kmsg.StringPtr("unsupported resource type " + rr.ResourceType.String())
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		want := map[string]bool(nil)
		if rr.ConfigNames != nil {
			want = make(map[string]bool, len(rr.ConfigNames))
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, e := range entries {
			if want != nil && !want[e.Name] {
				continue
			}
			sr.Configs = append(sr.Configs, describeEntry(r.Version, req.IncludeSynonyms, readOnly, e))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return Reply{Resp: resp}, nil
}

func describeEntry(version int16, synonyms, readOnly bool, e storage.ConfigEntry) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly = e.Name, kmsg.StringPtr(e.Value), readOnly
	c.IsDefault = e.IsDefault
	c.Source = kmsg.ConfigSource(e.Source)
	if version >= 1 && synonyms {
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Value, syn.Source = e.Name, kmsg.StringPtr(e.Value), kmsg.ConfigSource(e.Source)
		c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
	}
	if t, err := kmsg.ParseConfigType(e.Type); err == nil {
		c.ConfigType = t
	}
	return c
}

// brokerConfigs lists the broker's static settings (source 4: static broker config).
func (s *Server) brokerConfigs() []storage.ConfigEntry {
	const static = int8(kmsg.ConfigSourceStaticBrokerConfig)
	return []storage.ConfigEntry{
		{Name: "broker.id", Value: strconv.Itoa(int(s.cfg.NodeID)), Source: static, Type: "INT"},
		{Name: "auto.create.topics.enable", Value: strconv.FormatBool(s.cfg.AutoCreateTopics), Source: static, Type: "BOOLEAN"},
		{Name: "num.partitions", Value: strconv.Itoa(int(s.cfg.DefaultPartitions)), Source: static, Type: "INT"},
		{Name: "default.replication.factor", Value: "1", Source: static, Type: "SHORT"},
		{Name: "socket.request.max.bytes", Value: strconv.Itoa(int(s.cfg.MaxFrameBytes)), Source: static, Type: "INT"},
	}
}
