package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/services/inventory"
)

// statements is the SQL of a Folder for the tables of one schema. Every statement handles the
// whole batch: arrays in, one round trip each.
type statements struct {
	dedupe    string         // record (kind, id) pairs as processed, returning the new ones
	load      string         // read and lock stock rows
	save      string         // upsert stock rows
	after     string         // sum the stored movements of items after given times
	alert     string         // insert alerts, skipping known ids
	sold      string         // read the stored lines of given sales
	movements pgx.Identifier // the movements table, for COPY
	saleLines pgx.Identifier // the sale_lines table, for COPY
}

func newStatements(schema string) statements {
	s := pgx.Identifier{schema}.Sanitize()
	return statements{
		dedupe: `INSERT INTO ` + s + `.processed (kind, id)
		SELECT * FROM unnest($1::text[], $2::text[]) AS u(kind, id) ORDER BY kind, id
		ON CONFLICT DO NOTHING RETURNING kind, id`,
		load: `SELECT store_id, sku, on_hand, threshold, low, counted_at FROM ` + s + `.stock
		WHERE (store_id, sku) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY store_id, sku FOR UPDATE`,
		save: `INSERT INTO ` + s + `.stock (store_id, sku, on_hand, threshold, low, counted_at, updated_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[], $6::timestamptz[], $7::timestamptz[])
		ON CONFLICT (store_id, sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, threshold = EXCLUDED.threshold,
		low = EXCLUDED.low, counted_at = EXCLUDED.counted_at,
		updated_at = GREATEST(` + s + `.stock.updated_at, EXCLUDED.updated_at)`,
		after: `SELECT u.i, (SELECT coalesce(sum(m.delta), 0) FROM ` + s + `.movements m
		WHERE m.store_id = u.store_id AND m.sku = u.sku AND m.at > u.at)
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS u(store_id, sku, at, i)`,
		alert: `INSERT INTO ` + s + `.alerts (alert_id, type, store_id, sku, on_hand, threshold, at)
		SELECT alert_id, type, store_id, sku, on_hand, threshold, at
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[])
		WITH ORDINALITY AS u(alert_id, type, store_id, sku, on_hand, threshold, at, i) ORDER BY i
		ON CONFLICT DO NOTHING`,
		sold: `SELECT sale_id, store_id, sku, qty, occurred_at FROM ` + s + `.sale_lines
		WHERE sale_id = ANY($1::text[])`,
		movements: pgx.Identifier{schema, "movements"},
		saleLines: pgx.Identifier{schema, "sale_lines"},
	}
}

// markProcessed records the business ids of ds as processed and returns those it added: the
// ones no earlier transaction recorded. The ids of ds must be distinct.
func (f *Folder) markProcessed(ctx context.Context, tx pgx.Tx, ds []decoded) (map[[2]string]bool, error) {
	if len(ds) == 0 {
		return map[[2]string]bool{}, nil
	}
	kinds, ids := make([]string, len(ds)), make([]string, len(ds))
	for i, d := range ds {
		kinds[i], ids[i] = d.c.kind, d.c.id
	}
	rows, err := tx.Query(ctx, f.sql.dedupe, kinds, ids)
	if err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	added := map[[2]string]bool{}
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return nil, fmt.Errorf("dedupe: %w", err)
		}
		added[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	return added, nil
}

