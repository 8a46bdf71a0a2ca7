package signsapp

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/freshmart/platform/internal/httpx"
)

// signRec is what this replica knows of one sign it holds (or held) a connection of.
type signRec struct {
	store, sign string
	skus        []string
	conns       int // connections open on this replica
	acked       int64
	ackAt       time.Time
	seenAt      time.Time
	dirty       bool // changed since last stored
	conn        bool // and the change is more than acknowledgements: (dis)connected, its SKUs
}

// signTable keeps the acknowledgements of the signs connected to this replica in memory and
// stores them in signs.status every FlushEvery, so 10,000 acking signs cost one statement a
// second, not 10,000; the replica's heartbeat (signs.replicas, every SeenEvery) stands for the
// last_seen_at of every sign it holds.
type signTable struct {
	a  *App
	mu sync.Mutex
	m  map[[2]string]*signRec

	lastAck atomic.Int64 // when the last acknowledgement arrived (Unix ns), for App.quiet

	// flush's, reused from one flush to the next (one runs at a time), so storing 10,000
	// acknowledgements a second allocates next to nothing.
	outs       []statusOut
	rows, acks statusCols
}

func newSignTable(a *App) *signTable { return &signTable{a: a, m: map[[2]string]*signRec{}} }

func (t *signTable) connect(store, sign string, skus []string) *signRec {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [2]string{store, sign}
	r := t.m[k]
	if r == nil {
		r = &signRec{store: store, sign: sign}
		t.m[k] = r
	}
	r.skus, r.seenAt, r.dirty, r.conn = skus, now(), true, true
	r.conns++
	t.a.m.connected.WithLabelValues(store).Inc()
	return r
}

func (t *signTable) disconnect(r *signRec) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.conns--
	r.seenAt, r.dirty, r.conn = now(), true, true
	t.a.m.connected.WithLabelValues(r.store).Dec()
}

// ack records that r shows version; sent is the newest version it was sent.
func (t *signTable) ack(r *signRec, version, sent int64) {
	t.mu.Lock()
	at := now()
	r.acked = max(r.acked, version)
	r.ackAt, r.seenAt, r.dirty = at, at, true
	t.mu.Unlock()
	t.lastAck.Store(at.UnixNano())
	t.a.m.ackLag.Observe(float64(max(0, sent-version)))
}

// run stores the acknowledgements every FlushEvery, once a fan-out is over (App.quiet), and
// refreshes the heartbeat every SeenEvery on a ticker of its own: one row, which does not wait
// for a fan-out (the signs this replica holds count as disconnected when it is late).
func (t *signTable) run(ctx context.Context) error {
	t.heartbeat(ctx)
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		seen := time.NewTicker(t.a.cfg.SeenEvery)
		defer seen.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-seen.C:
				t.heartbeat(ctx)
			}
		}
	}()
	defer func() { <-beats }()
	flush := time.NewTicker(t.a.cfg.FlushEvery)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			t.flush(fctx, true)
			cancel()
			return nil
		case <-flush.C:
		}
		t.a.quiet(ctx)
		t.flush(ctx, false)
	}
}

// heartbeat refreshes this replica's row of signs.replicas: the signs it holds were seen now
// (their connections are alive: the hub pings them). One row, however many signs.
func (t *signTable) heartbeat(ctx context.Context) {
	_, err := t.a.svc.Pool.Exec(ctx, `INSERT INTO signs.replicas (replica, seen_at) VALUES ($1, $2)
		ON CONFLICT (replica) DO UPDATE SET seen_at = GREATEST(signs.replicas.seen_at, EXCLUDED.seen_at)`, t.a.replica, now())
	if err != nil && ctx.Err() == nil {
		t.a.log.Warn("signs: replica heartbeat; retrying at the next", "err", err)
	}
}

// statusOut is one sign's row as flush stores it.
type statusOut struct {
	store, sign   string
	skus          []string
	acked         int64
	ackAt, seenAt time.Time // ackAt zero: never acknowledged
	replica       string    // "": none
	conn          bool      // the whole row (signRec.conn); otherwise its acknowledgement only
}

// statusCols are the columns of one statement of a flush.
type statusCols struct {
	stores, signs, skus []string // skus: of whole rows only, comma-separated
	acked               []int64
	ackAts, seenAts     []pgtype.Timestamptz
	replicas            []pgtype.Text
}

func (c *statusCols) reset() {
	c.stores, c.signs, c.skus, c.acked = c.stores[:0], c.signs[:0], c.skus[:0], c.acked[:0]
	c.ackAts, c.seenAts, c.replicas = c.ackAts[:0], c.seenAts[:0], c.replicas[:0]
}

