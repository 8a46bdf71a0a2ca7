package server

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

// Fetch: v0-16
//
// Behavior:
//   - Returns whole record batches (magic 2) as stored, read from the
//     segment files; nothing is down-converted, so v0-v3 clients must read
//     record batches v2.
//   - Long poll: when fewer than MinBytes are available the request waits,
//     up to MaxWaitMillis, for any requested partition's high watermark to
//     move, then reads again. Shutdown ends the wait early.
//   - Byte limits: PartitionMaxBytes per partition and (v3+) MaxBytes in
//     total; the first non-empty partition always gets at least one whole
//     batch even if larger (so a consumer never stalls on a big batch), the
//     rest only what fits.
//   - OFFSET_OUT_OF_RANGE for an offset below the log start or above the
//     high watermark; the high watermark, last stable offset and (v5+) log
//     start offset are always set.
//   - v13+ names topics by id: an unknown id gets UNKNOWN_TOPIC_ID; below
//     v13 an unknown name gets UNKNOWN_TOPIC_OR_PARTITION.
//   - isolation_level 0 (read_uncommitted) reads up to the high watermark.
//     isolation_level 1 (read_committed, v4+) reads only whole batches below
//     the last stable offset (the first offset of the oldest open
//     transaction) and gets the aborted transactions (producer id, first
//     offset) whose records overlap the returned range, so the client drops
//     their records; control batches are returned for the client to skip.
//   - Internal topics (__consumer_offsets, __transaction_state) are empty.
//   - Preferred read replica (v11+) is -1.
//   - Fetch sessions (v7+) are declined: the answer's session id is 0 and
//     every request is a full fetch; a request naming a session gets
//     FETCH_SESSION_ID_NOT_FOUND.
//   - A current leader epoch above 0 (v9+) gets UNKNOWN_LEADER_EPOCH.

func init() { Register(kmsg.Fetch.Int16(), 0, 16, handleFetch) }

// noRecords is the empty, non-null record set: Kafka never answers null
// records and kafka-python 2.0 fails on them.
var noRecords = []byte{}

type fetchPart struct {
	p      *storage.Partition // nil: error already set
	offset int64
	max    int32
	rp     *kmsg.FetchResponseTopicPartition
	buf    *[]byte // pooled read buffer, nil until the first read with data
	// committed reads below the last stable offset (read_committed).
	committed bool
	internal  bool // an internal topic: always empty, never an error
}

// alloc is the partition's storage.ReadAlloc buffer source: the part's
// pooled buffer when it is large enough, else one of the right size class
// (the smaller one goes back to the pool; no response refers to it, as
// fetchOnce resets RecordBatches before every read).
func (fp *fetchPart) alloc(n int) []byte {
	if fp.buf != nil && cap(*fp.buf) >= n {
		return (*fp.buf)[:n]
	}
	if fp.buf != nil {
		putBuf(fp.buf)
	}
	fp.buf = getBuf(n)
	return (*fp.buf)[:n]
}

func handleFetch(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if r.Version >= 7 && req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return Reply{Resp: resp}, nil
	}
	var parts []fetchPart
	committed := r.Version >= 4 && req.IsolationLevel == 1
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var (
			info    storage.TopicInfo
			ok      bool
			missing = kerr.UnknownTopicOrPartition.Code
		)
		if r.Version >= 13 {
			info, ok = s.store.TopicByID(rt.TopicID)
			missing = kerr.UnknownTopicID.Code
		} else {
			info, ok = s.store.Topic(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			sp.RecordBatches = noRecords
			fp := fetchPart{offset: rp.FetchOffset, max: rp.PartitionMaxBytes, committed: committed}
			if n, internal := internalTopic(rt.Topic); internal && r.Version < 13 {
				if rp.Partition < 0 || rp.Partition >= n {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else {
					sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = 0, 0, 0
				}
				st.Partitions = append(st.Partitions, sp)
				parts = append(parts, fp)
				fp.internal = true
				parts[len(parts)-1] = fp
				continue
			}
			switch {
			case !ok:
				sp.ErrorCode = missing
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				p, err := s.store.Partition(info.Name, rp.Partition)
				if err != nil {
					sp.ErrorCode = errorCode(err)
				} else {
					fp.p = p
				}
			}
			st.Partitions = append(st.Partitions, sp)
			parts = append(parts, fp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Point each part at its response partition now that the slices are final.
	i := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			parts[i].rp = &resp.Topics[ti].Partitions[pi]
			i++
		}
	}
	total := int32(math.MaxInt32)
	if r.Version >= 3 && req.MaxBytes > 0 {
		total = req.MaxBytes
	}
	maxWait := time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond
	return Reply{
		Later: func(ctx context.Context) kmsg.Response {
			s.fetchLoop(ctx, parts, req.MinBytes, total, maxWait)
			return resp
		},
		Done: func() {
			for i := range parts {
				if parts[i].buf != nil {
					putBuf(parts[i].buf)
					parts[i].buf = nil
				}
			}
		},
	}, nil
}

// fetchLoop reads every partition, and while fewer than minBytes came back
// and maxWait has not passed, waits for a high watermark to move and reads
// again.
func (s *Server) fetchLoop(ctx context.Context, parts []fetchPart, minBytes, total int32, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		waits, got, failed := s.fetchOnce(parts, total)
		left := time.Until(deadline)
		if failed || int64(got) >= int64(minBytes) || left <= 0 || len(waits) == 0 {
			return
		}
		select {
		case <-s.stopping:
			return
		case <-ctx.Done():
			return
		default:
		}
		if timer == nil {
			timer = time.NewTimer(left)
		} else {
			timer.Reset(left)
		}
		cases := make([]reflect.SelectCase, 0, len(waits)+3)
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.stopping)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		)
		for _, w := range waits {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
		chosen, _, _ := reflect.Select(cases)
		if chosen < 3 {
			if chosen == 2 {
				timer = nil // fired and drained
			}
			// One last read so the answer carries the freshest watermarks.
			s.fetchOnce(parts, total)
			return
		}
	}
}

