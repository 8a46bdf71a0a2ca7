package group

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit handles an OffsetCommit request (v0-v9). Members commit with
// their generation; a commit with generation -1 and no member id (a "simple"
// commit, also every v0 commit) is accepted for groups without members. The
// answer comes once the commit is on stable storage. It is BeginOffsetCommit
// followed by its wait.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return c.BeginOffsetCommit(req)()
}

// BeginOffsetCommit applies an OffsetCommit at once (so the commits of one
// connection take effect in request order) and returns the function that
// waits until they are durable and builds the answer.
func (c *Coordinator) BeginOffsetCommit(req *kmsg.OffsetCommitRequest) func() *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	answer := func() *kmsg.OffsetCommitResponse { return resp }
	setAll := func(code int16) func() *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return answer
	}
	generation, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		generation, memberID = -1, ""
	}
	if req.Group == "" {
		return setAll(kerr.InvalidGroupID.Code)
	}
	simple := generation < 0
	g := c.lockGroup(req.Group, simple)
	if g == nil {
		if c.isClosed() {
			return setAll(kerr.CoordinatorNotAvailable.Code)
		}
		return setAll(kerr.IllegalGeneration.Code)
	}
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	if code := g.checkCommitter(instanceID, memberID, generation); code != nil {
		g.mu.Unlock()
		return setAll(code.Code)
	}
	now := c.cfg.now()
	if m := g.members[memberID]; m != nil {
		g.touch(m, now)
	}
	var recs []record
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			rp := &resp.Topics[i].Partitions[j]
			if topicOK, partOK := c.topicPartitionExists(t.Topic, p.Partition); !topicOK || !partOK {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			meta := ""
			if p.Metadata != nil {
				meta = *p.Metadata
			}
			if len(meta) > c.cfg.MaxOffsetMetadataBytes {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			epoch := int32(-1)
			if req.Version >= 6 {
				epoch = p.LeaderEpoch
			}
			recs = append(recs, record{kind: kindOffset, group: g.id, offset: offsetRecord{
				Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: epoch,
				Metadata: meta, CommitMillis: now.UnixMilli(),
			}})
		}
	}
	if len(recs) == 0 {
		g.mu.Unlock()
		return answer
	}
	seq, err := c.store.append(recs...)
	if err == nil {
		for _, r := range recs {
			g.offsets[tp{r.offset.Topic, r.offset.Partition}] = r.offset
		}
	}
	g.mu.Unlock()
	return func() *kmsg.OffsetCommitResponse {
		if err == nil {
			err = c.store.sync(seq) // outside the group lock: commits share fsyncs
		}
		if err != nil {
			c.log.Error("offset commit not stored", "group", req.Group, "err", err)
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if rp := &resp.Topics[i].Partitions[j]; rp.ErrorCode == 0 {
						rp.ErrorCode = kerr.CoordinatorNotAvailable.Code
					}
				}
			}
		}
		return resp
	}
}

// checkCommitter decides whether memberID at generation may commit.
func (g *group) checkCommitter(instanceID, memberID string, generation int32) *kerr.Error {
	if instanceID != "" {
		if id, ok := g.static[instanceID]; ok && id != memberID {
			return kerr.FencedInstanceID
		}
	}
	switch {
	case generation < 0 && g.state == StateEmpty:
		return nil
	case g.state == StateCompletingRebalance:
		return kerr.RebalanceInProgress
	case g.members[memberID] == nil:
		return kerr.UnknownMemberID
	case generation != g.generation:
		return kerr.IllegalGeneration
	}
	return nil
}

// fetchTopic is one topic asked for in an OffsetFetch.
type fetchTopic struct {
	topic      string
	partitions []int32
}

// fetchedPartition is one partition's committed offset, or -1.
type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    string
	code        int16
}

type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

