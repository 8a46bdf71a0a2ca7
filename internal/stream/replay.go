package stream

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Querier is what StoredPositions reads with: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// StoredPositions returns the next offset of every partition a group has consumed, as stored
// in schema's consumer_offsets: the positions a rebuild replays up to, so that it compares
// with the live view at the same point (read them in the same snapshot as the live view).
func StoredPositions(ctx context.Context, q Querier, schema, group string) (map[string]map[int32]int64, error) {
	rows, err := q.Query(ctx, `SELECT topic, partition, next_offset FROM `+pgx.Identifier{schema}.Sanitize()+
		`.consumer_offsets WHERE group_id = $1`, group)
	if err != nil {
		return nil, fmt.Errorf("stream: read positions: %w", err)
	}
	defer rows.Close()
	out := map[string]map[int32]int64{}
	for rows.Next() {
		var t string
		var p int32
		var o int64
		if err := rows.Scan(&t, &p, &o); err != nil {
			return nil, fmt.Errorf("stream: read positions: %w", err)
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = o
	}
	return out, rows.Err()
}

// Replay reads every partition of target from its start up to (not including) its target
// offset and hands the records to apply in batches of at most max, each batch in partition
// order by offset; it returns how many records it replayed. opts are the client's options
// (seed brokers, client id, metrics); Replay adds the partitions to consume.
func Replay(ctx context.Context, opts []kgo.Opt, target map[string]map[int32]int64, max int, apply func([]*kgo.Record) error) (int, error) {
	parts := map[string]map[int32]kgo.Offset{}
	remaining := 0
	for t, ps := range target {
		for p, o := range ps {
			if o > 0 {
				if parts[t] == nil {
					parts[t] = map[int32]kgo.Offset{}
				}
				parts[t][p] = kgo.NewOffset().AtStart()
				remaining++
			}
		}
	}
	if remaining == 0 {
		return 0, nil
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(parts))...)
	if err != nil {
		return 0, fmt.Errorf("stream: replay: %w", err)
	}
	defer cl.Close()
	n := 0
	done := map[string]map[int32]bool{}
	for remaining > 0 {
		fetches := cl.PollRecords(ctx, max)
		if ctx.Err() != nil {
			return n, fmt.Errorf("stream: replay: %d partitions not replayed: %w", remaining, ctx.Err())
		}
		var batch []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			end := target[r.Topic][r.Partition]
			if r.Offset < end {
				batch = append(batch, r)
			}
			if r.Offset+1 >= end && !done[r.Topic][r.Partition] {
				if done[r.Topic] == nil {
					done[r.Topic] = map[int32]bool{}
				}
				done[r.Topic][r.Partition] = true
				remaining--
				cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
			}
		})
		if len(batch) == 0 {
			continue
		}
		if err := apply(batch); err != nil {
			return n, err
		}
		n += len(batch)
	}
	return n, nil
}
