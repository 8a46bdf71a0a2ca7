package group

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const waitLimit = 30 * time.Second

// fixture is a coordinator over a t.TempDir with a fake topic catalogue and
// a settable clock.
type fixture struct {
	t   *testing.T
	dir string
	c   *Coordinator

	mu     sync.Mutex
	topics map[string]int32
	hwm    map[tp]int64
	skew   time.Duration // added to the real clock
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{
		t:      t,
		dir:    t.TempDir(),
		topics: map[string]int32{"orders": 3, "other": 1},
		hwm:    map[tp]int64{},
	}
	f.open(mod)
	return f
}

func (f *fixture) open(mod func(*Config)) {
	f.t.Helper()
	cfg := Config{
		Dir:                   f.dir,
		NoSync:                true,
		Logger:                quietLogger(),
		InitialRebalanceDelay: -1,
		MinSessionTimeout:     10 * time.Millisecond,
		Partitions: func(topic string) (int32, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			n, ok := f.topics[topic]
			return n, ok
		},
		HighWatermark: func(topic string, p int32) (int64, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			v, ok := f.hwm[tp{topic, p}]
			return v, ok
		},
		now: func() time.Time {
			f.mu.Lock()
			defer f.mu.Unlock()
			return time.Now().Add(f.skew)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := Open(cfg)
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	f.c = c
	f.t.Cleanup(func() { c.Close() })
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.skew += d
	f.mu.Unlock()
}

type joinOpts struct {
	version   int16
	session   time.Duration
	instance  string
	protocols []string // names; metadata is the name plus meta
	meta      string
	rebalance time.Duration // default 10s
}

func joinRequest(group, memberID string, o joinOpts) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = o.version
	if req.Version == 0 {
		req.Version = 9
	}
	req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
	if o.session == 0 {
		o.session = 10 * time.Second
	}
	req.SessionTimeoutMillis = int32(o.session / time.Millisecond)
	if o.rebalance == 0 {
		o.rebalance = 10 * time.Second
	}
	req.RebalanceTimeoutMillis = int32(o.rebalance / time.Millisecond)
	if o.instance != "" {
		req.InstanceID = &o.instance
	}
	if o.protocols == nil {
		o.protocols = []string{"range"}
	}
	for _, p := range o.protocols {
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: []byte(p + o.meta)})
	}
	return req
}

// joinAsync sends a JoinGroup on its own goroutine.
func (f *fixture) joinAsync(req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- f.c.JoinGroup(context.Background(), Client{ID: "client", Host: "/127.0.0.1"}, req) }()
	return ch
}

func await[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no answer within %v", waitLimit)
		panic("unreachable")
	}
}

// newMember runs the KIP-394 two-step join and returns the member id; the
// second JoinGroup is left waiting on the returned channel.
func (f *fixture) newMember(group string, o joinOpts) (string, <-chan *kmsg.JoinGroupResponse) {
	f.t.Helper()
	if o.instance != "" {
		req := joinRequest(group, "", o)
		ch := f.joinAsync(req)
		return "", ch
	}
	resp := await(f.t, f.joinAsync(joinRequest(group, "", o)))
	if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" {
		f.t.Fatalf("first join: error %d member %q, want MEMBER_ID_REQUIRED with an id", resp.ErrorCode, resp.MemberID)
	}
	return resp.MemberID, f.joinAsync(joinRequest(group, resp.MemberID, o))
}

func (f *fixture) sync(group, member string, gen int32, assign map[string]string) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, member, gen
	for m, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- f.c.SyncGroup(context.Background(), req) }()
	return ch
}

func (f *fixture) heartbeat(group, member string, gen int32, instance string) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, member, gen
	if instance != "" {
		req.InstanceID = &instance
	}
	return f.c.Heartbeat(req).ErrorCode
}

func (f *fixture) commit(group, member string, gen int32, topic string, p int32, off int64) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = p, off, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return f.c.OffsetCommit(req).Topics[0].Partitions[0].ErrorCode
}

