package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// TxnOffset is an offset committed by a transaction that has committed.
type TxnOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// CheckTxnCommitter validates a TxnOffsetCommit's member (v3+, KIP-447):
// generation -1 with no member id is accepted like a simple commit; else
// the member and generation must be the group's current ones, so a zombie
// from an older generation cannot commit offsets in its transaction.
// Returns nil when the commit may go on.
func (c *Coordinator) CheckTxnCommitter(groupID, memberID, instanceID string, generation int32) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	if generation < 0 && memberID == "" {
		return nil
	}
	g := c.lockGroup(groupID, false)
	if g == nil {
		if c.isClosed() {
			return kerr.CoordinatorNotAvailable
		}
		return kerr.IllegalGeneration
	}
	defer g.mu.Unlock()
	if generation < 0 {
		return nil
	}
	return g.checkCommitter(instanceID, memberID, generation)
}

// CommitTxnOffsets durably commits the offsets of a committed transaction
// to groupID (created if it does not exist), with no member check: the
// check was made when the transaction recorded them. Offsets of partitions
// that no longer exist are skipped.
func (c *Coordinator) CommitTxnOffsets(groupID string, offsets []TxnOffset) error {
	g := c.lockGroup(groupID, true)
	if g == nil {
		return ErrClosed
	}
	now := c.cfg.now().UnixMilli()
	var recs []record
	for _, o := range offsets {
		if topicOK, partOK := c.topicPartitionExists(o.Topic, o.Partition); !topicOK || !partOK {
			continue
		}
		recs = append(recs, record{kind: kindOffset, group: g.id, offset: offsetRecord{
			Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch,
			Metadata: o.Metadata, CommitMillis: now,
		}})
	}
	if len(recs) == 0 {
		g.mu.Unlock()
		return nil
	}
	seq, err := c.store.append(recs...)
	if err == nil {
		for _, r := range recs {
			g.offsets[tp{r.offset.Topic, r.offset.Partition}] = r.offset
		}
	}
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return c.store.sync(seq)
}

// SetPendingTxnOffsets installs the check for offsets staged by open
// transactions (the transaction coordinator opens after the groups, so it
// is set afterwards); nil means none are pending.
func (c *Coordinator) SetPendingTxnOffsets(pending func(group, topic string, partition int32) bool) {
	c.pending.Store(&pending)
}

// markUnstable sets UNSTABLE_OFFSET_COMMIT on the fetched partitions that
// an open transaction holds staged offsets for.
func (c *Coordinator) markUnstable(groupID string, fetched []fetchedTopic) {
	fn := c.pending.Load()
	if fn == nil || *fn == nil {
		return
	}
	for i := range fetched {
		for j := range fetched[i].partitions {
			fp := &fetched[i].partitions[j]
			if fp.code == 0 && (*fn)(groupID, fetched[i].topic, fp.partition) {
				fp.code, fp.offset, fp.leaderEpoch, fp.metadata = kerr.UnstableOffsetCommit.Code, -1, -1, ""
			}
		}
	}
}
