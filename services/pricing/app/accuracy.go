package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/pricing"
)

// item names a store and SKU.
type item struct{ store, sku string }

// saleLine is one line of a sale being checked.
type saleLine struct {
	saleID  string
	store   string
	sku     string
	at      time.Time
	charged int64
}

// checkSales is the consumer's batch handler: every new sale.completed of the batch (a sale id
// seen before is dropped) has each line compared with the price in force at its occurred_at
// in its store, and the lines and mismatches are added to the store's and SKU's counters, in
// the batch's transaction. sale.voided is ignored (see the package documentation); other types
// are skipped and counted.
func (a *App) checkSales(ctx context.Context, tx *stream.Tx, evs []events.Event) error {
	var sales []schemas.SaleCompleted
	var ids []string
	for _, ev := range evs {
		switch ev.Type {
		case schemas.TypeSaleCompleted:
			s, err := events.Decode[schemas.SaleCompleted](ev)
			if err != nil {
				tx.Skip(ev, events.SkipPayload)
				continue
			}
			sales = append(sales, s)
			ids = append(ids, s.SaleID)
		case schemas.TypeSaleVoided:
		default:
			tx.Skip(ev, events.SkipUnknownType)
		}
	}
	return a.count(ctx, tx, Schema, sales, ids)
}