// fetchAll returns every committed offset of group as topic/partition -> offset.
func (f *fixture) fetchAll(group string) map[tp]int64 {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	req.Groups = append(req.Groups, rg)
	resp := f.c.OffsetFetch(req)
	out := map[tp]int64{}
	for _, t := range resp.Groups[0].Topics {
		for _, p := range t.Partitions {
			out[tp{t.Topic, p.Partition}] = p.Offset
		}
	}
	return out
}

func (f *fixture) describe(group string) kmsg.DescribeGroupsResponseGroup {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{group}
	return f.c.DescribeGroups(req).Groups[0]
}

// waitState waits until group is in state.
func (f *fixture) waitState(group string, state State) {
	f.t.Helper()
	f.waitFor(func() bool { return f.describe(group).State == string(state) }, "group "+group+" in state "+string(state))
}

// waitMembers waits until group has n members.
func (f *fixture) waitMembers(group string, n int) {
	f.t.Helper()
	f.waitFor(func() bool { return len(f.describe(group).Members) == n }, "members in "+group)
}

func (f *fixture) waitFor(cond func() bool, what string) {
	f.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var code int16
	if want != nil {
		code = want.Code
	}
	if got != code {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// stableGroup brings members (joined with o) into a Stable group and
// returns their ids (leader first) and the generation.
func (f *fixture) stableGroup(group string, n int, o joinOpts) ([]string, int32) {
	f.t.Helper()
	var ids []string
	var waits []<-chan *kmsg.JoinGroupResponse
	for i := 0; i < n; i++ {
		id, ch := f.newMember(group, o)
		ids = append(ids, id)
		waits = append(waits, ch)
		if i == 0 {
			// Let the first member form generation 1 alone, then make the
			// others join the running group, which exercises rejoins.
			r := await(f.t, ch)
			wantCode(f.t, "first join", r.ErrorCode, nil)
			wantCode(f.t, "first sync", await(f.t, f.sync(group, id, r.Generation, map[string]string{id: "a0"})).ErrorCode, nil)
			waits[0] = nil
		}
	}
	if n > 1 {
		// The running member learns of the rebalance by heartbeat and rejoins.
		f.waitState(group, StatePreparingRebalance)
		hb := f.heartbeat(group, ids[0], 1, "")
		wantCode(f.t, "heartbeat during rebalance", hb, kerr.RebalanceInProgress)
		waits[0] = f.joinAsync(joinRequest(group, ids[0], o))
	}
	var gen int32
	var leader string
	resps := map[string]*kmsg.JoinGroupResponse{}
	for i, ch := range waits {
		if ch == nil {
			continue
		}
		r := await(f.t, ch)
		wantCode(f.t, "join", r.ErrorCode, nil)
		resps[ids[i]] = r
		gen, leader = r.Generation, r.LeaderID
	}
	if n == 1 {
		return ids, 1
	}
	if got := len(resps[leader].Members); got != n {
		f.t.Fatalf("leader got %d members, want %d", got, n)
	}
	assign := map[string]string{}
	for i, id := range ids {
		assign[id] = "a" + string(rune('0'+i))
	}
	var syncs []<-chan *kmsg.SyncGroupResponse
	for _, id := range ids {
		if id != leader {
			syncs = append(syncs, f.sync(group, id, gen, nil))
		}
	}
	syncs = append(syncs, f.sync(group, leader, gen, assign))
	for _, ch := range syncs {
		wantCode(f.t, "sync", await(f.t, ch).ErrorCode, nil)
	}
	ordered := []string{leader}
	for _, id := range ids {
		if id != leader {
			ordered = append(ordered, id)
		}
	}
	return ordered, gen
}

func TestJoinSyncHeartbeatLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	ids, gen := f.stableGroup("g", 3, joinOpts{})
	if gen != 2 {
		t.Fatalf("generation = %d, want 2", gen)
	}
	d := f.describe("g")
	if d.State != "Stable" || len(d.Members) != 3 || d.Protocol != "range" {
		t.Fatalf("describe = state %s, %d members, protocol %q", d.State, len(d.Members), d.Protocol)
	}
	for _, id := range ids {
		wantCode(t, "heartbeat", f.heartbeat("g", id, gen, ""), nil)
	}
	wantCode(t, "stale generation", f.heartbeat("g", ids[1], gen-1, ""), kerr.IllegalGeneration)
	wantCode(t, "unknown member", f.heartbeat("g", "nobody", gen, ""), kerr.UnknownMemberID)
	wantCode(t, "unknown group", f.heartbeat("nope", ids[0], gen, ""), kerr.UnknownMemberID)

	// A follower that lost its SyncGroup answer asks again in Stable.
	s := await(t, f.sync("g", ids[1], gen, nil))
	if s.ErrorCode != 0 || string(s.MemberAssignment) == "" {
		t.Fatalf("sync in Stable: error %d assignment %q", s.ErrorCode, s.MemberAssignment)
	}

	// One member leaves: the others are told to rejoin and form a new generation.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[2]}, {MemberID: "ghost"}}
	lr := f.c.LeaveGroup(leave)
	wantCode(t, "leave", lr.Members[0].ErrorCode, nil)
	wantCode(t, "leave of unknown member", lr.Members[1].ErrorCode, kerr.UnknownMemberID)
	wantCode(t, "heartbeat after leave", f.heartbeat("g", ids[0], gen, ""), kerr.RebalanceInProgress)
	c0 := f.joinAsync(joinRequest("g", ids[0], joinOpts{}))
	c1 := f.joinAsync(joinRequest("g", ids[1], joinOpts{}))
	r0, r1 := await(t, c0), await(t, c1)
	if r0.Generation != gen+1 || r1.Generation != gen+1 {
		t.Fatalf("generations after leave = %d, %d, want %d", r0.Generation, r1.Generation, gen+1)
	}
	if len(r0.Members)+len(r1.Members) != 2 {
		t.Fatalf("leader should see 2 members, got %d+%d", len(r0.Members), len(r1.Members))
	}

	// The last members leave: the group is Empty.
	for _, id := range ids[:2] {
		l := kmsg.NewPtrLeaveGroupRequest()
		l.Version = 1
		l.Group, l.MemberID = "g", id
		wantCode(t, "v1 leave", f.c.LeaveGroup(l).ErrorCode, nil)
	}
	if st := f.describe("g").State; st != "Empty" {
		t.Fatalf("state after everyone left = %s, want Empty", st)
	}
}

func TestJoinErrors(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxMemberMetadataBytes = 1024 })
	// A running group with "range" to test protocol consistency against.
	f.stableGroup("running", 1, joinOpts{})
	huge := joinRequest("g", "", joinOpts{})
	huge.Protocols[0].Metadata = make([]byte, 4096)
	tests := []struct {
		name string
		req  *kmsg.JoinGroupRequest
		want *kerr.Error
	}{
		{"empty group id", joinRequest("", "", joinOpts{}), kerr.InvalidGroupID},
		{"session timeout too small", joinRequest("g", "", joinOpts{session: time.Millisecond}), kerr.InvalidSessionTimeout},
		{"session timeout too large", joinRequest("g", "", joinOpts{session: time.Hour}), kerr.InvalidSessionTimeout},
		{"no protocols", joinRequest("g", "", joinOpts{protocols: []string{}}), kerr.InconsistentGroupProtocol},
		{"huge metadata", huge, kerr.InvalidRequest},
		{"unknown member of unknown group", joinRequest("g2", "who", joinOpts{}), kerr.UnknownMemberID},
		{"unknown member of running group", joinRequest("running", "who", joinOpts{}), kerr.UnknownMemberID},
		{"no common protocol", joinRequest("running", "", joinOpts{protocols: []string{"roundrobin"}}), kerr.InconsistentGroupProtocol},
		{"v4+ new member needs an id", joinRequest("g3", "", joinOpts{}), kerr.MemberIDRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := await(t, f.joinAsync(tt.req))
			wantCode(t, "join", resp.ErrorCode, tt.want)
		})
	}
	// The running group is unaffected by all of that.
	if d := f.describe("running"); d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("running group disturbed: %s with %d members", d.State, len(d.Members))
	}
	if d := f.describe("g2"); d.State != "Dead" {
		t.Fatalf("a failed join created group g2: %s", d.State)
	}
}

