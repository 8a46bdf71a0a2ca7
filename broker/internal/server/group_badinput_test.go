package server

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func rawJoin(group, member string, session time.Duration, meta []byte) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 3 // before KIP-394: the member id comes with the first answer
	req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
	req.SessionTimeoutMillis = int32(session / time.Millisecond)
	req.RebalanceTimeoutMillis = 120000
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta}}
	return req
}

func rawSync(group, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 3
	req.Group, req.MemberID, req.Generation = group, member, gen
	for m, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: a})
	}
	return req
}

func rawHeartbeat(group, member string, gen int32) *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 3
	req.Group, req.MemberID, req.Generation = group, member, gen
	return req
}

func checkCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var code int16
	if want != nil {
		code = want.Code
	}
	if got != code {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// stableRawGroup forms a one-member group over c and returns member id and generation.
func stableRawGroup(t *testing.T, c *rawConn, group string, session time.Duration) (string, int32) {
	t.Helper()
	j := request[*kmsg.JoinGroupResponse](c, rawJoin(group, "", session, []byte("m")))
	checkCode(t, "join", j.ErrorCode, nil)
	s := request[*kmsg.SyncGroupResponse](c, rawSync(group, j.MemberID, j.Generation, map[string][]byte{j.MemberID: []byte("all")}))
	checkCode(t, "sync", s.ErrorCode, nil)
	return j.MemberID, j.Generation
}

func TestGroupBadInput(t *testing.T) {
	b := startGroupBroker(t, "")
	b.createTopic("events", 2)
	c := dialRaw(t, b.addr)
	// A healthy group that must stay unaffected by everything below.
	okMember, okGen := stableRawGroup(t, c, "healthy", 30*time.Second)

	t.Run("huge metadata", func(t *testing.T) {
		j := request[*kmsg.JoinGroupResponse](c, rawJoin("huge", "", 10*time.Second, make([]byte, 2<<20)))
		checkCode(t, "join with 2 MiB metadata", j.ErrorCode, kerr.InvalidRequest)
	})
	t.Run("bad session timeouts", func(t *testing.T) {
		for _, d := range []time.Duration{0, 100 * time.Millisecond, 2 * time.Hour} {
			j := request[*kmsg.JoinGroupResponse](c, rawJoin("sess", "", d, nil))
			checkCode(t, "join", j.ErrorCode, kerr.InvalidSessionTimeout)
		}
	})
	t.Run("inconsistent protocol", func(t *testing.T) {
		req := rawJoin("healthy", "", 10*time.Second, nil)
		req.Protocols[0].Name = "roundrobin"
		checkCode(t, "join", request[*kmsg.JoinGroupResponse](c, req).ErrorCode, kerr.InconsistentGroupProtocol)
		req = rawJoin("other", "", 10*time.Second, nil)
		req.ProtocolType = ""
		checkCode(t, "join without protocol type", request[*kmsg.JoinGroupResponse](c, req).ErrorCode, kerr.InconsistentGroupProtocol)
	})
	t.Run("unknown member", func(t *testing.T) {
		checkCode(t, "join", request[*kmsg.JoinGroupResponse](c, rawJoin("healthy", "nobody", 10*time.Second, nil)).ErrorCode, kerr.UnknownMemberID)
		checkCode(t, "sync", request[*kmsg.SyncGroupResponse](c, rawSync("healthy", "nobody", okGen, nil)).ErrorCode, kerr.UnknownMemberID)
		checkCode(t, "heartbeat", request[*kmsg.HeartbeatResponse](c, rawHeartbeat("nogroup", "nobody", 1)).ErrorCode, kerr.UnknownMemberID)
		checkCode(t, "stale generation", request[*kmsg.HeartbeatResponse](c, rawHeartbeat("healthy", okMember, okGen+3)).ErrorCode, kerr.IllegalGeneration)
	})
	t.Run("commits to unknown topics and partitions", func(t *testing.T) {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 7
		req.Group, req.MemberID, req.Generation = "healthy", okMember, okGen
		req.Topics = []kmsg.OffsetCommitRequestTopic{
			{Topic: "events", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}, {Partition: 9, Offset: 0}}},
			{Topic: "missing", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}},
		}
		resp := request[*kmsg.OffsetCommitResponse](c, req)
		checkCode(t, "known partition", resp.Topics[0].Partitions[0].ErrorCode, nil)
		checkCode(t, "unknown partition", resp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
		checkCode(t, "unknown topic", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	})
	t.Run("heartbeat from an evicted member", func(t *testing.T) {
		id, gen := stableRawGroup(t, c, "evict", 600*time.Millisecond)
		// The member never heartbeats again: the session timeout removes it.
		waitUntil(t, "the eviction", func() bool {
			d := kmsg.NewPtrDescribeGroupsRequest()
			d.Groups = []string{"evict"}
			return request[*kmsg.DescribeGroupsResponse](c, d).Groups[0].State == "Empty"
		})
		checkCode(t, "heartbeat", request[*kmsg.HeartbeatResponse](c, rawHeartbeat("evict", id, gen)).ErrorCode, kerr.UnknownMemberID)
		checkCode(t, "sync", request[*kmsg.SyncGroupResponse](c, rawSync("evict", id, gen, nil)).ErrorCode, kerr.UnknownMemberID)
	})
	t.Run("find coordinator", func(t *testing.T) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = 4
		req.CoordinatorKeys = []string{"a", "b"}
		resp := request[*kmsg.FindCoordinatorResponse](c, req)
		host, port := b.srv.AdvertisedHostPort()
		if len(resp.Coordinators) != 2 || resp.Coordinators[1].Host != host || resp.Coordinators[1].Port != port || resp.Coordinators[1].ErrorCode != 0 {
			t.Fatalf("find coordinator v4 = %+v", resp.Coordinators)
		}
		txn := kmsg.NewPtrFindCoordinatorRequest()
		txn.Version = 2
		txn.CoordinatorKey, txn.CoordinatorType = "tx", 1
		checkCode(t, "transaction coordinator", request[*kmsg.FindCoordinatorResponse](c, txn).ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	})
	t.Run("malformed join closes only that connection", func(t *testing.T) {
		bad := dialRaw(t, b.addr)
		// A JoinGroup v3 frame whose body stops in the middle of a string.
		f := []byte{0, 0, 0, 0}
		f = kbin.AppendInt16(f, kmsg.JoinGroup.Int16())
		f = kbin.AppendInt16(f, 5)
		f = kbin.AppendInt32(f, 1)
		f = kbin.AppendNullableString(f, kmsg.StringPtr("bad"))
		f = kbin.AppendInt16(f, 200) // group id length 200, but 3 bytes follow
		f = append(f, "abc"...)
		binary.BigEndian.PutUint32(f, uint32(len(f)-4))
		bad.write(f)
		bad.expectClosed()
	})
	// The healthy group saw none of it.
	checkCode(t, "healthy heartbeat", request[*kmsg.HeartbeatResponse](c, rawHeartbeat("healthy", okMember, okGen)).ErrorCode, nil)
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Groups = []string{"healthy"}
	if g := request[*kmsg.DescribeGroupsResponse](c, d).Groups[0]; g.State != "Stable" || len(g.Members) != 1 {
		t.Fatalf("healthy group = %s with %d members", g.State, len(g.Members))
	}
}