// count checks the sales (ids are their sale ids) against the price book and adds what it
// found to the accuracy tables of schema: Schema for the live view, RebuildSchema for a
// rebuild. The price book is always the live one.
func (a *App) count(ctx context.Context, tx pgx.Tx, schema string, sales []schemas.SaleCompleted, ids []string) error {
	if len(sales) == 0 {
		return nil
	}
	sch := pgx.Identifier{schema}.Sanitize()
	rows, err := tx.Query(ctx, `INSERT INTO `+sch+`.sales_checked (sale_id) SELECT DISTINCT unnest($1::uuid[])
		ON CONFLICT DO NOTHING RETURNING sale_id::text`, ids)
	if err != nil {
		return fmt.Errorf("pricing: record checked sales: %w", err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("pricing: record checked sales: %w", err)
	}
	isNew := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		isNew[id] = true
	}
	var lines []saleLine
	pairs := map[item]bool{}
	var latest time.Time
	for _, s := range sales {
		if !isNew[s.SaleID] {
			continue
		}
		delete(isNew, s.SaleID) // a copy of the sale later in the same batch counts once
		for _, l := range s.Lines {
			lines = append(lines, saleLine{saleID: s.SaleID, store: s.StoreID, sku: l.SKU, at: s.OccurredAt, charged: l.UnitPriceCents})
			pairs[item{s.StoreID, l.SKU}] = true
		}
		if s.OccurredAt.After(latest) {
			latest = s.OccurredAt
		}
	}
	if len(lines) == 0 {
		return nil
	}
	changes, promos, err := a.timelines(ctx, tx, pairs, latest)
	if err != nil {
		return err
	}
	type storeCount struct{ checked, mismatched int64 }
	type skuCount struct {
		n                 int64
		expected, charged int64
		at                time.Time
		saleID            string
	}
	perStore := map[string]*storeCount{}
	perSKU := map[item]*skuCount{}
	for _, l := range lines {
		sc := perStore[l.store]
		if sc == nil {
			sc = &storeCount{}
			perStore[l.store] = sc
		}
		sc.checked++
		k := item{l.store, l.sku}
		q := pricing.Resolve(changes[k], promos[k], l.at)
		if !q.Known || q.PriceCents == l.charged {
			continue
		}
		sc.mismatched++
		c := perSKU[k]
		if c == nil {
			c = &skuCount{}
			perSKU[k] = c
		}
		c.n++
		if !l.at.Before(c.at) {
			c.expected, c.charged, c.at, c.saleID = q.PriceCents, l.charged, l.at, l.saleID
		}
	}
	var st []string
	var checked, mismatched []int64
	for s, c := range perStore {
		st, checked, mismatched = append(st, s), append(checked, c.checked), append(mismatched, c.mismatched)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO `+sch+`.accuracy_stores AS accuracy_stores (store_id, lines_checked, mismatched_lines)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
		ON CONFLICT (store_id) DO UPDATE SET lines_checked = accuracy_stores.lines_checked + EXCLUDED.lines_checked,
			mismatched_lines = accuracy_stores.mismatched_lines + EXCLUDED.mismatched_lines`, st, checked, mismatched)
	if len(perSKU) > 0 {
		var ks, ss, sids []string
		var ns, exp, chg []int64
		var ats []time.Time
		for k, c := range perSKU {
			ks, ss, sids = append(ks, k.store), append(ss, k.sku), append(sids, c.saleID)
			ns, exp, chg, ats = append(ns, c.n), append(exp, c.expected), append(chg, c.charged), append(ats, c.at)
		}
		// The last mismatch is the one with the latest occurred_at, whichever batch it came in.
		b.Queue(`INSERT INTO `+sch+`.accuracy_skus AS accuracy_skus (store_id, sku, mismatches, last_expected_cents, last_charged_cents, last_at, last_sale_id)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::uuid[])
			ON CONFLICT (store_id, sku) DO UPDATE SET mismatches = accuracy_skus.mismatches + EXCLUDED.mismatches,
				last_expected_cents = CASE WHEN EXCLUDED.last_at >= accuracy_skus.last_at THEN EXCLUDED.last_expected_cents ELSE accuracy_skus.last_expected_cents END,
				last_charged_cents = CASE WHEN EXCLUDED.last_at >= accuracy_skus.last_at THEN EXCLUDED.last_charged_cents ELSE accuracy_skus.last_charged_cents END,
				last_sale_id = CASE WHEN EXCLUDED.last_at >= accuracy_skus.last_at THEN EXCLUDED.last_sale_id ELSE accuracy_skus.last_sale_id END,
				last_at = greatest(accuracy_skus.last_at, EXCLUDED.last_at)`, ks, ss, ns, exp, chg, ats, sids)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pricing: count price accuracy: %w", err)
	}
	return nil
}

// timelines reads, for the store and SKU pairs, every price change that applies to the store
// (chain-wide and the store's own) and the store's promotion windows on the SKU, as they were
// in force by until: two round trips for the whole batch.
//
// In force means as the shelves showed it: a change from when it was applied (its
// effective_at, or later when no replica ran then) and not while it was only scheduled; a
// promotion from when it started (its starts_at, or when a start in the past was asked for)
// to when it ended (its planned end, or DELETE), and not at all if it never started. So a
// sale rung up before a promotion was even created is not held against it.
func (a *App) timelines(ctx context.Context, tx pgx.Tx, pairs map[item]bool, until time.Time) (map[item][]pricing.Change, map[item][]pricing.Promo, error) {
	var stores, skus []string
	for k := range pairs {
		stores, skus = append(stores, k.store), append(skus, k.sku)
	}
	changes := map[item][]pricing.Change{}
	promos := map[item][]pricing.Promo{}
	rows, err := tx.Query(ctx, `SELECT u.store, u.sku, c.store_id, c.price_cents, greatest(c.effective_at, c.applied_at), c.seq
		FROM unnest($1::text[], $2::text[]) AS u(store, sku)
		JOIN pricing.price_changes c ON c.sku = u.sku AND c.store_id IN ('', u.store)
		WHERE c.applied_at IS NOT NULL AND greatest(c.effective_at, c.applied_at) <= $3`, stores, skus, until)
	if err != nil {
		return nil, nil, fmt.Errorf("pricing: read price history: %w", err)
	}
	for rows.Next() {
		var k item
		var c pricing.Change
		if err := rows.Scan(&k.store, &k.sku, &c.StoreID, &c.PriceCents, &c.EffectiveAt, &c.Seq); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("pricing: read price history: %w", err)
		}
		changes[k] = append(changes[k], c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("pricing: read price history: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT i.store_id, i.sku, i.promo_id::text, greatest(i.starts_at, i.started_at), coalesce(i.ended_at, i.ends_at),
			p.title, p.promo_price_cents, p.percent_off
		FROM unnest($1::text[], $2::text[]) AS u(store, sku)
		JOIN pricing.promo_items i ON i.store_id = u.store AND i.sku = u.sku
		JOIN pricing.promotions p ON p.promo_id = i.promo_id
		WHERE i.started_at IS NOT NULL AND greatest(i.starts_at, i.started_at) <= $3`, stores, skus, until)
	if err != nil {
		return nil, nil, fmt.Errorf("pricing: read promotions: %w", err)
	}
	for rows.Next() {
		var it promoItem
		if err := rows.Scan(&it.StoreID, &it.SKU, &it.PromoID, &it.StartsAt, &it.EndsAt, &it.Title, &it.PromoPrice, &it.PercentOff); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("pricing: read promotions: %w", err)
		}
		k := item{it.StoreID, it.SKU}
		promos[k] = append(promos[k], it.rule())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("pricing: read promotions: %w", err)
	}
	return changes, promos, nil
}