func TestOldJoinVersionsAndProtocolChoice(t *testing.T) {
	f := newFixture(t, nil)
	// v0-v3 members get their id right away. Both support range and
	// roundrobin; the one preferred by most wins.
	a := f.joinAsync(joinRequest("g", "", joinOpts{version: 1, protocols: []string{"roundrobin", "range"}}))
	ra := await(t, a)
	wantCode(t, "v1 join", ra.ErrorCode, nil)
	if ra.MemberID == "" || ra.Generation != 1 || *ra.Protocol != "roundrobin" {
		t.Fatalf("v1 join: member %q generation %d protocol %q", ra.MemberID, ra.Generation, *ra.Protocol)
	}
	wantCode(t, "sync", await(t, f.sync("g", ra.MemberID, 1, map[string]string{ra.MemberID: "x"})).ErrorCode, nil)
	b := f.joinAsync(joinRequest("g", "", joinOpts{version: 3, protocols: []string{"range", "roundrobin"}}))
	c := f.joinAsync(joinRequest("g", "", joinOpts{version: 3, protocols: []string{"range"}}))
	f.waitMembers("g", 3)
	wantCode(t, "heartbeat", f.heartbeat("g", ra.MemberID, 1, ""), kerr.RebalanceInProgress)
	a2 := f.joinAsync(joinRequest("g", ra.MemberID, joinOpts{version: 1, protocols: []string{"roundrobin", "range"}}))
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{a2, b, c} {
		r := await(t, ch)
		wantCode(t, "join", r.ErrorCode, nil)
		if *r.Protocol != "range" {
			t.Fatalf("protocol = %q, want range (the only one all support)", *r.Protocol)
		}
	}
}

