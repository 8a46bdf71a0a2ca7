package server

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/group"
	"github.com/freshmart/platform/broker/internal/storage"
)

// The consumer-group APIs (keys 8-16, 42, 47) are served by a
// group.Coordinator passed as Config.Groups. Without one every group request
// is answered with COORDINATOR_NOT_AVAILABLE.

// OpenGroups opens the group coordinator for st: cfg.Partitions and
// cfg.HighWatermark are filled in from the store (commits to unknown topics or
// partitions are refused, offsets of deleted topics dropped, lag measured
// against the high watermark). Pass the result as Config.Groups and register
// its Collector with the metrics registry.
func OpenGroups(st *storage.Store, cfg group.Config) (*group.Coordinator, error) {
	cfg.Partitions = func(topic string) (int32, bool) {
		t, ok := st.Topic(topic)
		return t.Partitions, ok
	}
	cfg.HighWatermark = func(topic string, partition int32) (int64, bool) {
		p, err := st.Partition(topic, partition)
		if err != nil {
			return 0, false
		}
		return p.HighWatermark(), true
	}
	return group.Open(cfg)
}

// coordinator returns the group coordinator, or nil when none is configured.
func (s *Server) coordinator() *group.Coordinator {
	c, _ := s.cfg.Groups.(*group.Coordinator)
	return c
}

// groupClient describes the requesting connection for DescribeGroups.
func groupClient(r *Request) group.Client {
	host := ""
	if r.Remote != nil {
		host = r.Remote.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return group.Client{ID: r.ClientID, Host: "/" + host}
}

// untilStopping returns a context that also ends when the server begins to
// shut down, so a JoinGroup or SyncGroup waiting on a rebalance does not hold
// up Shutdown.
func (s *Server) untilStopping(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// noCoordinator answers a group request when no coordinator is configured.
func noCoordinator(req kmsg.Request) kmsg.Response {
	code := kerr.CoordinatorNotAvailable.Code
	resp := req.ResponseKind()
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode = code
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = code
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = code
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = code
	case *kmsg.ListGroupsResponse:
		r.ErrorCode = code
	case *kmsg.OffsetDeleteResponse:
		r.ErrorCode = code
	case *kmsg.OffsetCommitResponse:
		q := req.(*kmsg.OffsetCommitRequest)
		for _, t := range q.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.OffsetFetchResponse:
		q := req.(*kmsg.OffsetFetchRequest)
		r.ErrorCode = code
		for _, g := range q.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, code
			r.Groups = append(r.Groups, rg)
		}
	case *kmsg.DescribeGroupsResponse:
		for _, id := range req.(*kmsg.DescribeGroupsRequest).Groups {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = id, code
			r.Groups = append(r.Groups, g)
		}
	case *kmsg.DeleteGroupsResponse:
		for _, id := range req.(*kmsg.DeleteGroupsRequest).Groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = id, code
			r.Groups = append(r.Groups, g)
		}
	}
	return resp
}
