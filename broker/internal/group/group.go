package group

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, named as Kafka names it in DescribeGroups
// and ListGroups.
type State string

// The classic group states.
const (
	StateEmpty               State = "Empty"               // no members; offsets may remain
	StatePreparingRebalance  State = "PreparingRebalance"  // waiting for members to (re)join
	StateCompletingRebalance State = "CompletingRebalance" // joined; waiting for the leader's assignment
	StateStable              State = "Stable"              // assignment handed out; members heartbeat
	StateDead                State = "Dead"                // removed
)

// Client identifies the connection a request came from, for DescribeGroups.
type Client struct {
	ID   string // the request header's client id
	Host string // the peer address, e.g. "/127.0.0.1"
}

// joinResult is what a JoinGroup caller gets back, immediately or after the
// rebalance it waits for completes.
type joinResult struct {
	code         int16
	generation   int32
	protocolType string
	protocol     string
	leader       string
	memberID     string
	members      []kmsg.JoinGroupResponseMember
}

// syncResult is what a SyncGroup caller gets back.
type syncResult struct {
	code         int16
	protocolType string
	protocol     string
	assignment   []byte
}

type member struct {
	id, instanceID       string
	clientID, clientHost string
	sessionTimeout       time.Duration
	rebalanceTimeout     time.Duration
	protocols            []kmsg.JoinGroupRequestProtocol
	assignment           []byte
	seq                  uint64 // join order; the longest-standing member leads

	joinCh chan joinResult // set while a JoinGroup waits for the rebalance
	syncCh chan syncResult // set while a SyncGroup waits for the assignment

	deadline time.Time   // session expiry unless a heartbeat comes first
	timer    *time.Timer // fires at or after deadline
}

// group is one consumer group; every field is guarded by mu.
type group struct {
	c  *Coordinator
	id string

	mu           sync.Mutex
	dead         bool
	state        State
	stateSince   time.Time
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // instance id -> member id
	pending      map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED -> expiry
	memberSeq    uint64

	offsets map[tp]offsetRecord

	// Rebalance timing: timerSeq invalidates older timers.
	timerSeq       uint64
	initialDelay   bool      // in the initial-join delay of a group that was empty
	delayUntil     time.Time // end of the initial delay, extended by each new member
	rebalanceUntil time.Time // hard end of the join phase
}

func newGroup(c *Coordinator, id string) *group {
	return &group{
		c:          c,
		id:         id,
		state:      StateEmpty,
		stateSince: c.cfg.now(),
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]time.Time),
		offsets:    make(map[tp]offsetRecord),
	}
}

// restoreGroup rebuilds a group from its durable state. A group stored as
// Stable comes back Stable with its members, who keep their ids and
// generation if they heartbeat within their session timeout; the others
// expire and the group rebalances as usual.
func (c *Coordinator) restoreGroup(id string, dg *durableGroup) *group {
	g := newGroup(c, id)
	g.offsets = dg.offsets
	if dg.meta == nil {
		return g
	}
	m := dg.meta
	g.protocolType, g.protocol, g.leader, g.generation = m.ProtocolType, m.Protocol, m.Leader, m.Generation
	g.stateSince = time.UnixMilli(m.StateMillis)
	if State(m.State) != StateStable || len(m.Members) == 0 {
		g.protocol, g.leader = "", ""
		return g
	}
	g.state = StateStable
	now := c.cfg.now()
	for _, mr := range m.Members {
		g.memberSeq++
		mem := &member{
			id: mr.ID, instanceID: mr.InstanceID, clientID: mr.ClientID, clientHost: mr.ClientHost,
			sessionTimeout:   time.Duration(mr.SessionTimeoutMs) * time.Millisecond,
			rebalanceTimeout: time.Duration(mr.RebalanceTimeoutMs) * time.Millisecond,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: m.Protocol, Metadata: mr.ProtocolMetadata}},
			assignment:       mr.Assignment,
			seq:              g.memberSeq,
		}
		g.members[mem.id] = mem
		if mem.instanceID != "" {
			g.static[mem.instanceID] = mem.id
		}
		g.touch(mem, now)
	}
	if g.members[g.leader] == nil {
		g.leader = g.oldestMember()
	}
	return g
}

