package server

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/freshmart/platform/broker/internal/group"
	"github.com/freshmart/platform/broker/internal/storage"
	"github.com/freshmart/platform/broker/internal/txn"
)

// The transaction APIs (keys 24-26, 28, 65, 66, and InitProducerId with a
// transactional id) are served by a txn.Coordinator passed as Config.Txns.

// OpenTxns opens the transaction coordinator over st (markers, producer ids)
// and groups (offsets committed by transactions). cfg.Log and cfg.Groups are
// filled in.
func OpenTxns(st *storage.Store, groups *group.Coordinator, cfg txn.Config) (*txn.Coordinator, error) {
	cfg.Log = txnLog{st}
	cfg.Groups = txnGroups{groups}
	c, err := txn.Open(cfg)
	if err == nil && groups != nil {
		groups.SetPendingTxnOffsets(c.HasPendingOffsets)
	}
	return c, err
}

type txnLog struct{ st *storage.Store }

func (l txnLog) WriteMarker(topic string, partition int32, pid int64, epoch int16, commit bool) error {
	p, err := l.st.Partition(topic, partition)
	if err != nil {
		return err
	}
	off, err := p.WriteMarker(pid, epoch, commit)
	if err != nil || off < 0 {
		return err
	}
	return p.Sync(context.Background(), off)
}

func (l txnLog) PartitionExists(topic string, partition int32) bool {
	_, err := l.st.Partition(topic, partition)
	return err == nil
}

func (l txnLog) NextProducerID() (int64, error) { return l.st.NextProducerID() }

type txnGroups struct{ c *group.Coordinator }

func (g txnGroups) CommitTxnOffsets(id string, offsets []txn.Offset) error {
	if g.c == nil {
		return fmt.Errorf("no group coordinator")
	}
	out := make([]group.TxnOffset, len(offsets))
	for i, o := range offsets {
		out[i] = group.TxnOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata}
	}
	return g.c.CommitTxnOffsets(id, out)
}

// fenced maps the coordinator's PRODUCER_FENCED to INVALID_PRODUCER_EPOCH
// for request versions older than KIP-588's (the client cannot know the
// newer code), as Kafka does.
func fenced(err *kerr.Error, version, since int16) int16 {
	if err == nil {
		return 0
	}
	if err == kerr.ProducerFenced && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return err.Code
}

// Internal topics listed by Metadata as Kafka does (is_internal): this
// broker keeps group offsets and transaction state in its own files, so
// these topics hold no records: Fetch and ListOffsets see them empty and
// Produce gets INVALID_TOPIC_EXCEPTION.
var internalTopics = []struct {
	name       string
	partitions int32
}{
	{"__consumer_offsets", 1},
	{"__transaction_state", 1},
}

// internalTopic reports whether name is an internal topic and its
// partition count.
func internalTopic(name string) (int32, bool) {
	for _, t := range internalTopics {
		if t.name == name {
			return t.partitions, true
		}
	}
	return 0, false
}

// internalTopicID is a stable topic id for an internal topic.
func internalTopicID(name string) [16]byte {
	h := fnv.New128a()
	h.Write([]byte("freshmart-internal/" + name))
	var id [16]byte
	copy(id[:], h.Sum(nil))
	return id
}

func (s *Server) nowMillis() int64 { return time.Now().UnixMilli() }