func TestSessionTimeoutEvictsMember(t *testing.T) {
	f := newFixture(t, nil)
	o := joinOpts{session: 300 * time.Millisecond}
	ids, gen := f.stableGroup("g", 2, o)
	alive := ids[0]
	// Only the first member keeps heartbeating; the other one went silent.
	deadline := time.Now().Add(waitLimit)
	for {
		code := f.heartbeat("g", alive, gen, "")
		if code == kerr.RebalanceInProgress.Code {
			break
		}
		wantCode(t, "heartbeat", code, nil)
		if time.Now().After(deadline) {
			t.Fatal("the silent member was never evicted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := await(t, f.joinAsync(joinRequest("g", alive, o)))
	wantCode(t, "rejoin", r.ErrorCode, nil)
	if len(r.Members) != 1 || r.Members[0].MemberID != alive {
		t.Fatalf("members after eviction = %v, want only %s", r.Members, alive)
	}
	wantCode(t, "sync", await(t, f.sync("g", alive, r.Generation, map[string]string{alive: "all"})).ErrorCode, nil)
	wantCode(t, "heartbeat of the evicted member", f.heartbeat("g", ids[1], gen, ""), kerr.UnknownMemberID)
	wantCode(t, "commit of the evicted member", f.commit("g", ids[1], gen, "orders", 0, 1), kerr.UnknownMemberID)
}

func TestStaticMembership(t *testing.T) {
	f := newFixture(t, nil)
	oa := joinOpts{instance: "inst-a"}
	ob := joinOpts{instance: "inst-b"}
	_, cha := f.newMember("g", oa)
	ra := await(t, cha)
	wantCode(t, "static join", ra.ErrorCode, nil) // no MEMBER_ID_REQUIRED for static members
	wantCode(t, "sync", await(t, f.sync("g", ra.MemberID, ra.Generation, map[string]string{ra.MemberID: "pa"})).ErrorCode, nil)
	_, chb := f.newMember("g", ob)
	f.waitState("g", StatePreparingRebalance)
	wantCode(t, "hb", f.heartbeat("g", ra.MemberID, ra.Generation, "inst-a"), kerr.RebalanceInProgress)
	ra2 := await(t, f.joinAsync(joinRequest("g", ra.MemberID, oa)))
	rb := await(t, chb)
	gen := rb.Generation
	leader, follower := ra2, rb
	if rb.LeaderID == rb.MemberID {
		leader, follower = rb, ra2
	}
	fs := f.sync("g", follower.MemberID, gen, nil)
	wantCode(t, "leader sync", await(t, f.sync("g", leader.MemberID, gen, map[string]string{leader.MemberID: "p0", follower.MemberID: "p1"})).ErrorCode, nil)
	wantCode(t, "follower sync", await(t, fs).ErrorCode, nil)

	// The follower restarts: it joins without its member id and gets its
	// old assignment back without a rebalance.
	fInst := "inst-a"
	if follower == rb {
		fInst = "inst-b"
	}
	r := await(t, f.joinAsync(joinRequest("g", "", joinOpts{instance: fInst})))
	wantCode(t, "static rejoin", r.ErrorCode, nil)
	if r.Generation != gen || r.MemberID == follower.MemberID {
		t.Fatalf("static rejoin: generation %d (want %d), member %q (want a new id)", r.Generation, gen, r.MemberID)
	}
	s := await(t, f.sync("g", r.MemberID, gen, nil))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "p1" {
		t.Fatalf("static member's assignment after restart: error %d, %q, want p1", s.ErrorCode, s.MemberAssignment)
	}
	wantCode(t, "leader heartbeat: no rebalance", f.heartbeat("g", leader.MemberID, gen, ""), nil)
	// The old incarnation is fenced.
	wantCode(t, "old incarnation heartbeat", f.heartbeat("g", follower.MemberID, gen, fInst), kerr.FencedInstanceID)
	wantCode(t, "unknown instance", f.heartbeat("g", follower.MemberID, gen, "inst-zzz"), kerr.UnknownMemberID)

	// Static leave by instance id.
	l := kmsg.NewPtrLeaveGroupRequest()
	l.Version = 4
	l.Group = "g"
	l.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &fInst}}
	wantCode(t, "static leave", f.c.LeaveGroup(l).Members[0].ErrorCode, nil)
	wantCode(t, "leader heartbeat after static leave", f.heartbeat("g", leader.MemberID, gen, ""), kerr.RebalanceInProgress)
}

func TestOffsetCommitRules(t *testing.T) {
	f := newFixture(t, nil)
	ids, gen := f.stableGroup("g", 1, joinOpts{})
	tests := []struct {
		name   string
		group  string
		member string
		gen    int32
		topic  string
		part   int32
		want   *kerr.Error
	}{
		{"member commit", "g", ids[0], gen, "orders", 1, nil},
		{"stale generation", "g", ids[0], gen + 5, "orders", 1, kerr.IllegalGeneration},
		{"unknown member", "g", "who", gen, "orders", 1, kerr.UnknownMemberID},
		{"simple commit to a group with members", "g", "", -1, "orders", 1, kerr.UnknownMemberID},
		{"unknown topic", "g", ids[0], gen, "nope", 0, kerr.UnknownTopicOrPartition},
		{"unknown partition", "g", ids[0], gen, "orders", 3, kerr.UnknownTopicOrPartition},
		{"negative partition", "g", ids[0], gen, "orders", -1, kerr.UnknownTopicOrPartition},
		{"simple commit creates a group", "simple", "", -1, "orders", 2, nil},
		{"generation on an unknown group", "ghost", "m", 3, "orders", 0, kerr.IllegalGeneration},
		{"empty group id", "", "", -1, "orders", 0, kerr.InvalidGroupID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "commit", f.commit(tt.group, tt.member, tt.gen, tt.topic, tt.part, 10), tt.want)
		})
	}
	// Metadata too large.
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group, req.MemberID, req.Generation = "simple", "", -1
	big := strings.Repeat("x", 5000)
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "orders", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, Metadata: &big}}}}
	wantCode(t, "metadata too large", f.c.OffsetCommit(req).Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)

	if got := f.fetchAll("g"); len(got) != 1 || got[tp{"orders", 1}] != 10 {
		t.Fatalf("g offsets = %v", got)
	}
	if got := f.fetchAll("simple"); len(got) != 1 || got[tp{"orders", 2}] != 10 {
		t.Fatalf("simple offsets = %v", got)
	}
}