func (g *group) setState(s State) {
	g.state = s
	g.stateSince = g.c.cfg.now()
}

// JoinGroup handles a JoinGroup request (v0-v9). It blocks until the rebalance
// the member takes part in completes, the rebalance timeout passes, ctx ends or
// the coordinator closes. It is BeginJoinGroup followed by its wait.
func (c *Coordinator) JoinGroup(ctx context.Context, client Client, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	return c.BeginJoinGroup(client, req)(ctx)
}

// BeginJoinGroup applies a JoinGroup request to the group at once and returns
// the function that waits for its answer. A connection calls it in request
// order and runs the wait concurrently, so later requests (a heartbeat, a
// commit) are not held up by the join.
func (c *Coordinator) BeginJoinGroup(client Client, req *kmsg.JoinGroupRequest) func(context.Context) *kmsg.JoinGroupResponse {
	res, wait := c.join(client, req)
	return func(ctx context.Context) *kmsg.JoinGroupResponse {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		if wait != nil {
			select {
			case res = <-wait:
			case <-ctx.Done():
				res = joinError(kerr.CoordinatorNotAvailable, req.MemberID)
			}
		}
		resp.ErrorCode = res.code
		resp.Generation = res.generation
		resp.MemberID = res.memberID
		resp.LeaderID = res.leader
		resp.Members = res.members
		if res.code == 0 || req.Version < 7 {
			pt, p := res.protocolType, res.protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
		}
		return resp
	}
}

func joinError(err *kerr.Error, memberID string) joinResult {
	return joinResult{code: err.Code, generation: -1, memberID: memberID}
}

func (c *Coordinator) join(client Client, req *kmsg.JoinGroupRequest) (joinResult, chan joinResult) {
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session
	}
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	switch {
	case req.Group == "":
		return joinError(kerr.InvalidGroupID, req.MemberID), nil
	case session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout:
		return joinError(kerr.InvalidSessionTimeout, req.MemberID), nil
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return joinError(kerr.InconsistentGroupProtocol, req.MemberID), nil
	case req.InstanceID != nil && instanceID == "":
		return joinError(kerr.InvalidRequest, req.MemberID), nil
	}
	size := 0
	for _, p := range req.Protocols {
		size += len(p.Name) + len(p.Metadata)
	}
	if size > c.cfg.MaxMemberMetadataBytes {
		return joinError(kerr.InvalidRequest, req.MemberID), nil
	}

	g := c.lockGroup(req.Group, req.MemberID == "")
	if g == nil {
		if c.isClosed() {
			return joinError(kerr.CoordinatorNotAvailable, req.MemberID), nil
		}
		return joinError(kerr.UnknownMemberID, req.MemberID), nil
	}
	defer g.mu.Unlock()

	if g.state == StateEmpty {
		// An empty group takes on the protocol type of its first member.
	} else if g.protocolType != req.ProtocolType || !g.supports(req.Protocols, req.MemberID) {
		return joinError(kerr.InconsistentGroupProtocol, req.MemberID), nil
	}
	now := g.c.cfg.now()

	if req.MemberID == "" {
		if instanceID != "" {
			if oldID, ok := g.static[instanceID]; ok {
				return g.rejoinStatic(g.members[oldID], client, req, session, rebalance)
			}
		}
		if len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize {
			return joinError(kerr.GroupMaxSizeReached, ""), nil
		}
		prefix := client.ID
		if instanceID != "" {
			prefix = instanceID
		}
		id := prefix + "-" + newMemberSuffix()
		if instanceID == "" && req.Version >= 4 {
			// KIP-394: hand out the id first; the member joins with it.
			g.pending[id] = now.Add(session)
			g.armPendingExpiry(id, session)
			return joinResult{code: kerr.MemberIDRequired.Code, generation: -1, memberID: id}, nil
		}
		return g.addMember(id, instanceID, client, req, session, rebalance)
	}

	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		if len(g.members) >= c.cfg.MaxGroupSize {
			return joinError(kerr.GroupMaxSizeReached, req.MemberID), nil
		}
		return g.addMember(req.MemberID, instanceID, client, req, session, rebalance)
	}
	if code := g.checkStatic(instanceID, req.MemberID); code != nil {
		return joinError(code, req.MemberID), nil
	}
	m := g.members[req.MemberID]
	if m == nil {
		return joinError(kerr.UnknownMemberID, req.MemberID), nil
	}
	changed := !sameProtocols(m.protocols, req.Protocols)
	g.updateMember(m, client, req, session, rebalance)
	switch g.state {
	case StatePreparingRebalance:
		return g.awaitJoin(m)
	case StateCompletingRebalance:
		if !changed {
			// The member lost its JoinGroup answer; repeat it.
			return g.joinResultFor(m), nil
		}
	case StateStable:
		if !changed && m.id != g.leader {
			return g.joinResultFor(m), nil
		}
	}
	ch := g.awaitJoinCh(m)
	g.prepareRebalance("member " + m.id + " rejoined with new metadata")
	return joinResult{}, ch
}