// TestGroupJoinDoesNotBlockItsConnection pipelines, on one connection, a
// JoinGroup that must wait for another member and then that other member's
// own rejoin. If a waiting join held up the connection, the rejoin would never
// be read and both would wait out the two-minute rebalance timeout.
func TestGroupJoinDoesNotBlockItsConnection(t *testing.T) {
	b := startGroupBroker(t, "")
	c := dialRaw(t, b.addr)
	first, gen := stableRawGroup(t, c, "g", 30*time.Second)

	join2 := c.send(rawJoin("g", "", 30*time.Second, []byte("2"))) // waits for first to rejoin
	hb := c.send(rawHeartbeat("g", first, gen))                    // tells first to rejoin
	rejoin := c.send(rawJoin("g", first, 30*time.Second, []byte("m")))

	j2 := kmsg.NewPtrJoinGroupResponse()
	j2.Version = 3
	c.recv(j2, join2)
	checkCode(t, "second member's join", j2.ErrorCode, nil)
	h := kmsg.NewPtrHeartbeatResponse()
	h.Version = 3
	c.recv(h, hb)
	checkCode(t, "heartbeat during the rebalance", h.ErrorCode, kerr.RebalanceInProgress)
	j1 := kmsg.NewPtrJoinGroupResponse()
	j1.Version = 3
	c.recv(j1, rejoin)
	checkCode(t, "first member's rejoin", j1.ErrorCode, nil)
	if j1.Generation != gen+1 || j2.Generation != gen+1 {
		t.Fatalf("generations %d and %d, want %d", j1.Generation, j2.Generation, gen+1)
	}
	if len(j1.Members)+len(j2.Members) != 2 {
		t.Fatalf("the leader should list both members")
	}
}
