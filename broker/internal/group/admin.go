package group

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups handles a DescribeGroups request (v0-v5). An unknown group
// is described as Dead with no error, as Kafka does before v6. Member metadata
// and assignments are included once the group is Stable.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = -2147483648 // not requested / not computed
		switch {
		case id == "":
			dg.ErrorCode = kerr.InvalidGroupID.Code
		case c.isClosed():
			dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		if dg.ErrorCode != 0 {
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = string(StateDead)
		if g := c.lockGroup(id, false); g != nil {
			dg.State = string(g.state)
			dg.ProtocolType = g.protocolType
			if g.state == StateStable {
				dg.Protocol = g.protocol
			}
			for _, m := range g.sortedMembers() {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.clientHost
				if m.instanceID != "" {
					iid := m.instanceID
					dm.InstanceID = &iid
				}
				if g.state == StateStable {
					dm.ProtocolMetadata = m.metadataFor(g.protocol)
					dm.MemberAssignment = m.assignment
				}
				dg.Members = append(dg.Members, dm)
			}
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// ListGroups handles a ListGroups request (v0-v4; the states filter is v4+
// and matches case-insensitively).
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if c.isClosed() {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		dead, state, protocolType := g.dead, g.state, g.protocolType
		g.mu.Unlock()
		if dead {
			continue
		}
		if len(req.StatesFilter) > 0 {
			match := false
			for _, s := range req.StatesFilter {
				if strings.EqualFold(s, string(state)) {
					match = true
					break
				}
			}
			if !match {
				continue
			}
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState = g.id, protocolType, string(state)
		lg.GroupType = "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups handles a DeleteGroups request (v0-v2): an empty group and its
// offsets are removed; a group with members gets NON_EMPTY_GROUP.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = c.deleteGroup(id)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(id string) int16 {
	if id == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.lockGroup(id, false)
	if g == nil {
		if c.isClosed() {
			return kerr.CoordinatorNotAvailable.Code
		}
		return kerr.GroupIDNotFound.Code
	}
	defer g.mu.Unlock()
	if g.state != StateEmpty || len(g.pending) > 0 {
		return kerr.NonEmptyGroup.Code
	}
	if err := c.persist(record{kind: kindGroupDelete, group: id}); err != nil {
		c.log.Error("group delete not stored", "group", id, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	c.removeGroup(g)
	c.log.Info("group deleted", "group", id)
	return 0
}

// OffsetDelete handles an OffsetDelete request (v0): it removes committed
// offsets of an empty group, or of topics a consumer group with members is
// not subscribed to (GROUP_SUBSCRIBED_TO_TOPIC for the others).
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		if c.isClosed() {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	var subscribed map[string]bool
	if g.state != StateEmpty {
		if g.protocolType != "consumer" {
			g.mu.Unlock()
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp
		}
		subscribed = g.subscribedTopics()
	}
	var recs []record
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch topicOK, partOK := c.topicPartitionExists(t.Topic, p.Partition); {
			case !topicOK || !partOK:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if _, ok := g.offsets[tp{t.Topic, p.Partition}]; ok {
					recs = append(recs, record{kind: kindOffsetDelete, group: g.id, offset: offsetRecord{Topic: t.Topic, Partition: p.Partition}})
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	defer g.mu.Unlock()
	if len(recs) == 0 {
		return resp
	}
	if err := c.persist(recs...); err != nil {
		c.log.Error("offset delete not stored", "group", g.id, "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.Topics = nil
		return resp
	}
	for _, r := range recs {
		delete(g.offsets, tp{r.offset.Topic, r.offset.Partition})
	}
	return resp
}

// subscribedTopics reads the topics of every member's consumer-protocol
// subscription. Metadata that does not parse counts as subscribed to every
// topic the group has offsets for, so nothing in use is deleted.
func (g *group) subscribedTopics() map[string]bool {
	out := make(map[string]bool)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocol != "" && p.Name != g.protocol {
				continue
			}
			var meta kmsg.ConsumerMemberMetadata
			if err := meta.ReadFrom(p.Metadata); err != nil {
				for k := range g.offsets {
					out[k.topic] = true
				}
				continue
			}
			for _, t := range meta.Topics {
				out[t] = true
			}
		}
	}
	return out
}
