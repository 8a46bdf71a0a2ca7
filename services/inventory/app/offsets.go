package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Offsets returns the stored next offsets of a group.
func Offsets(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, schema, group string) (map[string]map[int32]int64, error) {
	rows, err := q.Query(ctx, `SELECT topic, partition, next_offset FROM `+pgx.Identifier{schema}.Sanitize()+
		`.consumer_offsets WHERE group_id = $1`, group)
	if err != nil {
		return nil, fmt.Errorf("read offsets: %w", err)
	}
	defer rows.Close()
	out := map[string]map[int32]int64{}
	for rows.Next() {
		var t string
		var p int32
		var o int64
		if err := rows.Scan(&t, &p, &o); err != nil {
			return nil, fmt.Errorf("read offsets: %w", err)
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = o
	}
	return out, rows.Err()
}
