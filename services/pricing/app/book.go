package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/pricing"
)

// idNamespace is the UUID namespace of the ids the pricing service derives (events, seed
// changes).
var idNamespace = uuid.MustParse("5b0f8f2e-9d7c-5a61-b0e4-7c3f2a9d1e85")

// derivedID returns the version 5 UUID of the parts joined by "/".
func derivedID(parts ...string) string {
	b := []byte{}
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return uuid.NewSHA1(idNamespace, b).String()
}

// seedEpoch is the effective time of the catalog's prices: before any sale.
var seedEpoch = time.Unix(0, 0).UTC()

// seed gives every catalog SKU without a base price the catalog's price, recorded in the
// history as the change "catalog". Replicas starting together insert each SKU once.
func (a *App) seed(ctx context.Context) error {
	var skus []string
	var prices []int64
	var ids []string
	for _, p := range a.cat.Products() {
		skus, prices, ids = append(skus, p.SKU), append(prices, p.PriceCents), append(ids, derivedID("seed", p.SKU))
	}
	_, err := a.pool.Exec(ctx, `WITH new AS (
		INSERT INTO pricing.prices (store_id, sku, price_cents, change_id, updated_at)
		SELECT '', u.sku, u.price, u.id, $4 FROM unnest($1::text[], $2::bigint[], $3::uuid[]) AS u(sku, price, id)
		ON CONFLICT DO NOTHING RETURNING sku, price_cents, change_id)
	INSERT INTO pricing.price_changes (change_id, store_id, sku, price_cents, reason, changed_by, requested_at, effective_at, applied_at)
	SELECT change_id, '', sku, price_cents, 'catalog', 'catalog', $4, $5, $4 FROM new ON CONFLICT DO NOTHING`,
		skus, prices, ids, a.clk.Now(), seedEpoch)
	if err != nil {
		return fmt.Errorf("pricing: seed the base prices: %w", err)
	}
	return nil
}

// changeRow is a price change being applied.
type changeRow struct {
	ChangeID    string
	StoreID     string // "" chain-wide
	SKU         string
	PriceCents  int64
	Reason      string
	EffectiveAt time.Time
}

// StorePrice is a store's regular price after a change.
type StorePrice struct {
	StoreID       string `json:"store_id"`
	PriceCents    int64  `json:"price_cents"`
	OldPriceCents int64  `json:"old_price_cents"`
}