func TestOffsetFetchVersions(t *testing.T) {
	f := newFixture(t, nil)
	wantCode(t, "commit", f.commit("g", "", -1, "orders", 0, 5), nil)
	wantCode(t, "commit", f.commit("g", "", -1, "other", 0, 7), nil)
	for _, v := range []int16{0, 1, 5, 7} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		req.Group = "g"
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "orders", Partitions: []int32{0, 1}}}
		resp := f.c.OffsetFetch(req)
		ps := resp.Topics[0].Partitions
		if len(ps) != 2 || ps[0].Offset != 5 || ps[1].Offset != -1 || resp.ErrorCode != 0 {
			t.Fatalf("v%d fetch = %+v", v, resp)
		}
	}
	// topics null: everything (v2+).
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 3
	req.Group = "g"
	if got := len(f.c.OffsetFetch(req).Topics); got != 2 {
		t.Fatalf("fetch all = %d topics, want 2", got)
	}
	// Deleted topic: no longer listed, and the cleanup drops it for good.
	f.mu.Lock()
	delete(f.topics, "other")
	f.mu.Unlock()
	if got := f.fetchAll("g"); len(got) != 1 {
		t.Fatalf("fetch all after topic deletion = %v", got)
	}
	f.c.cleanup()
	f.mu.Lock()
	f.topics["other"] = 1 // recreated: the old offset must not come back
	f.mu.Unlock()
	if got := f.fetchAll("g"); len(got) != 1 {
		t.Fatalf("fetch all after recreation = %v", got)
	}
	// TopicDeleted drops the offsets at once, before any cleanup.
	wantCode(t, "commit", f.commit("g", "", -1, "other", 0, 8), nil)
	f.c.TopicDeleted("other")
	if got := f.fetchAll("g"); len(got) != 1 {
		t.Fatalf("fetch all after TopicDeleted = %v", got)
	}
	// Multi-group fetch (v8) including an unknown group.
	m := kmsg.NewPtrOffsetFetchRequest()
	m.Version = 8
	m.RequireStable = true
	m.Groups = []kmsg.OffsetFetchRequestGroup{
		{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "orders", Partitions: []int32{0}}}},
		{Group: "unknown", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "orders", Partitions: []int32{0}}}},
	}
	resp := f.c.OffsetFetch(m)
	if resp.Groups[0].Topics[0].Partitions[0].Offset != 5 || resp.Groups[1].Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("multi-group fetch = %+v", resp.Groups)
	}
}