// fetchOnce reads each partition once, filling its response partition. It
// returns the wait channels of the partitions that returned no data, the
// bytes read and whether any partition has an error.
func (s *Server) fetchOnce(parts []fetchPart, total int32) (waits []<-chan struct{}, got int32, failed bool) {
	remaining := total
	for i := range parts {
		fp := &parts[i]
		if fp.internal && fp.rp.ErrorCode == 0 {
			continue
		}
		if fp.p == nil {
			failed = true
			continue
		}
		fp.rp.RecordBatches = noRecords
		fp.rp.ErrorCode = 0
		wait := fp.p.Wait() // before reading, so no watermark move is missed
		limit := min(fp.max, remaining)
		if limit <= 0 && got > 0 {
			fp.rp.HighWatermark = fp.p.HighWatermark()
			fp.rp.LastStableOffset = fp.p.LastStableOffset()
			fp.rp.LogStartOffset = fp.p.LogStartOffset()
			continue
		}
		var (
			rr  storage.ReadResult
			lso int64
			err error
		)
		if fp.committed {
			rr, lso, err = fp.p.ReadCommittedAlloc(fp.offset, max(limit, 1), fp.alloc)
		} else {
			rr, err = fp.p.ReadAlloc(fp.offset, max(limit, 1), fp.alloc)
			lso = -2 // asked for below only when needed
		}
		if err != nil {
			fp.rp.ErrorCode = s.partitionErrorCode(fp.p, err)
			fp.rp.HighWatermark = fp.p.HighWatermark()
			fp.rp.LastStableOffset = fp.p.LastStableOffset()
			fp.rp.LogStartOffset = fp.p.LogStartOffset()
			if !errors.Is(err, storage.ErrOffsetOutOfRange) {
				s.log.Warn("fetch read failed", "offset", fp.offset, "err", err)
			}
			failed = true
			continue
		}
		if lso == -2 {
			lso = fp.p.LastStableOffset()
		}
		fp.rp.HighWatermark = rr.HighWatermark
		fp.rp.LastStableOffset = min(lso, rr.HighWatermark)
		fp.rp.LogStartOffset = rr.LogStartOffset
		fp.rp.AbortedTransactions = nil
		n := int32(len(rr.Data))
		if n == 0 {
			waits = append(waits, wait)
			continue
		}
		if got > 0 && n > limit {
			continue // only the first non-empty partition may exceed the limits
		}
		if fp.committed {
			fp.rp.AbortedTransactions = abortedIn(fp.p, rr.Data)
		}
		fp.rp.RecordBatches = rr.Data
		got += n
		remaining -= n
	}
	return waits, got, failed
}

// abortedIn returns the aborted transactions overlapping the record batches
// in data (whole batches, as read).
func abortedIn(p *storage.Partition, data []byte) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	from := int64(binary.BigEndian.Uint64(data))
	to := from
	for b := data; len(b) >= 61; {
		base := int64(binary.BigEndian.Uint64(b))
		n := int(int32(binary.BigEndian.Uint32(b[8:]))) + 12
		to = base + int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
		if n < 61 || n > len(b) {
			break
		}
		b = b[n:]
	}
	var out []kmsg.FetchResponseTopicPartitionAbortedTransaction
	for _, a := range p.AbortedTxns(from, to) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}
