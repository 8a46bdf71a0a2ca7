package group

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzCoordinator drives one group with an arbitrary sequence of group
// requests (joins of every flavour, syncs with arbitrary assignments,
// heartbeats, leaves, commits, admin calls) built from the fuzz input, and
// checks after every step that the group's state is consistent.
func FuzzCoordinator(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 2, 0, 3, 0})
	f.Add([]byte{1, 1, 1, 2, 0, 0, 2, 1, 4, 0, 5, 0, 6, 0})
	f.Add([]byte{2, 0, 2, 1, 1, 0, 3, 1, 7, 0, 8, 0, 9, 0, 0, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		c, err := Open(Config{
			Dir:                   t.TempDir(),
			NoSync:                true,
			Logger:                quietLogger(),
			InitialRebalanceDelay: -1,
			MaxGroupSize:          4,
			MaxAssignmentBytes:    8,
			Partitions:            func(topic string) (int32, bool) { return 2, topic == "t" },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%10, ops[i+1]
			member, gen := pickMember(c, arg)
			switch op {
			case 0, 1: // join: new dynamic (v9 or v3), static, or existing member
				req := kmsg.NewPtrJoinGroupRequest()
				req.Version = []int16{9, 3}[op]
				req.Group, req.ProtocolType = "g", "consumer"
				req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 60000, 60000
				names := []string{"range", "sticky", "roundrobin"}
				req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: names[arg%3], Metadata: []byte{arg}}}
				switch arg % 4 {
				case 1:
					req.MemberID = member
				case 2:
					inst := fmt.Sprintf("i%d", arg%3)
					req.InstanceID, req.Version = &inst, 9
				case 3:
					req.MemberID = "bogus"
				}
				c.BeginJoinGroup(Client{ID: "fuzz"}, req)
			case 2: // sync, as the leader when the member leads
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.MemberID, req.Generation = "g", member, gen+int32(arg%2)
				req.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{
					{MemberID: member, MemberAssignment: make([]byte, arg%12)},
					{MemberID: "other", MemberAssignment: []byte{1}},
				}
				c.BeginSyncGroup(req)
			case 3:
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID, req.Generation = "g", member, gen
				c.Heartbeat(req)
			case 4:
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Version = 3
				req.Group = "g"
				req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member}}
				c.LeaveGroup(req)
			case 5:
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Version = 8
				req.Group, req.MemberID, req.Generation = "g", member, gen
				if arg%2 == 0 {
					req.MemberID, req.Generation = "", -1
				}
				req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: []string{"t", "x"}[arg%2], Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: int32(arg % 3), Offset: int64(arg)}}}}
				c.OffsetCommit(req)
			case 6:
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"g"}
				c.DeleteGroups(req)
			case 7:
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = "g"
				req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: int32(arg % 3)}}}}
				c.OffsetDelete(req)
			case 8:
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{"g"}
				c.DescribeGroups(req)
				c.ListGroups(kmsg.NewPtrListGroupsRequest())
			case 9:
				c.cleanup()
			}
			if err := checkGroup(c); err != nil {
				t.Fatalf("after op %d (arg %d) at step %d: %v", op, arg, i/2, err)
			}
		}
	})
}

// pickMember returns a current member id of group g chosen by arg (or "")
// and the generation.
func pickMember(c *Coordinator, arg byte) (string, int32) {
	g := c.lockGroup("g", false)
	if g == nil {
		return "", -1
	}
	defer g.mu.Unlock()
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return "", g.generation
	}
	return ms[int(arg)%len(ms)].id, g.generation
}

// checkGroup verifies the invariants of group g.
func checkGroup(c *Coordinator) error {
	g := c.lockGroup("g", false)
	if g == nil {
		return nil
	}
	defer g.mu.Unlock()
	switch g.state {
	case StateEmpty:
		if len(g.members) != 0 {
			return fmt.Errorf("Empty with %d members", len(g.members))
		}
	case StateCompletingRebalance, StateStable:
		if g.members[g.leader] == nil {
			return fmt.Errorf("%s with leader %q not a member", g.state, g.leader)
		}
		if g.protocol == "" {
			return fmt.Errorf("%s without a protocol", g.state)
		}
		for _, m := range g.members {
			if !hasProtocol(m.protocols, g.protocol) {
				return fmt.Errorf("member %s does not support the group protocol %s", m.id, g.protocol)
			}
		}
	}
	if len(g.members) > c.cfg.MaxGroupSize {
		return fmt.Errorf("%d members over the limit", len(g.members))
	}
	for inst, id := range g.static {
		if m := g.members[id]; m == nil || m.instanceID != inst {
			return fmt.Errorf("static %s -> %s is not that member", inst, id)
		}
	}
	for id, m := range g.members {
		if id != m.id {
			return fmt.Errorf("member keyed %s has id %s", id, m.id)
		}
		if m.instanceID != "" && g.static[m.instanceID] != id {
			return fmt.Errorf("static member %s missing from the instance map", id)
		}
		if m.joinCh != nil && g.state != StatePreparingRebalance {
			return fmt.Errorf("member %s waits for a join in state %s", id, g.state)
		}
		if m.syncCh != nil && g.state != StateCompletingRebalance {
			return fmt.Errorf("member %s waits for a sync in state %s", id, g.state)
		}
		if g.state == StateStable && len(m.assignment) > c.cfg.MaxAssignmentBytes {
			return fmt.Errorf("member %s holds an oversized assignment", id)
		}
	}
	for k := range g.offsets {
		if k.topic != "t" || k.partition < 0 || k.partition >= 2 {
			return fmt.Errorf("offset stored for unknown partition %v", k)
		}
	}
	return nil
}