func TestRetention(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OffsetsRetention = time.Hour })
	// A simple group: each offset ages from its commit.
	wantCode(t, "commit", f.commit("simple", "", -1, "orders", 0, 1), nil)
	// A consumer group: ages from when it became empty.
	ids, gen := f.stableGroup("consumer", 1, joinOpts{})
	wantCode(t, "commit", f.commit("consumer", ids[0], gen, "orders", 0, 1), nil)

	f.advance(2 * time.Hour)
	f.c.cleanup()
	if d := f.describe("simple"); d.State != "Dead" {
		t.Fatalf("simple group after retention: %s, want removed (Dead)", d.State)
	}
	if got := f.fetchAll("consumer"); len(got) != 1 {
		t.Fatalf("a group with members lost its offsets: %v", got)
	}
	l := kmsg.NewPtrLeaveGroupRequest()
	l.Version = 0
	l.Group, l.MemberID = "consumer", ids[0]
	wantCode(t, "leave", f.c.LeaveGroup(l).ErrorCode, nil)
	f.advance(30 * time.Minute)
	f.c.cleanup()
	if got := f.fetchAll("consumer"); len(got) != 1 {
		t.Fatalf("offsets expired before the group was empty for the retention: %v", got)
	}
	f.advance(31 * time.Minute)
	f.c.cleanup()
	if got := f.fetchAll("consumer"); len(got) != 0 {
		t.Fatalf("offsets kept past retention: %v", got)
	}
	// Survives a reopen: nothing comes back.
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	f.open(nil)
	if got := f.fetchAll("consumer"); len(got) != 0 {
		t.Fatalf("expired offsets back after reopen: %v", got)
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	f := newFixture(t, nil)
	ids, gen := f.stableGroup("g", 2, joinOpts{session: 20 * time.Second})
	wantCode(t, "commit", f.commit("g", ids[0], gen, "orders", 2, 99), nil)
	wantCode(t, "commit", f.commit("s", "", -1, "orders", 0, 3), nil)
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	f.open(nil)
	if got := f.fetchAll("g"); got[tp{"orders", 2}] != 99 {
		t.Fatalf("offsets after reopen = %v", got)
	}
	if got := f.fetchAll("s"); got[tp{"orders", 0}] != 3 {
		t.Fatalf("simple offsets after reopen = %v", got)
	}
	d := f.describe("g")
	if d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("group after reopen: %s with %d members", d.State, len(d.Members))
	}
	// Members carry on with their ids and generation.
	for _, id := range ids {
		wantCode(t, "heartbeat after reopen", f.heartbeat("g", id, gen, ""), nil)
	}
	s := await(t, f.sync("g", ids[1], gen, nil))
	if s.ErrorCode != 0 || len(s.MemberAssignment) == 0 {
		t.Fatalf("assignment after reopen: %d %q", s.ErrorCode, s.MemberAssignment)
	}
}