// OffsetFetch handles an OffsetFetch request (v0-v9): the committed offsets
// of the given partitions (-1 when none), or with topics null (v2+) every
// committed offset of the group whose partition still exists; v8+ asks for
// several groups at once. RequireStable (v7+): a partition with offsets staged
// by an open transaction (TxnOffsetCommit) gets UNSTABLE_OFFSET_COMMIT, which
// clients retry, instead of the offset the transaction may replace.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{t.Topic, t.Partitions})
				}
			}
			fetched, code := c.fetchOffsets(rg.Group, topics)
			if req.RequireStable {
				c.markUnstable(rg.Group, fetched)
			}
			out := kmsg.NewOffsetFetchResponseGroup()
			out.Group = rg.Group
			out.ErrorCode = code
			for _, ft := range fetched {
				ot := kmsg.NewOffsetFetchResponseGroupTopic()
				ot.Topic = ft.topic
				for _, fp := range ft.partitions {
					op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					op.Partition, op.Offset, op.LeaderEpoch, op.ErrorCode = fp.partition, fp.offset, fp.leaderEpoch, fp.code
					meta := fp.metadata
					op.Metadata = &meta
					ot.Partitions = append(ot.Partitions, op)
				}
				out.Topics = append(out.Topics, ot)
			}
			resp.Groups = append(resp.Groups, out)
		}
		return resp
	}
	var topics []fetchTopic
	if req.Topics != nil || req.Version < 2 {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{t.Topic, t.Partitions})
		}
	}
	fetched, code := c.fetchOffsets(req.Group, topics)
	if req.Version >= 7 && req.RequireStable {
		c.markUnstable(req.Group, fetched)
	}
	resp.ErrorCode = code
	for _, ft := range fetched {
		ot := kmsg.NewOffsetFetchResponseTopic()
		ot.Topic = ft.topic
		for _, fp := range ft.partitions {
			op := kmsg.NewOffsetFetchResponseTopicPartition()
			op.Partition, op.Offset, op.LeaderEpoch, op.ErrorCode = fp.partition, fp.offset, fp.leaderEpoch, fp.code
			if req.Version < 2 && code != 0 {
				op.ErrorCode = code // v0/v1 have no group-level error
			}
			meta := fp.metadata
			op.Metadata = &meta
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// fetchOffsets answers one group of an OffsetFetch. topics nil means all.
func (c *Coordinator) fetchOffsets(id string, topics []fetchTopic) ([]fetchedTopic, int16) {
	var code int16
	switch {
	case id == "":
		code = kerr.InvalidGroupID.Code
	case c.isClosed():
		code = kerr.CoordinatorNotAvailable.Code
	}
	if code != 0 {
		out := make([]fetchedTopic, 0, len(topics))
		for _, t := range topics {
			ft := fetchedTopic{topic: t.topic}
			for _, p := range t.partitions {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, offset: -1, leaderEpoch: -1, code: code})
			}
			out = append(out, ft)
		}
		return out, code
	}
	var committed map[tp]offsetRecord
	if g := c.lockGroup(id, false); g != nil {
		if topics == nil {
			committed = make(map[tp]offsetRecord, len(g.offsets))
			for k, v := range g.offsets {
				committed[k] = v
			}
		} else {
			committed = make(map[tp]offsetRecord)
			for _, t := range topics {
				for _, p := range t.partitions {
					if o, ok := g.offsets[tp{t.topic, p}]; ok {
						committed[tp{t.topic, p}] = o
					}
				}
			}
		}
		g.mu.Unlock()
	}
	if topics != nil {
		out := make([]fetchedTopic, 0, len(topics))
		for _, t := range topics {
			ft := fetchedTopic{topic: t.topic}
			for _, p := range t.partitions {
				fp := fetchedPartition{partition: p, offset: -1, leaderEpoch: -1}
				if o, ok := committed[tp{t.topic, p}]; ok {
					fp.offset, fp.leaderEpoch, fp.metadata = o.Offset, o.LeaderEpoch, o.Metadata
				}
				ft.partitions = append(ft.partitions, fp)
			}
			out = append(out, ft)
		}
		return out, 0
	}
	byTopic := make(map[string][]fetchedPartition)
	for k, o := range committed {
		if _, ok := c.topicPartitionExists(k.topic, k.partition); !ok {
			continue // the partition was deleted; its offset is dropped by the cleanup
		}
		byTopic[k.topic] = append(byTopic[k.topic], fetchedPartition{
			partition: k.partition, offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: o.Metadata,
		})
	}
	out := make([]fetchedTopic, 0, len(byTopic))
	for t, ps := range byTopic {
		sort.Slice(ps, func(i, j int) bool { return ps[i].partition < ps[j].partition })
		out = append(out, fetchedTopic{topic: t, partitions: ps})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].topic < out[j].topic })
	return out, 0
}

// expireOffsets removes offsets past retention (only while the group is
// empty) and offsets of partitions that no longer exist, and removes an
// empty group left with nothing. It returns how many offsets went. Called
// with g.mu held.
func (g *group) expireOffsets(now time.Time) int {
	retention := g.c.cfg.OffsetsRetention
	var gone []tp
	for k, o := range g.offsets {
		if _, ok := g.c.topicPartitionExists(k.topic, k.partition); !ok {
			gone = append(gone, k)
			continue
		}
		if g.state != StateEmpty {
			continue
		}
		// A consumer group's clock starts when it became empty; a group that
		// never had members (simple commits) ages each offset from its commit.
		since := time.UnixMilli(o.CommitMillis)
		if g.protocolType != "" && g.stateSince.After(since) {
			since = g.stateSince
		}
		if now.Sub(since) >= retention {
			gone = append(gone, k)
		}
	}
	recs := make([]record, 0, len(gone)+1)
	for _, k := range gone {
		recs = append(recs, record{kind: kindOffsetDelete, group: g.id, offset: offsetRecord{Topic: k.topic, Partition: k.partition}})
	}
	removeGroup := g.state == StateEmpty && len(g.offsets) == len(gone) && len(g.pending) == 0
	if removeGroup {
		recs = append(recs, record{kind: kindGroupDelete, group: g.id})
	}
	if len(recs) == 0 {
		return 0
	}
	if _, err := g.c.store.append(recs...); err != nil {
		g.c.log.Error("offset expiry not stored", "group", g.id, "err", err)
		return 0
	}
	for _, k := range gone {
		delete(g.offsets, k)
	}
	if removeGroup {
		g.c.removeGroup(g)
	}
	return len(gone)
}

// TopicDeleted drops every group's committed offsets of topic at once (the
// periodic cleanup would find them within Config.RetentionCheckInterval), so
// a topic recreated under the same name starts without stale offsets.
func (c *Coordinator) TopicDeleted(topic string) {
	dropped := 0
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		var recs []record
		for k := range g.offsets {
			if k.topic == topic {
				recs = append(recs, record{kind: kindOffsetDelete, group: g.id, offset: offsetRecord{Topic: k.topic, Partition: k.partition}})
			}
		}
		if len(recs) > 0 && !g.dead {
			if _, err := c.store.append(recs...); err != nil {
				c.log.Error("dropping offsets of a deleted topic not stored", "group", g.id, "topic", topic, "err", err)
			} else {
				for _, r := range recs {
					delete(g.offsets, tp{r.offset.Topic, r.offset.Partition})
				}
				dropped += len(recs)
			}
		}
		g.mu.Unlock()
	}
	if dropped > 0 {
		c.log.Info("offsets of deleted topic dropped", "topic", topic, "offsets", dropped)
	}
}