// applyChange applies c in tx at now: it sets the store's override or the base price, records
// the old price and the time in the history, and queues price.changed for every store whose
// regular price it changes (and promo.started again for a promotion running there). It
// returns those stores' prices.
func (a *App) applyChange(ctx context.Context, tx pgx.Tx, ob *stream.Outbox, c changeRow, now time.Time) ([]StorePrice, error) {
	// The base row is locked for every change of the SKU, so changes of one SKU apply one at a
	// time and each reads the price the previous one left.
	var base int64
	if err := tx.QueryRow(ctx, `SELECT price_cents FROM pricing.prices WHERE store_id = '' AND sku = $1 FOR UPDATE`, c.SKU).Scan(&base); err != nil {
		return nil, fmt.Errorf("pricing: lock the price of %s: %w", c.SKU, err)
	}
	var out []StorePrice
	var old int64
	if c.StoreID != "" {
		old = base
		var own int64
		err := tx.QueryRow(ctx, `SELECT price_cents FROM pricing.prices WHERE store_id = $1 AND sku = $2`, c.StoreID, c.SKU).Scan(&own)
		switch {
		case err == nil:
			old = own
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("pricing: read the price of %s in %s: %w", c.SKU, c.StoreID, err)
		}
		out = append(out, StorePrice{StoreID: c.StoreID, PriceCents: c.PriceCents, OldPriceCents: old})
	} else {
		old = base
		rows, err := tx.Query(ctx, `SELECT store_id FROM pricing.prices WHERE sku = $1 AND store_id <> ''`, c.SKU)
		if err != nil {
			return nil, fmt.Errorf("pricing: read the overrides of %s: %w", c.SKU, err)
		}
		own, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("pricing: read the overrides of %s: %w", c.SKU, err)
		}
		has := map[string]bool{}
		for _, s := range own {
			has[s] = true
		}
		for _, s := range a.stores {
			if !has[s] {
				out = append(out, StorePrice{StoreID: s, PriceCents: c.PriceCents, OldPriceCents: base})
			}
		}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO pricing.prices (store_id, sku, price_cents, change_id, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (store_id, sku) DO UPDATE SET price_cents = EXCLUDED.price_cents, change_id = EXCLUDED.change_id, updated_at = EXCLUDED.updated_at`,
		c.StoreID, c.SKU, c.PriceCents, c.ChangeID, now)
	b.Queue(`UPDATE pricing.price_changes SET applied_at = $2, old_price_cents = $3 WHERE change_id = $1`, c.ChangeID, now, old)
	stores := make([]string, len(out))
	for i, p := range out {
		stores[i] = p.StoreID
	}
	b.Queue(`SELECT i.promo_id::text, i.store_id, i.starts_at, i.ends_at, p.title, p.promo_price_cents, p.percent_off
		FROM pricing.promo_items i JOIN pricing.promotions p USING (promo_id)
		WHERE i.sku = $1 AND i.state = 'running' AND i.store_id = ANY($2) ORDER BY i.store_id`, c.SKU, stores)
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	for range 2 {
		if _, err := res.Exec(); err != nil {
			return nil, fmt.Errorf("pricing: apply change %s: %w", c.ChangeID, err)
		}
	}
	rows, err := res.Query()
	if err != nil {
		return nil, fmt.Errorf("pricing: running promotions of %s: %w", c.SKU, err)
	}
	running, err := pgx.CollectRows(rows, scanPromoItem)
	if err != nil {
		return nil, fmt.Errorf("pricing: running promotions of %s: %w", c.SKU, err)
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("pricing: apply change %s: %w", c.ChangeID, err)
	}
	for _, p := range out {
		ev := schemas.PriceChanged{ChangeID: c.ChangeID, StoreID: p.StoreID, SKU: c.SKU, OldPriceCents: p.OldPriceCents,
			PriceCents: p.PriceCents, Reason: c.Reason, EffectiveAt: c.EffectiveAt}
		if err := ob.Add(events.Out{Topic: schemas.TopicDisplayUpdates, Key: p.StoreID, Type: schemas.TypePriceChanged, Payload: ev},
			derivedID("price.changed", c.ChangeID, p.StoreID), c.EffectiveAt); err != nil {
			return nil, err
		}
	}
	for _, it := range running {
		it.SKU = c.SKU
		it.Regular = c.PriceCents
		if err := a.addStarted(ob, it, derivedID("promo.started", it.PromoID, it.StoreID, it.SKU, "change", c.ChangeID), c.EffectiveAt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// promoItem is a promotion's window in one store for one SKU, with its rule and the regular
// price it applies to.
type promoItem struct {
	PromoID          string
	StoreID          string
	SKU              string
	StartsAt, EndsAt time.Time
	Title            string
	PromoPrice       *int64
	PercentOff       *int
	Regular          int64
}

func scanPromoItem(row pgx.CollectableRow) (promoItem, error) {
	var it promoItem
	err := row.Scan(&it.PromoID, &it.StoreID, &it.StartsAt, &it.EndsAt, &it.Title, &it.PromoPrice, &it.PercentOff)
	return it, err
}

// rule returns the item's promotion in package pricing's terms.
func (it promoItem) rule() pricing.Promo {
	p := pricing.Promo{ID: it.PromoID, Title: it.Title, StartsAt: it.StartsAt, EndsAt: it.EndsAt}
	if it.PromoPrice != nil {
		p.PromoPriceCents = *it.PromoPrice
	}
	if it.PercentOff != nil {
		p.PercentOff = *it.PercentOff
	}
	return p
}

// addStarted queues promo.started for it.
func (a *App) addStarted(ob *stream.Outbox, it promoItem, id string, at time.Time) error {
	ev := schemas.PromoStarted{PromoID: it.PromoID, StoreID: it.StoreID, SKU: it.SKU, Title: it.Title,
		PromoPriceCents: it.rule().Price(it.Regular), RegularPriceCents: it.Regular, StartsAt: it.StartsAt, EndsAt: it.EndsAt}
	return ob.Add(events.Out{Topic: schemas.TopicDisplayUpdates, Key: it.StoreID, Type: schemas.TypePromoStarted, Payload: ev}, id, at)
}

// startDue starts, in tx at now, the scheduled items whose start has come and whose end has
// not (of promotion promoID only, when it is not empty) and queues their promo.started. The
// conditional UPDATE is what makes a start happen once: a concurrent run waits for the row and
// then no longer finds it scheduled.
func (a *App) startDue(ctx context.Context, tx pgx.Tx, ob *stream.Outbox, now time.Time, promoID string) (int, error) {
	rows, err := tx.Query(ctx, `WITH started AS (
		UPDATE pricing.promo_items SET state = 'running', started_at = $1
		WHERE state = 'scheduled' AND starts_at <= $1 AND ends_at > $1 AND ($2 = '' OR promo_id::text = $2)
		RETURNING promo_id, store_id, sku, starts_at, ends_at)
	SELECT s.promo_id::text, s.store_id, s.sku, s.starts_at, s.ends_at, p.title, p.promo_price_cents, p.percent_off,
		coalesce(o.price_cents, b.price_cents)
	FROM started s JOIN pricing.promotions p USING (promo_id)
	JOIN pricing.prices b ON b.store_id = '' AND b.sku = s.sku
	LEFT JOIN pricing.prices o ON o.store_id = s.store_id AND o.sku = s.sku
	ORDER BY s.store_id, s.sku`, now, promoID)
	if err != nil {
		return 0, fmt.Errorf("pricing: start promotions: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (promoItem, error) {
		var it promoItem
		err := row.Scan(&it.PromoID, &it.StoreID, &it.SKU, &it.StartsAt, &it.EndsAt, &it.Title, &it.PromoPrice, &it.PercentOff, &it.Regular)
		return it, err
	})
	if err != nil {
		return 0, fmt.Errorf("pricing: start promotions: %w", err)
	}
	for _, it := range items {
		// The event's time is the planned start, even for one started late: its id and time
		// depend only on the promotion.
		if err := a.addStarted(ob, it, derivedID("promo.started", it.PromoID, it.StoreID, it.SKU), it.StartsAt); err != nil {
			return 0, err
		}
	}
	return len(items), nil
}

// endDue ends, in tx at now, the running items whose end has come and queues their
// promo.ended; scheduled items whose whole window passed unstarted (no scheduler ran during it)
// are ended without events.
func (a *App) endDue(ctx context.Context, tx pgx.Tx, ob *stream.Outbox, now time.Time) (int, error) {
	rows, err := tx.Query(ctx, `UPDATE pricing.promo_items SET state = 'ended', ended_at = $1
		WHERE state = 'running' AND ends_at <= $1 RETURNING promo_id::text, store_id, sku, ends_at`, now)
	if err != nil {
		return 0, fmt.Errorf("pricing: end promotions: %w", err)
	}
	ended, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (schemas.PromoEnded, error) {
		var e schemas.PromoEnded
		err := row.Scan(&e.PromoID, &e.StoreID, &e.SKU, &e.EndedAt)
		return e, err
	})
	if err != nil {
		return 0, fmt.Errorf("pricing: end promotions: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE pricing.promo_items SET state = 'ended', ended_at = $1
		WHERE state = 'scheduled' AND ends_at <= $1`, now); err != nil {
		return 0, fmt.Errorf("pricing: end unstarted promotions: %w", err)
	}
	for _, e := range ended {
		if err := addEnded(ob, e); err != nil {
			return 0, err
		}
	}
	return len(ended), nil
}