func TestAdmin(t *testing.T) {
	f := newFixture(t, nil)
	ids, gen := f.stableGroup("busy", 1, joinOpts{})
	wantCode(t, "commit", f.commit("busy", ids[0], gen, "orders", 0, 1), nil)
	wantCode(t, "commit", f.commit("idle", "", -1, "orders", 0, 1), nil)
	wantCode(t, "commit", f.commit("idle", "", -1, "orders", 1, 1), nil)

	// ListGroups with and without a state filter.
	list := func(states ...string) []string {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 4
		req.StatesFilter = states
		var out []string
		for _, g := range f.c.ListGroups(req).Groups {
			out = append(out, g.Group+":"+g.GroupState)
		}
		return out
	}
	if got := strings.Join(list(), ","); got != "busy:Stable,idle:Empty" {
		t.Fatalf("list = %s", got)
	}
	if got := strings.Join(list("empty"), ","); got != "idle:Empty" {
		t.Fatalf("list Empty = %s", got)
	}

	// OffsetDelete: refused for a subscribed topic of a running consumer group.
	od := func(group string, p int32) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "orders", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: p}}}}
		return f.c.OffsetDelete(req)
	}
	// The fixture's consumers send opaque metadata, which counts as
	// subscribed to everything the group has offsets for.
	wantCode(t, "offset delete busy", od("busy", 0).Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	wantCode(t, "offset delete idle", od("idle", 0).Topics[0].Partitions[0].ErrorCode, nil)
	wantCode(t, "offset delete unknown group", od("ghost", 0).ErrorCode, kerr.GroupIDNotFound)
	wantCode(t, "offset delete unknown partition", od("idle", 7).Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	if got := f.fetchAll("idle"); len(got) != 1 {
		t.Fatalf("idle offsets after delete = %v", got)
	}

	// DeleteGroups.
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{"busy", "idle", "ghost", ""}
	resp := f.c.DeleteGroups(req)
	for i, want := range []*kerr.Error{kerr.NonEmptyGroup, nil, kerr.GroupIDNotFound, kerr.InvalidGroupID} {
		wantCode(t, "delete "+req.Groups[i], resp.Groups[i].ErrorCode, want)
	}
	if got := f.fetchAll("idle"); len(got) != 0 {
		t.Fatalf("deleted group still has offsets: %v", got)
	}
	if got := strings.Join(list(), ","); got != "busy:Stable" {
		t.Fatalf("list after delete = %s", got)
	}
}

func TestCollectorReportsLag(t *testing.T) {
	f := newFixture(t, nil)
	f.mu.Lock()
	f.hwm[tp{"orders", 0}] = 100
	f.hwm[tp{"orders", 1}] = 5
	f.mu.Unlock()
	wantCode(t, "commit", f.commit("g", "", -1, "orders", 0, 40), nil)
	wantCode(t, "commit", f.commit("g", "", -1, "orders", 1, 5), nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.c.Collector())
	want := `
# HELP broker_group_lag Records between a partition's high watermark and the group's committed offset.
# TYPE broker_group_lag gauge
broker_group_lag{group="g",partition="0",topic="orders"} 60
broker_group_lag{group="g",partition="1",topic="orders"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "broker_group_lag"); err != nil {
		t.Fatal(err)
	}
}

func TestRebalanceTimeoutRemovesSilentMembers(t *testing.T) {
	f := newFixture(t, nil)
	o := joinOpts{session: 20 * time.Second, rebalance: 300 * time.Millisecond}
	ids, _ := f.stableGroup("g", 2, o)
	// A new member joins; only it and ids[0] rejoin. ids[1] keeps quiet
	// (its session is long), so the join phase ends by the rebalance
	// timeout and ids[1] is removed.
	newID, c1 := f.newMember("g", o)
	f.waitState("g", StatePreparingRebalance)
	c0 := f.joinAsync(joinRequest("g", ids[0], o))
	r0, r1 := await(t, c0), await(t, c1)
	if r1.MemberID != newID {
		t.Fatalf("new member's id changed: %s -> %s", newID, r1.MemberID)
	}
	wantCode(t, "join", r0.ErrorCode, nil)
	wantCode(t, "join", r1.ErrorCode, nil)
	if n := len(r0.Members) + len(r1.Members); n != 2 {
		t.Fatalf("leader saw %d members, want 2 (the silent one removed)", n)
	}
	wantCode(t, "silent member", f.heartbeat("g", ids[1], r0.Generation, ""), kerr.UnknownMemberID)
}

func TestLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.MaxGroupSize = 2
		c.MaxAssignmentBytes = 16
	})
	ids, gen := f.stableGroup("g", 2, joinOpts{})
	// A third member does not fit.
	r := await(t, f.joinAsync(joinRequest("g", "", joinOpts{})))
	wantCode(t, "join beyond the group size", r.ErrorCode, kerr.GroupMaxSizeReached)
	wantCode(t, "members unaffected", f.heartbeat("g", ids[0], gen, ""), nil)

	// The leader hands out an oversized assignment: it is refused and the
	// group starts over instead of handing it out.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 3
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[1]}}
	wantCode(t, "leave", f.c.LeaveGroup(leave).Members[0].ErrorCode, nil)
	j := await(t, f.joinAsync(joinRequest("g", ids[0], joinOpts{})))
	wantCode(t, "rejoin", j.ErrorCode, nil)
	s := await(t, f.sync("g", ids[0], j.Generation, map[string]string{ids[0]: strings.Repeat("x", 17)}))
	wantCode(t, "oversized assignment", s.ErrorCode, kerr.InvalidRequest)
	if st := f.describe("g").State; st != string(StatePreparingRebalance) {
		t.Fatalf("state after a refused assignment = %s, want PreparingRebalance", st)
	}
	j = await(t, f.joinAsync(joinRequest("g", ids[0], joinOpts{})))
	wantCode(t, "rejoin after refusal", j.ErrorCode, nil)
	s = await(t, f.sync("g", ids[0], j.Generation, map[string]string{ids[0]: "ok"}))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "ok" {
		t.Fatalf("sync after refusal: %d %q", s.ErrorCode, s.MemberAssignment)
	}
}

func TestPeriodicCompaction(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.RetentionCheckInterval = 20 * time.Millisecond
		c.CompactBytes = 1
	})
	for i := int64(1); i <= 20; i++ {
		wantCode(t, "commit", f.commit("g", "", -1, "orders", int32(i%3), i), nil)
	}
	f.waitFor(func() bool { return f.c.store.logSize() == 0 }, "the log to be compacted")
	wantCode(t, "commit after compaction", f.commit("g", "", -1, "orders", 0, 100), nil)
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	f.open(nil)
	want := map[tp]int64{{"orders", 0}: 100, {"orders", 1}: 19, {"orders", 2}: 20}
	if got := f.fetchAll("g"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("offsets after compaction and reopen = %v, want %v", got, want)
	}
}
