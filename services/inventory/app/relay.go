package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// relay produces the outbox rows to the broker in id order and marks them sent. Rows are locked
// (FOR UPDATE SKIP LOCKED) while they are produced, so two instances do not send the same rows;
// after a crash between produce and mark a row is produced again with the same ce_id, which
// readers drop.
type relay struct {
	pool     *pgxpool.Pool
	producer *kgo.Client
	log      *slog.Logger
	interval time.Duration // pause when the outbox is empty; default 50ms
}

func (r *relay) run(ctx context.Context) error {
	if r.interval == 0 {
		r.interval = 50 * time.Millisecond
	}
	lastPurge := time.Now()
	for ctx.Err() == nil {
		n, err := r.once(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay", "err", err)
			n = 0
			sleep(ctx, time.Second)
		}
		if time.Since(lastPurge) > time.Minute {
			lastPurge = time.Now()
			if _, err := r.pool.Exec(ctx, `DELETE FROM inventory.outbox WHERE sent_at < now() - interval '1 hour'`); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox purge", "err", err)
			}
		}
		if n == 0 {
			sleep(ctx, r.interval)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// once relays up to one batch and returns how many rows it sent.
func (r *relay) once(ctx context.Context) (int, error) {
	var sent int
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, topic, key, headers, value FROM inventory.outbox
			WHERE sent_at IS NULL ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED`)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		var ids []int64
		var recs []*kgo.Record
		for rows.Next() {
			var id int64
			var h []byte
			rec := &kgo.Record{}
			if err := rows.Scan(&id, &rec.Topic, &rec.Key, &h, &rec.Value); err != nil {
				rows.Close()
				return fmt.Errorf("read outbox: %w", err)
			}
			var headers map[string]string
			if err := json.Unmarshal(h, &headers); err != nil {
				rows.Close()
				return fmt.Errorf("outbox row %d headers: %w", id, err)
			}
			for _, k := range []string{"ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type"} {
				if v, ok := headers[k]; ok {
					rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
				}
			}
			ids = append(ids, id)
			recs = append(recs, rec)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		if err := r.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce %d outbox rows: %w", len(recs), err)
		}
		if _, err := tx.Exec(ctx, `UPDATE inventory.outbox SET sent_at = now() WHERE id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("mark outbox sent: %w", err)
		}
		sent = len(recs)
		return nil
	})
	return sent, err
}