func addEnded(ob *stream.Outbox, e schemas.PromoEnded) error {
	return ob.Add(events.Out{Topic: schemas.TopicDisplayUpdates, Key: e.StoreID, Type: schemas.TypePromoEnded, Payload: e},
		derivedID("promo.ended", e.PromoID, e.StoreID, e.SKU), e.EndedAt)
}

// Due is what one ApplyDue did.
type Due struct {
	Changes, Started, Ended int
}

// ApplyDue applies, in one transaction at the clock's now, the price changes that came due,
// ends the promotions whose end came and starts those whose start came (in that order, so a
// promotion that follows another on the same SKU starts after it ended, and a start announces
// the new regular price), with their events. It is the scheduler's job, and safe to run on
// several replicas at once: each row is taken by one of them.
func (a *App) ApplyDue(ctx context.Context) (Due, error) {
	var d Due
	now := a.clk.Now()
	ob := stream.NewOutbox(Schema, a.source)
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT change_id::text, store_id, sku, price_cents, reason, effective_at FROM pricing.price_changes
			WHERE applied_at IS NULL AND effective_at <= $1 ORDER BY effective_at, seq LIMIT 1000 FOR UPDATE SKIP LOCKED`, now)
		if err != nil {
			return fmt.Errorf("pricing: due changes: %w", err)
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (changeRow, error) {
			var c changeRow
			err := row.Scan(&c.ChangeID, &c.StoreID, &c.SKU, &c.PriceCents, &c.Reason, &c.EffectiveAt)
			return c, err
		})
		if err != nil {
			return fmt.Errorf("pricing: due changes: %w", err)
		}
		for _, c := range due {
			if _, err := a.applyChange(ctx, tx, ob, c, now); err != nil {
				return err
			}
		}
		d.Changes = len(due)
		if d.Ended, err = a.endDue(ctx, tx, ob, now); err != nil {
			return err
		}
		if d.Started, err = a.startDue(ctx, tx, ob, now, ""); err != nil {
			return err
		}
		return ob.Flush(ctx, tx)
	})
	if err != nil {
		return Due{}, err
	}
	if d != (Due{}) {
		a.log.Info("applied what came due", "changes", d.Changes, "promotions_started", d.Started, "promotions_ended", d.Ended)
	}
	return d, nil
}