// checkStatic returns FENCED_INSTANCE_ID when instanceID belongs to another
// member id, UNKNOWN_MEMBER_ID when it belongs to none, nil otherwise.
func (g *group) checkStatic(instanceID, memberID string) *kerr.Error {
	if instanceID == "" {
		return nil
	}
	id, ok := g.static[instanceID]
	switch {
	case !ok:
		return kerr.UnknownMemberID
	case id != memberID:
		return kerr.FencedInstanceID
	}
	return nil
}

// supports reports whether protos share a protocol with every current member
// other than self.
func (g *group) supports(protos []kmsg.JoinGroupRequestProtocol, self string) bool {
	others := 0
	for _, m := range g.members {
		if m.id != self {
			others++
		}
	}
	if others == 0 {
		return true
	}
	for _, p := range protos {
		all := true
		for _, m := range g.members {
			if m.id != self && !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func hasProtocol(protos []kmsg.JoinGroupRequestProtocol, name string) bool {
	for _, p := range protos {
		if p.Name == name {
			return true
		}
	}
	return false
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

func cloneProtocols(in []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(in))
	for i, p := range in {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: append([]byte(nil), p.Metadata...)}
	}
	return out
}

func (g *group) updateMember(m *member, client Client, req *kmsg.JoinGroupRequest, session, rebalance time.Duration) {
	m.clientID, m.clientHost = client.ID, client.Host
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.protocols = cloneProtocols(req.Protocols)
}

func (g *group) addMember(id, instanceID string, client Client, req *kmsg.JoinGroupRequest, session, rebalance time.Duration) (joinResult, chan joinResult) {
	g.memberSeq++
	m := &member{id: id, instanceID: instanceID, seq: g.memberSeq}
	g.updateMember(m, client, req, session, rebalance)
	g.members[id] = m
	if instanceID != "" {
		g.static[instanceID] = id
	}
	if g.state == StateEmpty {
		g.protocolType = req.ProtocolType
	}
	g.touch(m, g.c.cfg.now())
	if g.initialDelay {
		// Another member arrived during the initial delay: wait a bit longer.
		until := g.c.cfg.now().Add(g.c.cfg.InitialRebalanceDelay)
		if until.After(g.rebalanceUntil) {
			until = g.rebalanceUntil
		}
		g.delayUntil = until
	}
	return g.awaitJoin(m)
}

// rejoinStatic handles a static member that joins without its member id (it
// restarted): it gets a new id, the old one is fenced, and a stable group
// keeps its assignment without a rebalance when nothing changed.
func (g *group) rejoinStatic(m *member, client Client, req *kmsg.JoinGroupRequest, session, rebalance time.Duration) (joinResult, chan joinResult) {
	oldID := m.id
	newID := m.instanceID + "-" + newMemberSuffix()
	g.replyJoin(m, joinError(kerr.FencedInstanceID, oldID))
	g.replySync(m, syncResult{code: kerr.FencedInstanceID.Code})
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[m.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	changed := !sameProtocols(m.protocols, req.Protocols)
	g.updateMember(m, client, req, session, rebalance)
	g.touch(m, g.c.cfg.now())
	g.c.log.Info("static member rejoined", "group", g.id, "instance", m.instanceID, "old_member", oldID, "member", newID)
	switch g.state {
	case StatePreparingRebalance:
		return g.awaitJoin(m)
	case StateStable:
		if !changed && newID != g.leader {
			g.persistMeta()
			return g.joinResultFor(m), nil
		}
	}
	ch := g.awaitJoinCh(m)
	g.prepareRebalance("static member " + m.instanceID + " rejoined")
	return joinResult{}, ch
}

// joinResultFor describes the current generation to m (with the member list
// when m leads).
func (g *group) joinResultFor(m *member) joinResult {
	res := joinResult{
		generation:   g.generation,
		protocolType: g.protocolType,
		protocol:     g.protocol,
		leader:       g.leader,
		memberID:     m.id,
	}
	if m.id == g.leader {
		res.members = g.memberList()
	}
	return res
}

func (g *group) memberList() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, m := range g.sortedMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		if m.instanceID != "" {
			id := m.instanceID
			jm.InstanceID = &id
		}
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		out = append(out, jm)
	}
	return out
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// awaitJoin marks m as joined in the current rebalance and returns the channel
// its answer comes on; a rebalance is started if none is running.
func (g *group) awaitJoin(m *member) (joinResult, chan joinResult) {
	ch := g.awaitJoinCh(m)
	if g.state != StatePreparingRebalance {
		g.prepareRebalance("member " + m.id + " joined")
	} else {
		g.maybeCompleteJoin()
	}
	return joinResult{}, ch
}

func (g *group) awaitJoinCh(m *member) chan joinResult {
	// A second JoinGroup from the same member replaces the first; answer the
	// first so its connection is not left waiting.
	g.replyJoin(m, joinError(kerr.RebalanceInProgress, m.id))
	m.joinCh = make(chan joinResult, 1)
	return m.joinCh
}

func (g *group) replyJoin(m *member, res joinResult) {
	if m.joinCh != nil {
		m.joinCh <- res
		m.joinCh = nil
	}
}

func (g *group) replySync(m *member, res syncResult) {
	if m.syncCh != nil {
		m.syncCh <- res
		m.syncCh = nil
	}
}

// prepareRebalance moves the group to PreparingRebalance: members waiting for
// an assignment are told to rejoin and a join phase starts.
func (g *group) prepareRebalance(reason string) {
	now := g.c.cfg.now()
	wasEmpty := g.state == StateEmpty
	if g.state == StateCompletingRebalance {
		for _, m := range g.members {
			g.replySync(m, syncResult{code: kerr.RebalanceInProgress.Code})
		}
	}
	for _, m := range g.members {
		m.assignment = nil
	}
	g.setState(StatePreparingRebalance)
	g.c.log.Debug("group rebalancing", "group", g.id, "generation", g.generation, "reason", reason)
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	g.rebalanceUntil = now.Add(timeout)
	if wasEmpty && g.c.cfg.InitialRebalanceDelay > 0 {
		g.initialDelay = true
		g.delayUntil = now.Add(min(g.c.cfg.InitialRebalanceDelay, timeout))
		g.armRebalanceTimer(g.delayUntil.Sub(now))
		return
	}
	g.initialDelay = false
	g.armRebalanceTimer(timeout)
	g.maybeCompleteJoin()
}

func (g *group) armRebalanceTimer(d time.Duration) {
	g.timerSeq++
	seq := g.timerSeq
	time.AfterFunc(d, func() { g.onRebalanceTimer(seq) })
}

func (g *group) onRebalanceTimer(seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead || seq != g.timerSeq {
		return
	}
	now := g.c.cfg.now()
	switch g.state {
	case StatePreparingRebalance:
		if g.initialDelay && now.Before(g.delayUntil) {
			g.armRebalanceTimer(g.delayUntil.Sub(now))
			return
		}
		g.initialDelay = false
		g.completeJoin()
	case StateCompletingRebalance:
		// The leader never sent its assignment: start over.
		g.prepareRebalance("no assignment from the leader within the rebalance timeout")
	}
}

// maybeCompleteJoin completes the join phase once every member has rejoined
// and no member handed an id is still expected.
func (g *group) maybeCompleteJoin() {
	if g.state != StatePreparingRebalance {
		return
	}
	if len(g.members) > 0 {
		if g.initialDelay || len(g.pending) > 0 {
			return
		}
		for _, m := range g.members {
			if m.joinCh == nil {
				return
			}
		}
	}
	g.completeJoin()
}

// completeJoin ends the join phase: members that did not rejoin are removed,
// a new generation starts with a protocol every member supports, and each
// waiting member gets its answer (the leader with all members' metadata).
func (g *group) completeJoin() {
	g.timerSeq++ // cancel the rebalance timer
	g.initialDelay = false
	for _, m := range g.sortedMembers() {
		if m.joinCh == nil {
			g.c.log.Info("member removed: did not rejoin within the rebalance timeout", "group", g.id, "member", m.id)
			g.dropMember(m)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(StateEmpty)
		g.persistMeta()
		return
	}
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = g.oldestMember()
	}
	g.setState(StateCompletingRebalance)
	now := g.c.cfg.now()
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
		g.touch(m, now)
		g.replyJoin(m, g.joinResultFor(m))
	}
	g.armRebalanceTimer(timeout)
	g.c.log.Debug("group joined", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocol)
}

// selectProtocol picks, among the protocols every member supports, the one
// most members prefer (ties go to the earliest member's preference).
func (g *group) selectProtocol() string {
	members := g.sortedMembers()
	var candidates []string
	for _, p := range members[0].protocols {
		all := true
		for _, m := range members[1:] {
			if !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := make(map[string]int)
	for _, m := range members {
		for _, p := range m.protocols {
			if contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range candidates {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].seq < out[j-1].seq; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (g *group) oldestMember() string {
	var best *member
	for _, m := range g.members {
		if best == nil || m.seq < best.seq {
			best = m
		}
	}
	if best == nil {
		return ""
	}
	return best.id
}

// touch extends m's session and makes sure a timer watches it.
func (g *group) touch(m *member, now time.Time) {
	m.deadline = now.Add(m.sessionTimeout)
	if m.timer == nil {
		m.timer = time.AfterFunc(m.sessionTimeout, func() { g.onSessionTimer(m) })
	}
}

func (g *group) onSessionTimer(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead || g.members[m.id] != m {
		return
	}
	now := g.c.cfg.now()
	if m.joinCh != nil || m.syncCh != nil {
		// A member waiting on the coordinator cannot heartbeat.
		m.deadline = now.Add(m.sessionTimeout)
	}
	if now.Before(m.deadline) {
		m.timer.Reset(m.deadline.Sub(now))
		return
	}
	g.c.log.Info("member removed: session timeout", "group", g.id, "member", m.id, "session_timeout", m.sessionTimeout)
	g.removeMember(m, "session timeout of "+m.id)
}

func (g *group) armPendingExpiry(id string, session time.Duration) {
	time.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		exp, ok := g.pending[id]
		if g.dead || !ok || g.c.cfg.now().Before(exp) {
			return
		}
		delete(g.pending, id)
		g.maybeCompleteJoin()
	})
}

// dropMember removes m from the maps and answers its waiting requests.
func (g *group) dropMember(m *member) {
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	g.replyJoin(m, joinError(kerr.UnknownMemberID, m.id))
	g.replySync(m, syncResult{code: kerr.UnknownMemberID.Code})
}

// removeMember drops m and moves the group on: the rest rebalance.
func (g *group) removeMember(m *member, reason string) {
	g.dropMember(m)
	switch g.state {
	case StateStable, StateCompletingRebalance:
		g.prepareRebalance(reason)
	case StatePreparingRebalance:
		g.maybeCompleteJoin()
	}
}

// shutdown answers every waiting request; the group stays loaded for reads.
func (g *group) shutdown() {
	g.timerSeq++
	for _, m := range g.members {
		g.replyJoin(m, joinError(kerr.CoordinatorNotAvailable, m.id))
		g.replySync(m, syncResult{code: kerr.CoordinatorNotAvailable.Code})
		if m.timer != nil {
			m.timer.Stop()
		}
	}
	g.dead = true
}

// persistMeta appends the group's metadata to the log. It does not wait for
// fsync: losing the latest membership only costs a rebalance after a crash,
// and the next offset commit's fsync covers it anyway.
func (g *group) persistMeta() {
	rec := record{kind: kindGroup, group: g.id, meta: groupRecord{
		ProtocolType: g.protocolType,
		Protocol:     g.protocol,
		Leader:       g.leader,
		Generation:   g.generation,
		State:        string(g.state),
		StateMillis:  g.stateSince.UnixMilli(),
	}}
	if g.state == StateStable {
		for _, m := range g.sortedMembers() {
			rec.meta.Members = append(rec.meta.Members, memberRecord{
				ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
				SessionTimeoutMs:   int32(m.sessionTimeout / time.Millisecond),
				RebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
				ProtocolMetadata:   m.metadataFor(g.protocol),
				Assignment:         m.assignment,
			})
		}
	}
	if _, err := g.c.store.append(rec); err != nil {
		g.c.log.Error("group metadata not persisted", "group", g.id, "err", err)
	}
}

// SyncGroup handles a SyncGroup request (v0-v5): the leader hands in the
// assignment, every member waits for its share. It is BeginSyncGroup
// followed by its wait.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return c.BeginSyncGroup(req)(ctx)
}

// BeginSyncGroup applies a SyncGroup request at once and returns the
// function that waits for the member's assignment (see BeginJoinGroup).
func (c *Coordinator) BeginSyncGroup(req *kmsg.SyncGroupRequest) func(context.Context) *kmsg.SyncGroupResponse {
	res, wait := c.sync(req)
	return func(ctx context.Context) *kmsg.SyncGroupResponse {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		if wait != nil {
			select {
			case res = <-wait:
			case <-ctx.Done():
				res = syncResult{code: kerr.CoordinatorNotAvailable.Code}
			}
		}
		resp.ErrorCode = res.code
		resp.MemberAssignment = res.assignment
		if res.code == 0 {
			pt, p := res.protocolType, res.protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
		}
		return resp
	}
}

func (c *Coordinator) sync(req *kmsg.SyncGroupRequest) (syncResult, chan syncResult) {
	if req.Group == "" {
		return syncResult{code: kerr.InvalidGroupID.Code}, nil
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		if c.isClosed() {
			return syncResult{code: kerr.CoordinatorNotAvailable.Code}, nil
		}
		return syncResult{code: kerr.UnknownMemberID.Code}, nil
	}
	defer g.mu.Unlock()
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	if code := g.checkStatic(instanceID, req.MemberID); code != nil {
		return syncResult{code: code.Code}, nil
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return syncResult{code: kerr.UnknownMemberID.Code}, nil
	case req.Generation != g.generation:
		return syncResult{code: kerr.IllegalGeneration.Code}, nil
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		return syncResult{code: kerr.InconsistentGroupProtocol.Code}, nil
	}
	g.touch(m, c.cfg.now())
	ok := syncResult{protocolType: g.protocolType, protocol: g.protocol}
	switch g.state {
	case StateEmpty, StateDead:
		return syncResult{code: kerr.UnknownMemberID.Code}, nil
	case StatePreparingRebalance:
		return syncResult{code: kerr.RebalanceInProgress.Code}, nil
	case StateStable:
		ok.assignment = m.assignment
		return ok, nil
	}
	// CompletingRebalance.
	g.replySync(m, syncResult{code: kerr.RebalanceInProgress.Code})
	m.syncCh = make(chan syncResult, 1)
	ch := m.syncCh
	if m.id != g.leader {
		return syncResult{}, ch
	}
	seen := make(map[string]bool, len(req.GroupAssignment))
	for _, a := range req.GroupAssignment {
		if len(a.MemberAssignment) > c.cfg.MaxAssignmentBytes || seen[a.MemberID] {
			g.prepareRebalance("leader sent an invalid assignment")
			return syncResult{code: kerr.InvalidRequest.Code}, nil
		}
		seen[a.MemberID] = true
	}
	for _, a := range req.GroupAssignment {
		if am := g.members[a.MemberID]; am != nil {
			am.assignment = append([]byte(nil), a.MemberAssignment...)
		}
	}
	g.timerSeq++ // cancel the sync deadline
	g.setState(StateStable)
	g.persistMeta()
	for _, am := range g.members {
		res := ok
		res.assignment = am.assignment
		g.replySync(am, res)
	}
	return syncResult{}, ch
}

// Heartbeat handles a Heartbeat request (v0-v4): it keeps the member's session
// alive and tells it when the group rebalances.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		if c.isClosed() {
			return kerr.CoordinatorNotAvailable.Code
		}
		return kerr.UnknownMemberID.Code
	}
	defer g.mu.Unlock()
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	if code := g.checkStatic(instanceID, req.MemberID); code != nil {
		return code.Code
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case req.Generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	g.touch(m, c.cfg.now())
	switch g.state {
	case StatePreparingRebalance:
		return kerr.RebalanceInProgress.Code
	case StateCompletingRebalance, StateStable:
		return 0
	}
	return kerr.UnknownMemberID.Code
}

// LeaveGroup handles a LeaveGroup request (v0-v5, batch leave from v3).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = req.MemberID
		leaving = []kmsg.LeaveGroupRequestMember{m}
	}
	codes := c.leave(req.Group, leaving)
	if req.Version < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = lm.MemberID
		rm.InstanceID = lm.InstanceID
		rm.ErrorCode = codes[i]
		resp.Members = append(resp.Members, rm)
	}
	if len(codes) > len(leaving) { // group-level error
		resp.ErrorCode = codes[len(leaving)]
		resp.Members = nil
	}
	return resp
}