// load reads (and locks, in key order) the items the batch touches; items never seen start
// at the catalog's initial stock.
func (f *Folder) load(ctx context.Context, tx pgx.Tx, ds []decoded) (map[itemKey]*itemState, error) {
	states := map[itemKey]*itemState{}
	var stores, skus []string
	for _, d := range ds {
		for _, sku := range d.skus {
			k := itemKey{d.c.store, sku}
			if states[k] != nil {
				continue
			}
			p, _ := f.ref.Product(sku)
			it := inventory.NewItem(p.InitialStock, p.Threshold)
			states[k] = &itemState{item: it, start: it.Status(), level: -1, badge: -1}
			stores, skus = append(stores, k.store), append(skus, k.sku)
		}
	}
	rows, err := tx.Query(ctx, f.sql.load, stores, skus)
	if err != nil {
		return nil, fmt.Errorf("load stock: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k itemKey
		var it inventory.Item
		var countedAt *time.Time
		if err := rows.Scan(&k.store, &k.sku, &it.OnHand, &it.Threshold, &it.Low, &countedAt); err != nil {
			return nil, fmt.Errorf("load stock: %w", err)
		}
		if countedAt != nil {
			it.CountedAt = countedAt.UTC()
		}
		if st := states[k]; st != nil {
			st.item, st.start = it, it.Status()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load stock: %w", err)
	}
	return states, nil
}

// movedAfterCounts sums, for every line of every count in the batch, the stored movements of
// its item stamped after the count, keyed by (event index, SKU index). Movements of this batch
// are not stored yet; the fold adds them.
func (f *Folder) movedAfterCounts(ctx context.Context, tx pgx.Tx, ds []decoded) (map[[2]int]int64, error) {
	var stores, skus []string
	var ats []time.Time
	var where [][2]int
	for i, d := range ds {
		if d.c.kind != "count" {
			continue
		}
		for j, sku := range d.skus {
			stores, skus, ats = append(stores, d.c.store), append(skus, sku), append(ats, d.c.at)
			where = append(where, [2]int{i, j})
		}
	}
	out := map[[2]int]int64{}
	if len(where) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, f.sql.after, stores, skus, ats)
	if err != nil {
		return nil, fmt.Errorf("movements after counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var sum int64
		if err := rows.Scan(&i, &sum); err != nil {
			return nil, fmt.Errorf("movements after counts: %w", err)
		}
		if i < 1 || int(i) > len(where) {
			return nil, fmt.Errorf("movements after counts: row %d of %d", i, len(where))
		}
		out[where[i-1]] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("movements after counts: %w", err)
	}
	return out, nil
}

// soldLines reads the stored lines of the sales ids (those folded by earlier transactions), by
// sale id.
func (f *Folder) soldLines(ctx context.Context, tx pgx.Tx, ids []string) (map[string]soldLines, error) {
	rows, err := tx.Query(ctx, f.sql.sold, ids)
	if err != nil {
		return nil, fmt.Errorf("sale lines: %w", err)
	}
	defer rows.Close()
	out := map[string]soldLines{}
	for rows.Next() {
		var id, store, sku string
		var qty int64
		var at time.Time
		if err := rows.Scan(&id, &store, &sku, &qty, &at); err != nil {
			return nil, fmt.Errorf("sale lines: %w", err)
		}
		s, ok := out[id]
		if !ok {
			s = soldLines{store: store, at: at.UTC(), qty: map[string]int64{}}
		}
		s.qty[sku] = qty
		out[id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sale lines: %w", err)
	}
	return out, nil
}

// write stores the batch's movements and sale lines (COPY), the new state of every item it
// touched and the alerts it raised (one statement each).
func (f *Folder) write(ctx context.Context, tx pgx.Tx, states map[itemKey]*itemState, out folded) error {
	moveRows, alerts := out.moveRows, out.alerts
	if len(moveRows) > 0 {
		if _, err := tx.CopyFrom(ctx, f.sql.movements, []string{"store_id", "sku", "at", "delta"}, pgx.CopyFromRows(moveRows)); err != nil {
			return fmt.Errorf("write movements: %w", err)
		}
	}
	if len(out.saleRows) > 0 {
		if _, err := tx.CopyFrom(ctx, f.sql.saleLines, []string{"sale_id", "store_id", "sku", "qty", "occurred_at"}, pgx.CopyFromRows(out.saleRows)); err != nil {
			return fmt.Errorf("write sale lines: %w", err)
		}
	}
	keys := make([]itemKey, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b itemKey) int {
		if a.store != b.store {
			return strings.Compare(a.store, b.store)
		}
		return strings.Compare(a.sku, b.sku)
	})
	var (
		stores, skus       = make([]string, len(keys)), make([]string, len(keys))
		onHand, thresholds = make([]int64, len(keys)), make([]int64, len(keys))
		low                = make([]bool, len(keys))
		countedAt          = make([]*time.Time, len(keys))
		updatedAt          = make([]time.Time, len(keys))
	)
	for i, k := range keys {
		st := states[k]
		stores[i], skus[i], onHand[i], thresholds[i], low[i], updatedAt[i] = k.store, k.sku, st.item.OnHand, st.item.Threshold, st.item.Low, st.updatedAt
		if !st.item.CountedAt.IsZero() {
			t := st.item.CountedAt
			countedAt[i] = &t
		}
	}
	b := &pgx.Batch{}
	b.Queue(f.sql.save, stores, skus, onHand, thresholds, low, countedAt, updatedAt)
	if len(alerts) > 0 {
		var (
			aIDs                  = make([]uuid.UUID, len(alerts))
			aTypes, aStores, aSKU = make([]string, len(alerts)), make([]string, len(alerts)), make([]string, len(alerts))
			aHand, aThr           = make([]int64, len(alerts)), make([]int64, len(alerts))
			aAt                   = make([]time.Time, len(alerts))
		)
		for k, a := range alerts {
			aIDs[k], aTypes[k], aStores[k], aSKU[k] = a.id, string(a.kind), a.key.store, a.key.sku
			aHand[k], aThr[k], aAt[k] = a.item.OnHand, a.item.Threshold, a.at
		}
		b.Queue(f.sql.alert, aIDs, aTypes, aStores, aSKU, aHand, aThr, aAt)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write stock and alerts: %w", err)
	}
	return nil
}
