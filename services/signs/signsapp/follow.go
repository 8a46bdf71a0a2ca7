package signsapp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/signs"
)

// load reads the stored view into the stores and returns the stored positions.
func (a *App) load(ctx context.Context) (map[int32]int64, error) {
	rows, err := a.svc.Pool.Query(ctx, `SELECT store_id, sku, price_cents, promo_id, promo_title, promo_price_cents,
		promo_ends_at, badge, version FROM signs.display`)
	if err != nil {
		return nil, fmt.Errorf("signs: load view: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var store, sku string
		var st signs.State
		var pid, title *string
		var pprice *int64
		var ends *time.Time
		if err := rows.Scan(&store, &sku, &st.PriceCents, &pid, &title, &pprice, &ends, &st.Badge, &st.Version); err != nil {
			return nil, fmt.Errorf("signs: load view: %w", err)
		}
		if pid != nil {
			st.PromoID, st.PromoTitle, st.PromoPriceCents, st.PromoEndsAt = *pid, deref(title), deref(pprice), deref(ends).UTC()
		}
		if s := a.stores[store]; s != nil {
			s.Load(sku, st)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signs: load view: %w", err)
	}
	pos := map[int32]int64{}
	prow, err := a.svc.Pool.Query(ctx, `SELECT partition, next_offset FROM signs.positions WHERE topic = $1`, a.cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("signs: load positions: %w", err)
	}
	defer prow.Close()
	for prow.Next() {
		var p int32
		var o int64
		if err := prow.Scan(&p, &o); err != nil {
			return nil, fmt.Errorf("signs: load positions: %w", err)
		}
		pos[p] = o
	}
	return pos, prow.Err()
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// follow reads every partition of the topic from the stored positions and folds it until ctx
// ends.
func (a *App) follow(ctx context.Context, stored map[int32]int64) error {
	admCl, err := kgo.NewClient(append(a.svc.KafkaOpts("signs-admin"), kgo.SeedBrokers(a.svc.Brokers...))...)
	if err != nil {
		return fmt.Errorf("signs: admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	var ends kadm.ListedOffsets
	for {
		ends, err = adm.ListEndOffsets(ctx, a.cfg.Topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil && len(ends[a.cfg.Topic]) > 0 {
			break
		}
		a.log.Warn("signs: cannot list display-updates partitions; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	start := map[int32]kgo.Offset{}
	target := map[int32]int64{} // the end of each partition at start: caught up when reached
	pos := map[int32]int64{}
	for p, lo := range ends[a.cfg.Topic] {
		pos[p] = stored[p]
		start[p] = kgo.NewOffset().At(stored[p])
		if lo.Offset > stored[p] {
			target[p] = lo.Offset
		}
	}
	if len(target) == 0 {
		a.caughtUp.Store(true)
	}
	admCl.Close()
	cl, err := kgo.NewClient(append(a.svc.KafkaOpts("signs"), kgo.SeedBrokers(a.svc.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{a.cfg.Topic: start}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("signs: consumer: %w", err)
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			a.log.Warn("signs: fetch", "topic", t, "partition", p, "err", err)
		})
		var recs []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			continue
		}
		a.fold(recs)
		for _, r := range recs {
			pos[r.Partition] = max(pos[r.Partition], r.Offset+1)
			if t, ok := target[r.Partition]; ok && pos[r.Partition] >= t {
				delete(target, r.Partition)
				if len(target) == 0 {
					a.caughtUp.Store(true)
				}
			}
		}
	}
}

// Decode returns the type and payload (a schemas.PriceChanged, PromoStarted, PromoEnded or
// StockBadge) of a display-updates record, or an error for a record to skip (wrapping
// signs.ErrUnknownType for another type).
func Decode(r *kgo.Record) (string, any, error) {
	ev, err := events.Parse(r)
	if err != nil {
		return "", nil, err
	}
	var p any
	switch ev.Type {
	case schemas.TypePriceChanged:
		p, err = events.Decode[schemas.PriceChanged](ev)
	case schemas.TypePromoStarted:
		p, err = events.Decode[schemas.PromoStarted](ev)
	case schemas.TypePromoEnded:
		p, err = events.Decode[schemas.PromoEnded](ev)
	case schemas.TypeStockBadge:
		p, err = events.Decode[schemas.StockBadge](ev)
	default:
		return ev.Type, nil, fmt.Errorf("%w: %s", signs.ErrUnknownType, ev.Type)
	}
	return ev.Type, p, err
}

// fold applies a polled batch to the stores, wakes the signs showing a SKU that changed (each
// pulls its update from the view) and hands the changed rows and positions to the writer. The
// records are decoded before the view's lock is taken, so signs still writing an earlier
// batch's frames wait only while the batch is applied. The whole batch is one wake, so a sign
// showing several SKUs of it gets one frame (a wake per partition's run of records measured
// 1.05-1.20 frames per sign in make bench-signs (b), for a first frame at best 20 ms sooner).
func (a *App) fold(recs []*kgo.Record) {
	positions := map[int32]int64{}
	evs := decodeAll(recs)
	var nChanged, nSame, nSkipped int
	for _, ev := range evs {
		r := ev.r
		positions[r.Partition] = max(positions[r.Partition], r.Offset+1)
		if ev.err != nil {
			nSkipped++
			if !errors.Is(ev.err, signs.ErrUnknownType) {
				a.log.Warn("signs: skipping a record", "partition", r.Partition, "offset", r.Offset, "err", ev.err)
			}
		}
	}
	changed := make([]row, 0, len(evs))
	topics := make([]string, 0, len(evs))
	a.mu.Lock()
	for _, ev := range evs {
		if ev.err != nil {
			continue
		}
		store, sku, _ := signs.Target(ev.p)
		st := a.stores[store]
		if st == nil {
			nSkipped++
			continue
		}
		if _, ok := st.State(sku); !ok {
			nSkipped++
			continue
		}
		ns, ok := st.Apply(sku, signs.Change{Type: ev.typ, Version: ev.r.Offset + 1, Payload: ev.p})
		if !ok {
			nSame++
			continue
		}
		nChanged++
		topics = append(topics, topicOf(store, sku))
		changed = append(changed, row{store: store, sku: sku, st: ns})
	}
	a.mu.Unlock()
	a.hub.Wake(topics)
	a.m.events.WithLabelValues("changed").Add(float64(nChanged))
	a.m.events.WithLabelValues("unchanged").Add(float64(nSame))
	a.m.events.WithLabelValues("skipped").Add(float64(nSkipped))
	a.writer.add(changed, positions)
}

// decoded is a record of a fold and what Decode made of it.
type decoded struct {
	r   *kgo.Record
	typ string
	p   any
	err error
}

// decodeMin is the least records per goroutine decodeAll decodes in parallel.
const decodeMin = 256

// decodeAll decodes recs, in order, on up to GOMAXPROCS goroutines when there are many (a
// promotion on 500 SKUs is 3,000 records, about 30 ms of JSON on one core, before the first
// sign can be woken).
func decodeAll(recs []*kgo.Record) []decoded {
	out := make([]decoded, len(recs))
	decode := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			typ, p, err := Decode(recs[i])
			out[i] = decoded{recs[i], typ, p, err}
		}
	}
	n := min(runtime.GOMAXPROCS(0), len(recs)/decodeMin)
	if n < 2 {
		decode(0, len(recs))
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(recs) + n - 1) / n
	for lo := 0; lo < len(recs); lo += chunk {
		wg.Go(func() { decode(lo, min(lo+chunk, len(recs))) })
	}
	wg.Wait()
	return out
}

// writeDelay is how long the writer waits after a fold before storing it. The hub and Postgres
// share the machine's CPUs: a burst's upsert running while its frames fan out to thousands of
// signs delays those frames (see services/bench/signs), and a longer wait also gathers more of a burst into one transaction. The
// view is rebuilt from the topic after a crash (the positions are stored with the rows), so
// storing later loses nothing.
const writeDelay = 500 * time.Millisecond

type row struct {
	store, sku string
	st         signs.State
}

// writer stores the view's changed rows and the positions in the background, the latest state
// of each row once per transaction, so publishing to signs never waits for Postgres.
type writer struct {
	pool  *pgxpool.Pool
	topic string
	log   *slog.Logger

	quiet func(context.Context) // waits for the signs' writers (App.quiet)

	mu        sync.Mutex
	rows      map[[2]string]signs.State
	positions map[int32]int64
	wake      chan struct{}
}

func newWriter(pool *pgxpool.Pool, topic string, log *slog.Logger, quiet func(context.Context)) *writer {
	return &writer{pool: pool, topic: topic, log: log, quiet: quiet, rows: map[[2]string]signs.State{},
		positions: map[int32]int64{}, wake: make(chan struct{}, 1)}
}

func (w *writer) add(rows []row, positions map[int32]int64) {
	w.mu.Lock()
	for _, r := range rows {
		w.rows[[2]string{r.store, r.sku}] = r.st
	}
	for p, o := range positions {
		w.positions[p] = max(w.positions[p], o)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writer) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			// Store what was folded before stopping, so a restart reads less again.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = w.flush(fctx)
			cancel()
			return nil
		case <-w.wake:
		}
		// Let the signs' frames go out first (the fan-out and Postgres share the CPUs) and
		// gather what follows into the same transaction.
		select {
		case <-ctx.Done():
			continue
		case <-time.After(writeDelay):
		}
		w.quiet(ctx)
		if err := w.flush(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("signs: store the view; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// flush stores what was added so far in one transaction; on failure it is kept for the next.
func (w *writer) flush(ctx context.Context) error {
	w.mu.Lock()
	rows, positions := w.rows, w.positions
	w.rows, w.positions = map[[2]string]signs.State{}, map[int32]int64{}
	w.mu.Unlock()
	if len(rows) == 0 && len(positions) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if len(rows) > 0 {
			var stores, skus, badges []string
			var prices, versions []int64
			var pids, titles []*string
			var pprices []*int64
			var ends []*time.Time
			// In (store, sku) order: every replica upserts the same rows, and two doing it in
			// different orders deadlock.
			keys := slices.SortedFunc(maps.Keys(rows), func(a, b [2]string) int {
				return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
			})
			for _, k := range keys {
				st := rows[k]
				stores, skus, badges = append(stores, k[0]), append(skus, k[1]), append(badges, st.Badge)
				prices, versions = append(prices, st.PriceCents), append(versions, st.Version)
				if st.PromoID != "" {
					pid, title, pp, end := st.PromoID, st.PromoTitle, st.PromoPriceCents, st.PromoEndsAt
					pids, titles, pprices, ends = append(pids, &pid), append(titles, &title), append(pprices, &pp), append(ends, &end)
				} else {
					pids, titles, pprices, ends = append(pids, nil), append(titles, nil), append(pprices, nil), append(ends, nil)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO signs.display AS d (store_id, sku, price_cents, promo_id, promo_title,
					promo_price_cents, promo_ends_at, badge, version)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
					$7::timestamptz[], $8::text[], $9::bigint[])
				ON CONFLICT (store_id, sku) DO UPDATE SET price_cents = EXCLUDED.price_cents, promo_id = EXCLUDED.promo_id,
					promo_title = EXCLUDED.promo_title, promo_price_cents = EXCLUDED.promo_price_cents,
					promo_ends_at = EXCLUDED.promo_ends_at, badge = EXCLUDED.badge, version = EXCLUDED.version, updated_at = now()
				WHERE d.version < EXCLUDED.version`,
				stores, skus, prices, pids, titles, pprices, ends, badges, versions); err != nil {
				return fmt.Errorf("upsert view: %w", err)
			}
		}
		var parts []int32
		var offs []int64
		for p, o := range positions {
			parts, offs = append(parts, p), append(offs, o)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signs.positions AS p (topic, partition, next_offset)
			SELECT $1, * FROM unnest($2::int[], $3::bigint[])
			ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(p.next_offset, EXCLUDED.next_offset)`,
			w.topic, parts, offs); err != nil {
			return fmt.Errorf("store positions: %w", err)
		}
		return nil
	})
	if err != nil {
		// Keep them for the next attempt, under anything added since (which is newer).
		w.mu.Lock()
		for k, st := range rows {
			if cur, ok := w.rows[k]; !ok || cur.Version < st.Version {
				w.rows[k] = st
			}
		}
		for p, o := range positions {
			w.positions[p] = max(w.positions[p], o)
		}
		w.mu.Unlock()
		return err
	}
	return nil
}