func (c *statusCols) add(o *statusOut) {
	c.stores, c.signs, c.acked = append(c.stores, o.store), append(c.signs, o.sign), append(c.acked, o.acked)
	c.ackAts = append(c.ackAts, pgtype.Timestamptz{Time: o.ackAt, Valid: !o.ackAt.IsZero()})
	c.seenAts = append(c.seenAts, pgtype.Timestamptz{Time: o.seenAt, Valid: true})
	c.replicas = append(c.replicas, pgtype.Text{String: o.replica, Valid: o.replica != ""})
	if o.conn {
		c.skus = append(c.skus, strings.Join(o.skus, ","))
	}
}

// flush stores the changed records; with stopping, every sign this replica holds is stored as
// disconnected. A sign that only acknowledged since the last flush costs an update of its
// acknowledgement (the common case: 10,000 signs acking a promotion), not its whole row. Rows
// go in (store, sign) order, so two replicas storing the same signs cannot deadlock.
func (t *signTable) flush(ctx context.Context, stopping bool) {
	outs := t.outs[:0]
	at := now()
	t.mu.Lock()
	for k, r := range t.m {
		if !r.dirty && !stopping {
			continue
		}
		o := statusOut{store: r.store, sign: r.sign, skus: r.skus, acked: r.acked, ackAt: r.ackAt, seenAt: r.seenAt,
			conn: r.conn || stopping}
		if r.conns > 0 {
			o.seenAt = at
			if !stopping {
				o.replica = t.a.replica
			}
		}
		outs = append(outs, o)
		r.dirty, r.conn = false, false
		if r.conns == 0 {
			delete(t.m, k) // stored as disconnected; a reconnect starts a new record
		}
	}
	t.mu.Unlock()
	t.outs = outs
	if len(outs) == 0 {
		return
	}
	slices.SortFunc(outs, func(a, b statusOut) int {
		return cmp.Or(strings.Compare(a.store, b.store), strings.Compare(a.sign, b.sign))
	})
	t.rows.reset()
	t.acks.reset()
	for i := range outs {
		if outs[i].conn {
			t.rows.add(&outs[i])
		} else {
			t.acks.add(&outs[i])
		}
	}
	err := t.storeRows(ctx, &t.rows)
	if err == nil {
		err = t.storeAcks(ctx, &t.acks)
	}
	if err != nil && ctx.Err() == nil {
		t.a.log.Warn("signs: store acknowledgements; retrying", "err", err)
		t.mu.Lock()
		for _, o := range outs {
			k := [2]string{o.store, o.sign}
			if r := t.m[k]; r != nil {
				r.dirty, r.conn = true, r.conn || o.conn
			} else {
				t.m[k] = &signRec{store: o.store, sign: o.sign, skus: o.skus, acked: o.acked, ackAt: o.ackAt,
					seenAt: o.seenAt, dirty: true, conn: true}
			}
		}
		t.mu.Unlock()
	}
}

// storeRows upserts whole rows: one statement for every sign.
func (t *signTable) storeRows(ctx context.Context, c *statusCols) error {
	if len(c.stores) == 0 {
		return nil
	}
	// replica: set while this replica holds the sign; cleared only if it is still ours
	// (another replica may have taken the sign over since).
	_, err := t.a.svc.Pool.Exec(ctx, `INSERT INTO signs.status AS s (store_id, sign, skus, last_ack_version, last_ack_at, last_seen_at, replica)
		SELECT u.store_id, u.sign, string_to_array(u.skus, ','), u.acked, u.ack_at, u.seen_at, u.replica
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::timestamptz[], $7::text[])
			AS u(store_id, sign, skus, acked, ack_at, seen_at, replica)
		ON CONFLICT (store_id, sign) DO UPDATE SET skus = EXCLUDED.skus,
			last_ack_version = GREATEST(s.last_ack_version, EXCLUDED.last_ack_version),
			last_ack_at = COALESCE(GREATEST(s.last_ack_at, EXCLUDED.last_ack_at), s.last_ack_at, EXCLUDED.last_ack_at),
			last_seen_at = GREATEST(s.last_seen_at, EXCLUDED.last_seen_at),
			replica = CASE WHEN EXCLUDED.replica IS NOT NULL THEN EXCLUDED.replica
				WHEN s.replica = $8 THEN NULL ELSE s.replica END`,
		c.stores, c.signs, c.skus, c.acked, c.ackAts, c.seenAts, c.replicas, t.a.replica)
	if err != nil {
		return fmt.Errorf("signs: store sign rows: %w", err)
	}
	return nil
}

