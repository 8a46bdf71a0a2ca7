package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/complaints"
)

// insert stores the batch's complaints (a copy of a known id is left out) in one statement and
// returns the ids it inserted.
func (f *folder) insert(ctx context.Context, q pgx.Tx, in []arrival) (map[string]bool, error) {
	n := len(in)
	ids, stores, skus := make([]string, n), make([]string, n), make([]*string, n)
	filed := make([]time.Time, n)
	channels, categories, texts := make([]string, n), make([]string, n), make([]string, n)
	severities := make([]*int32, n)
	loyalty := make([]*string, n)
	parts := make([]int32, n)
	offsets := make([]int64, n)
	for i, a := range in {
		c := a.c
		ids[i], stores[i], filed[i] = c.ComplaintID, c.StoreID, c.FiledAt
		channels[i], categories[i], texts[i] = c.Channel, c.Category, c.Text
		if c.SKU != "" {
			skus[i] = &c.SKU
		}
		if c.Severity != 0 {
			s := int32(c.Severity)
			severities[i] = &s
		}
		if c.LoyaltyID != "" {
			loyalty[i] = &c.LoyaltyID
		}
		parts[i], offsets[i] = a.ev.Partition, a.ev.Offset
	}
	rows, err := q.Query(ctx, `INSERT INTO `+f.schema+`.complaints
		(complaint_id, store_id, sku, filed_at, channel, category, severity, loyalty_id, text, partition, "offset")
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
			$7::int[], $8::text[], $9::text[], $10::int[], $11::bigint[])
		ON CONFLICT (complaint_id) DO NOTHING RETURNING complaint_id::text`,
		ids, stores, skus, filed, channels, categories, severities, loyalty, texts, parts, offsets)
	if err != nil {
		return nil, fmt.Errorf("store complaints: %w", err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store complaints: %w", err)
	}
	out := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		out[id] = true
	}
	return out, nil
}

// load returns every store and SKU of from as the rule sees it before the batch: its
// episodes that can still change (merged ones left out) and its complaints from lookBack
// before the earliest new one (or from an episode's first complaint, when one starts earlier),
// without the batch's new complaints (skip), which the fold adds one at a time.
func (f *folder) load(ctx context.Context, q pgx.Tx, from map[itemKey]time.Time, skip map[string]bool) (map[itemKey]*complaints.Item, error) {
	stores, skus := make([]string, 0, len(from)), make([]string, 0, len(from))
	since := make([]time.Time, 0, len(from))
	items := make(map[itemKey]*complaints.Item, len(from))
	for k, t := range from {
		stores, skus, since = append(stores, k.store), append(skus, k.sku), append(since, t.Add(-lookBack))
		items[k] = &complaints.Item{Rule: f.cfg.Rule}
	}
	rows, err := q.Query(ctx, `SELECT e.store_id, e.sku, e.alert_id::text, e.complaint_ids::text[], e.opened_at,
			e.first_filed_at, e.last_filed_at, e.status
		FROM `+f.schema+`.episodes e JOIN unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(s, k, t)
			ON e.store_id = u.s AND e.sku = u.k AND e.last_filed_at >= u.t
		WHERE e.status <> 'merged'`, stores, skus, since)
	if err != nil {
		return nil, fmt.Errorf("load episodes: %w", err)
	}
	members := map[string]*complaints.Tracked{}
	var tracked []*complaints.Tracked
	var keys []itemKey
	for rows.Next() {
		var k itemKey
		var t complaints.Tracked
		var ids []string
		var status string
		if err := rows.Scan(&k.store, &k.sku, &t.AlertID, &ids, &t.Start, &t.First, &t.Last, &status); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load episodes: %w", err)
		}
		t.Status = complaints.Status(status)
		tp := &t
		for _, id := range ids {
			members[id] = tp
		}
		t.Members = make([]complaints.Complaint, 0, len(ids))
		tracked, keys = append(tracked, tp), append(keys, k)
		for i := range stores {
			if stores[i] == k.store && skus[i] == k.sku && t.First.Before(since[i]) {
				since[i] = t.First
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load episodes: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT c.store_id, c.sku, c.complaint_id::text, c.filed_at
		FROM `+f.schema+`.complaints c JOIN unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(s, k, t)
			ON c.store_id = u.s AND c.sku = u.k AND c.filed_at >= u.t
		ORDER BY c.filed_at, c.complaint_id`, stores, skus, since)
	if err != nil {
		return nil, fmt.Errorf("load complaints: %w", err)
	}
	for rows.Next() {
		var k itemKey
		var c complaints.Complaint
		if err := rows.Scan(&k.store, &k.sku, &c.ID, &c.FiledAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load complaints: %w", err)
		}
		if t, ok := members[c.ID]; ok {
			t.Members = append(t.Members, c)
		}
		if !skip[c.ID] {
			items[k].Complaints = append(items[k].Complaints, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load complaints: %w", err)
	}
	for i, t := range tracked {
		items[keys[i]].Episodes = append(items[keys[i]].Episodes, *t)
	}
	return items, nil
}

// changed is an episode to write, with its store and SKU.
type changed struct {
	item itemKey
	complaints.Tracked
}

// store writes the changed episodes, in the order they first changed, in one round trip.
func (f *folder) store(ctx context.Context, q pgx.Tx, dirty map[string]changed, order []string) error {
	if len(order) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, id := range order {
		t := dirty[id]
		var merged *string
		if t.MergedInto != "" {
			merged = &t.MergedInto
		}
		b.Queue(`INSERT INTO `+f.schema+`.episodes (alert_id, store_id, sku, complaint_ids, opened_at, first_filed_at,
				last_filed_at, ends_at, status, merged_into)
			VALUES ($1, $2, $3, $4::uuid[], $5, $6, $7, $8, $9, $10)
			ON CONFLICT (alert_id) DO UPDATE SET complaint_ids = EXCLUDED.complaint_ids, opened_at = EXCLUDED.opened_at,
				first_filed_at = EXCLUDED.first_filed_at, last_filed_at = EXCLUDED.last_filed_at,
				ends_at = EXCLUDED.ends_at, status = EXCLUDED.status, merged_into = EXCLUDED.merged_into,
				resolved_at = CASE WHEN EXCLUDED.status = 'active' THEN NULL ELSE `+f.schema+`.episodes.resolved_at END`,
			t.AlertID, t.item.store, t.item.sku, t.IDs(), t.Start, t.First, t.Last, t.End(f.cfg.Rule), string(t.Status), merged)
	}
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store episodes: %w", err)
	}
	return nil
}
