package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/migrations"
)

// accepted is where the broker stored an accepted event.
type accepted struct {
	Partition int32
	Offset    int64
}

// dbTimeout bounds each pos.accepted query, so a slow database delays a request only briefly.
const dbTimeout = 2 * time.Second

// seen reports whether kind/id was accepted before: first from the in-memory cache, then from
// pos.accepted, which every POS instance shares. A database failure is logged and treated as
// "not seen": the lane keeps selling, and consumers still drop the duplicate by its id.
func (a *App) seen(ctx context.Context, kind, id string) (accepted, bool) {
	key := kind + "/" + id
	if acc, ok := a.recent.get(key); ok {
		return acc, true
	}
	acc, ok, err := a.accepted.lookup(ctx, kind, id)
	if err != nil {
		a.dbErrors.Inc()
		a.log.Warn("pos.accepted lookup failed; producing without the check", "kind", kind, "id", id, "err", err)
		return accepted{}, false
	}
	if ok {
		a.recent.put(key, acc)
	}
	return acc, ok
}

// remember records an event the broker acknowledged in pos.accepted and in the cache, and
// returns the answer to give: acc, or the first acceptance when another request (on any
// instance) recorded the same id in the meantime. Two concurrent first attempts have both been
// produced; both are answered with the recorded position, and consumers drop the copy by id.
// A database failure is logged: the event is stored in the broker, so the request succeeded.
func (a *App) remember(ctx context.Context, s submission, acc accepted) accepted {
	key := s.kind + "/" + s.id
	first, err := a.accepted.record(context.WithoutCancel(ctx), s, acc)
	if err != nil {
		a.dbErrors.Inc()
		a.log.Warn("recording an accepted event failed", "kind", s.kind, "id", s.id, "err", err)
		first = acc
	}
	a.recent.put(key, first)
	return first
}

// acceptedDB reads and writes pos.accepted in batches: concurrent requests are gathered (up to
// maxBatch, without waiting for more) into one statement, so under load the POS spends one
// round trip and one statement on many sales instead of one each. A lone request is sent at
// once. Workers run until close.
type acceptedDB struct {
	pool    *pgxpool.Pool
	lookups chan *lookupReq
	records chan *recordReq
	done    chan struct{}
	wg      sync.WaitGroup
}

// maxBatch is the most requests one statement carries; dbWorkers is how many statements of
// each kind may run at once.
const (
	maxBatch  = 256
	dbWorkers = 4
)

var errClosed = errors.New("pos.accepted: closed")

type lookupReq struct {
	kind, id string
	acc      accepted
	ok       bool
	err      error
	done     chan struct{}
}

type recordReq struct {
	s    submission
	acc  accepted // in: this acceptance; out: the first one
	err  error
	done chan struct{}
}

func newAcceptedDB(pool *pgxpool.Pool) *acceptedDB {
	d := &acceptedDB{pool: pool, lookups: make(chan *lookupReq), records: make(chan *recordReq), done: make(chan struct{})}
	for range dbWorkers {
		d.wg.Go(func() { serve(d, d.lookups, d.runLookups) })
		d.wg.Go(func() { serve(d, d.records, d.runRecords) })
	}
	return d
}

// close stops the workers; requests after it fail with errClosed.
func (d *acceptedDB) close() {
	close(d.done)
	d.wg.Wait()
}