// storeAcks updates the acknowledgements of signs whose rows are stored (their connection's
// row was stored by an earlier flush): version and time, and seen now.
func (t *signTable) storeAcks(ctx context.Context, c *statusCols) error {
	if len(c.stores) == 0 {
		return nil
	}
	_, err := t.a.svc.Pool.Exec(ctx, `UPDATE signs.status AS s SET
			last_ack_version = GREATEST(s.last_ack_version, u.acked),
			last_ack_at = COALESCE(GREATEST(s.last_ack_at, u.ack_at), s.last_ack_at, u.ack_at),
			last_seen_at = GREATEST(s.last_seen_at, u.seen_at)
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[])
			AS u(store_id, sign, acked, ack_at, seen_at)
		WHERE s.store_id = u.store_id AND s.sign = u.sign`,
		c.stores, c.signs, c.acked, c.ackAts, c.seenAts)
	if err != nil {
		return fmt.Errorf("signs: store acknowledgements: %w", err)
	}
	return nil
}

// SignStatus is one sign in GET /v1/signs.
type SignStatus struct {
	Sign    string `json:"sign"`
	StoreID string `json:"store_id"`
	// SKUs are the SKUs the sign last asked for.
	SKUs           []string   `json:"skus"`
	Connected      bool       `json:"connected"`
	LastAckVersion int64      `json:"last_ack_version"`
	LastAckAt      *time.Time `json:"last_ack_at"`
	LastSeenAt     *time.Time `json:"last_seen_at"`
	// Behind is how many versions the newest change of the sign's SKUs is ahead of what it
	// acknowledged (0: it shows everything).
	Behind int64 `json:"behind"`
	// OutOfDate: behind, or not seen for SilentAfter, or never connected.
	OutOfDate bool `json:"out_of_date"`
}

// listSigns is GET /v1/signs?store_id=: every sign of the store with a live token.
func (a *App) listSigns(w http.ResponseWriter, r *http.Request) {
	store := r.URL.Query().Get("store_id")
	switch {
	case store == "":
		badParam(w, "store_id", "is required")
		return
	case a.stores[store] == nil:
		badParam(w, "store_id", fmt.Sprintf("unknown store %.20q", store))
		return
	}
	out, err := a.Status(r.Context(), store)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Sign status unavailable", "the signs' status", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"store_id": store, "signs": out})
}

// Status returns every sign of store with a live token, by name.
func (a *App) Status(ctx context.Context, store string) ([]SignStatus, error) {
	// A sign a replica holds was last seen at that replica's latest heartbeat, if later.
	rows, err := a.svc.Pool.Query(ctx, `SELECT t.sign, COALESCE(s.skus, '{}'), COALESCE(s.last_ack_version, 0), s.last_ack_at,
			CASE WHEN s.replica IS NOT NULL THEN GREATEST(s.last_seen_at, r.seen_at) ELSE s.last_seen_at END,
			s.replica IS NOT NULL
		FROM signs.tokens t LEFT JOIN signs.status s ON s.store_id = t.store_id AND s.sign = t.sign
			LEFT JOIN signs.replicas r ON r.replica = s.replica
		WHERE t.store_id = $1 AND t.revoked_at IS NULL ORDER BY t.sign`, store)
	if err != nil {
		return nil, fmt.Errorf("signs: status: %w", err)
	}
	type dbRow struct {
		SignStatus
		skus []string
		held bool
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dbRow, error) {
		var d dbRow
		err := r.Scan(&d.Sign, &d.skus, &d.LastAckVersion, &d.LastAckAt, &d.LastSeenAt, &d.held)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("signs: status: %w", err)
	}
	at := now()
	// A replica refreshes its heartbeat every SeenEvery; one that stopped without saying so
	// (killed) leaves "replica" set, so a sign also counts as disconnected once three
	// heartbeats were missed.
	alive := 3*a.cfg.SeenEvery + a.cfg.FlushEvery
	out := make([]SignStatus, 0, len(got))
	for _, d := range got {
		s := d.SignStatus
		s.StoreID = store
		s.SKUs = d.skus
		s.Connected = d.held && s.LastSeenAt != nil && at.Sub(*s.LastSeenAt) < alive
		s.Behind = max(0, a.signVersion(store, d.skus)-s.LastAckVersion)
		s.OutOfDate = s.Behind > 0 || s.LastSeenAt == nil || at.Sub(*s.LastSeenAt) > a.cfg.SilentAfter
		out = append(out, s)
	}
	return out, nil
}
