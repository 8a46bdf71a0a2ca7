package app

import (
	"context"
	"errors"
	"time"

	"github.com/freshmart/platform/internal/events"
	"github.com/jackc/pgx/v5"
)

// accepted is where the broker stored an accepted event.
type accepted = events.Position

// dbTimeout bounds each pos.accepted query, so a slow database delays a request only briefly.
const dbTimeout = 2 * time.Second

// seen reports whether kind/id was accepted before: first from the in-memory cache, then from
// pos.accepted, which every POS instance shares. A database failure is logged and treated as
// "not seen": the lane keeps selling, and consumers still drop the duplicate by its id.
func (a *App) seen(ctx context.Context, kind, id string) (accepted, bool) {
	key := kind + "/" + id
	if acc, ok := a.recent.Get(key); ok {
		return acc, true
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var acc accepted
	err := a.pool.QueryRow(ctx, `SELECT partition, "offset" FROM pos.accepted WHERE kind = $1 AND id = $2`, kind, id).
		Scan(&acc.Partition, &acc.Offset)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return accepted{}, false
	case err != nil:
		a.dbErrors.Inc()
		a.log.Warn("pos.accepted lookup failed; producing without the check", "kind", kind, "id", id, "err", err)
		return accepted{}, false
	}
	a.recent.Put(key, acc)
	return acc, true
}

// remember records an event the broker acknowledged in pos.accepted and in the cache, and
// returns the answer to give: acc, or the first acceptance when another request (on any
// instance) recorded the same id in the meantime. Two concurrent first attempts have both been
// produced; both are answered with the recorded position, and consumers drop the copy by id.
// A database failure is logged: the event is stored in the broker, so the request succeeded.
func (a *App) remember(ctx context.Context, s submission, acc accepted) accepted {
	key := s.kind + "/" + s.id
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	var at *time.Time // the event's own time; NULL when unknown
	if !s.at.IsZero() {
		at = &s.at
	}
	var first accepted
	err := a.pool.QueryRow(ctx, `
WITH ins AS (
    INSERT INTO pos.accepted (kind, id, store_id, total_cents, partition, "offset", occurred_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (kind, id) DO NOTHING
    RETURNING partition, "offset"
)
SELECT partition, "offset" FROM ins
UNION ALL
SELECT partition, "offset" FROM pos.accepted WHERE kind = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
		s.kind, s.id, s.store, s.totalCents, acc.Partition, acc.Offset, at).Scan(&first.Partition, &first.Offset)
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent request (on this or another instance) inserted the id while this
		// statement waited on the conflict; its snapshot predates that row, a new one sees it.
		err = a.pool.QueryRow(ctx, `SELECT partition, "offset" FROM pos.accepted WHERE kind = $1 AND id = $2`, s.kind, s.id).
			Scan(&first.Partition, &first.Offset)
	}
	if err != nil {
		a.dbErrors.Inc()
		a.log.Warn("recording an accepted event failed", "kind", s.kind, "id", s.id, "err", err)
		a.recent.Put(key, acc)
		return acc
	}
	a.recent.Put(key, first)
	return first
}

// acceptedSale is what the POS knows of an accepted sale: its store and when it happened
// (zero for a sale accepted before pos.accepted kept the time).
type acceptedSale struct {
	store      string
	occurredAt time.Time
}

// sale looks up an accepted sale in pos.accepted (shared by every POS instance). ok is false
// when no POS instance recorded it; err is a database failure, counted and returned: a void
// cannot be checked against a sale the POS cannot read.
func (a *App) sale(ctx context.Context, id string) (acceptedSale, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var s acceptedSale
	var at *time.Time
	err := a.pool.QueryRow(ctx, `SELECT store_id, occurred_at FROM pos.accepted WHERE kind = 'sale' AND id = $1`, id).
		Scan(&s.store, &at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return s, false, nil
	case err != nil:
		a.dbErrors.Inc()
		a.log.Warn("pos.accepted sale lookup failed", "sale_id", id, "err", err)
		return s, false, err
	}
	if at != nil {
		s.occurredAt = at.UTC()
	}
	return s, true, nil
}