// serve gathers the requests waiting on in into batches and runs them until d is closed.
func serve[R any](d *acceptedDB, in chan R, run func([]R)) {
	for {
		var batch []R
		select {
		case r := <-in:
			batch = append(batch, r)
		case <-d.done:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case r := <-in:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		run(batch)
	}
}

// submit hands r to the workers and waits for its answer (signalled on done).
func submit[R any](ctx context.Context, d *acceptedDB, in chan R, r R, done chan struct{}) error {
	select {
	case in <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return errClosed
	}
	<-done // the workers always answer a request they took, within dbTimeout
	return nil
}

// lookup returns where kind/id was first accepted, if it was.
func (d *acceptedDB) lookup(ctx context.Context, kind, id string) (accepted, bool, error) {
	r := &lookupReq{kind: kind, id: id, done: make(chan struct{})}
	if err := submit(ctx, d, d.lookups, r, r.done); err != nil {
		return accepted{}, false, fmt.Errorf("pos.accepted lookup: %w", err)
	}
	return r.acc, r.ok, r.err
}

// record stores acc as the acceptance of s unless one is stored already, and returns the one
// that is stored.
func (d *acceptedDB) record(ctx context.Context, s submission, acc accepted) (accepted, error) {
	r := &recordReq{s: s, acc: acc, done: make(chan struct{})}
	if err := submit(ctx, d, d.records, r, r.done); err != nil {
		return acc, fmt.Errorf("pos.accepted record: %w", err)
	}
	return r.acc, r.err
}

// lookupSQL finds the stored acceptances of the ($1[i], $2[i]) kind/id pairs.
const lookupSQL = `
SELECT a.kind, a.id::text, a.partition, a."offset"
FROM pos.accepted a JOIN unnest($1::text[], $2::uuid[]) AS q(kind, id) ON a.kind = q.kind AND a.id = q.id`

func (d *acceptedDB) runLookups(batch []*lookupReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	kinds, ids := make([]string, len(batch)), make([]string, len(batch))
	for i, r := range batch {
		kinds[i], ids[i] = r.kind, r.id
	}
	found, err := collect(d.pool.Query(ctx, lookupSQL, kinds, ids))
	for _, r := range batch {
		if err != nil {
			r.err = fmt.Errorf("pos.accepted lookup: %w", err)
			continue
		}
		r.acc, r.ok = found[r.kind+"/"+r.id]
	}
}

func (d *acceptedDB) runRecords(batch []*recordReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	n := len(batch)
	kinds, ids, stores := make([]string, n), make([]string, n), make([]string, n)
	totals, parts, offs := make([]*int64, n), make([]int32, n), make([]int64, n)
	for i, r := range batch {
		kinds[i], ids[i], stores[i], totals[i] = r.s.kind, r.s.id, r.s.store, r.s.totalCents
		parts[i], offs[i] = r.acc.Partition, r.acc.Offset
	}
	// The outer SELECT sees pos.accepted as it was before this statement: rows inserted now come
	// from ins, rows stored earlier from the join.
	rows, err := d.pool.Query(ctx, `
WITH q AS (
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::int[], $6::bigint[])
        AS q(kind, id, store_id, total_cents, partition, "offset")
), ins AS (
    INSERT INTO pos.accepted (kind, id, store_id, total_cents, partition, "offset")
    SELECT * FROM q
    ON CONFLICT (kind, id) DO NOTHING
    RETURNING kind, id, partition, "offset"
)
SELECT kind, id::text, partition, "offset" FROM ins
UNION ALL
SELECT a.kind, a.id::text, a.partition, a."offset"
FROM pos.accepted a JOIN q ON a.kind = q.kind AND a.id = q.id`, kinds, ids, stores, totals, parts, offs)
	stored, err := collect(rows, err)
	if err == nil {
		// An id missing from the answer was inserted by a concurrent statement (of this or
		// another instance) that committed while this one waited on the conflict; a new
		// statement sees it.
		var mk, mi []string
		for _, r := range batch {
			if _, ok := stored[r.s.kind+"/"+r.s.id]; !ok {
				mk, mi = append(mk, r.s.kind), append(mi, r.s.id)
			}
		}
		if len(mk) > 0 {
			var more map[string]accepted
			more, err = collect(d.pool.Query(ctx, lookupSQL, mk, mi))
			maps.Copy(stored, more)
		}
	}
	for _, r := range batch {
		if err != nil {
			r.err = fmt.Errorf("pos.accepted record: %w", err)
			continue
		}
		if first, ok := stored[r.s.kind+"/"+r.s.id]; ok {
			r.acc = first
		}
	}
}

// collect reads kind, id, partition, offset rows into a map keyed "kind/id".
func collect(rows pgx.Rows, err error) (map[string]accepted, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]accepted{}
	for rows.Next() {
		var kind, id string
		var acc accepted
		if err := rows.Scan(&kind, &id, &acc.Partition, &acc.Offset); err != nil {
			return nil, err
		}
		out[kind+"/"+id] = acc
	}
	return out, rows.Err()
}

// recent remembers the answers to recently accepted ids (bounded, oldest forgotten first), in
// front of pos.accepted.
type recent struct {
	mu    sync.Mutex
	max   int
	order []string
	byID  map[string]accepted
}

func newRecent(max int) *recent { return &recent{max: max, byID: map[string]accepted{}} }

func (r *recent) get(id string) (accepted, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.byID[id]
	return v, ok
}

func (r *recent) put(id string, v accepted) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[id]; ok {
		return
	}
	if len(r.order) >= r.max {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
	r.order = append(r.order, id)
	r.byID[id] = v
}

// defaultMaxConns is the pool size when DATABASE_URL does not set pool_max_conns: every
// request waits on a pos.accepted query, so the pool must not be the bottleneck.
const defaultMaxConns = 16

// openDB connects to Postgres and applies the migrations (which create pos.accepted).
func openDB(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pos: DATABASE_URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	// A pos.accepted row only saves producing a retry again, and the sale is already durable in
	// the broker when it is written, so the POS does not wait for the WAL flush: a database crash
	// can forget the last moments' ids, and a retry of one is produced again (consumers drop it
	// by id).
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pos: database: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pos: database: %w", err)
	}
	defer conn.Release()
	if err := migrations.Apply(ctx, conn.Conn()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pos: %w", err)
	}
	return pool, nil
}