// leave returns one error code per leaving member; a group-level error is
// appended as an extra element.
func (c *Coordinator) leave(id string, leaving []kmsg.LeaveGroupRequestMember) []int16 {
	codes := make([]int16, len(leaving))
	groupErr := func(code int16) []int16 {
		for i := range codes {
			codes[i] = code
		}
		return append(codes, code)
	}
	if id == "" {
		return groupErr(kerr.InvalidGroupID.Code)
	}
	g := c.lockGroup(id, false)
	if g == nil {
		if c.isClosed() {
			return groupErr(kerr.CoordinatorNotAvailable.Code)
		}
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		return codes
	}
	defer g.mu.Unlock()
	for i, lm := range leaving {
		instanceID := ""
		if lm.InstanceID != nil {
			instanceID = *lm.InstanceID
		}
		memberID := lm.MemberID
		if instanceID != "" {
			id, ok := g.static[instanceID]
			switch {
			case !ok:
				codes[i] = kerr.UnknownMemberID.Code
				continue
			case memberID != "" && memberID != id:
				codes[i] = kerr.FencedInstanceID.Code
				continue
			}
			memberID = id
		}
		if _, ok := g.pending[memberID]; ok {
			delete(g.pending, memberID)
			g.maybeCompleteJoin()
			continue
		}
		m := g.members[memberID]
		if m == nil {
			codes[i] = kerr.UnknownMemberID.Code
			continue
		}
		g.c.log.Debug("member left", "group", g.id, "member", memberID)
		g.removeMember(m, "member "+memberID+" left")
	}
	return codes
}

// newMemberSuffix returns a random suffix for member ids, like Kafka's UUIDs.
func newMemberSuffix() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:6]) + "-" + hex.EncodeToString(b[6:8]) + "-" +
		hex.EncodeToString(b[8:10]) + "-" + hex.EncodeToString(b[10:])
}
