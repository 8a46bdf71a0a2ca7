package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/loyalty"
)

// folder applies pos-sales events to the ledger tables of one schema ("loyalty", or the
// rebuild's). Rules and tiers are always read from the live schema: they are configuration.
type folder struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	schema string // sanitized identifier
	zones  map[string]*time.Location
	depts  map[string]string
}

func newFolder(schema string, cfg Config, log *slog.Logger, m *metrics) *folder {
	f := &folder{cfg: cfg, log: log, m: m, schema: pgx.Identifier{schema}.Sanitize(),
		zones: map[string]*time.Location{}, depts: map[string]string{}}
	for _, st := range cfg.Catalog.Stores() {
		if loc, err := st.Location(); err == nil {
			f.zones[st.StoreID] = loc
		}
	}
	for _, p := range cfg.Catalog.Products() {
		f.depts[p.SKU] = p.Department
	}
	return f
}

// day is t's date in store's zone (UTC for a store the catalog does not know).
func (f *folder) day(store string, t time.Time) string {
	loc := f.zones[store]
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(time.DateOnly)
}

// handle is the stream.BatchHandler.
func (f *folder) handle(ctx context.Context, tx *stream.Tx, evs []events.Event) error {
	return f.apply(ctx, tx.Tx, evs, f.cfg.Clock.Now())
}

// input is one decoded event of a batch: a sale with a loyalty id or a void.
type input struct {
	sale *loyalty.Sale
	void *loyalty.Void
}

// decode turns the batch into inputs, counting what it leaves out.
func (f *folder) decode(evs []events.Event) []input {
	var in []input
	for _, ev := range evs {
		switch ev.Type {
		case schemas.TypeSaleCompleted:
			if err := schemas.Validate(ev.Type, ev.Data); err != nil {
				f.reject(ev, err)
				continue
			}
			s, err := events.Decode[schemas.SaleCompleted](ev)
			if err != nil {
				f.reject(ev, err)
				continue
			}
			if s.LoyaltyID == "" {
				f.m.sales.WithLabelValues("no_loyalty_id").Inc()
				continue
			}
			ls := loyalty.Sale{SaleID: s.SaleID, StoreID: s.StoreID, LoyaltyID: s.LoyaltyID, OccurredAt: s.OccurredAt.UTC(),
				Day: f.day(s.StoreID, s.OccurredAt), TotalCents: s.TotalCents}
			for _, l := range s.Lines {
				ls.Lines = append(ls.Lines, loyalty.Line{SKU: l.SKU, Department: f.depts[l.SKU], AmountCents: l.Qty * l.UnitPriceCents})
			}
			in = append(in, input{sale: &ls})
		case schemas.TypeSaleVoided:
			if err := schemas.Validate(ev.Type, ev.Data); err != nil {
				f.reject(ev, err)
				continue
			}
			v, err := events.Decode[schemas.SaleVoided](ev)
			if err != nil {
				f.reject(ev, err)
				continue
			}
			in = append(in, input{void: &loyalty.Void{SaleID: v.SaleID, StoreID: v.StoreID, VoidedAt: v.VoidedAt.UTC(), Day: f.day(v.StoreID, v.VoidedAt)}})
		}
	}
	return in
}

func (f *folder) reject(ev events.Event, err error) {
	f.m.sales.WithLabelValues("rejected").Inc()
	f.log.Warn("skipping event", "type", ev.Type, "partition", ev.Partition, "offset", ev.Offset, "err", err)
}

// apply folds a batch in its transaction: it reads which of the batch's sales and voids are
// known, folds the inputs in batch order with loyalty.OnSale and OnVoid, writes the new sales,
// voids and ledger rows, and updates the balances and standings of the members touched.
func (f *folder) apply(ctx context.Context, q pgx.Tx, evs []events.Event, now time.Time) error {
	in := f.decode(evs)
	if len(in) == 0 {
		return nil
	}
	ids := make([]string, 0, len(in))
	for _, x := range in {
		if x.sale != nil {
			ids = append(ids, x.sale.SaleID)
		} else {
			ids = append(ids, x.void.SaleID)
		}
	}
	rules, err := loadRules(ctx, q)
	if err != nil {
		return err
	}
	known, err := f.knownSales(ctx, q, ids)
	if err != nil {
		return err
	}
	voids, err := f.knownVoids(ctx, q, ids)
	if err != nil {
		return err
	}
	earned, err := f.earnedBy(ctx, q, ids)
	if err != nil {
		return err
	}
	var newSales []loyalty.Sale
	var newVoids []loyalty.Void
	var entries []loyalty.Entry
	for _, x := range in {
		if s := x.sale; s != nil {
			_, seen := known[s.SaleID]
			var first *loyalty.Void
			if v, ok := voids[s.SaleID]; ok {
				first = &v
			}
			es := loyalty.OnSale(*s, seen, first, rules)
			if seen {
				f.m.sales.WithLabelValues("duplicate").Inc()
				continue
			}
			f.m.sales.WithLabelValues("earned").Inc()
			known[s.SaleID] = s.LoyaltyID
			newSales = append(newSales, *s)
			for _, e := range es {
				if e.Kind == loyalty.EntryEarn {
					earned[s.SaleID] = append(earned[s.SaleID], e)
				}
			}
			entries = append(entries, es...)
			continue
		}
		v := *x.void
		_, already := voids[v.SaleID]
		_, seen := known[v.SaleID]
		es := loyalty.OnVoid(v, already, earned[v.SaleID], seen)
		switch {
		case already:
			f.m.sales.WithLabelValues("void_duplicate").Inc()
			continue
		case seen:
			f.m.sales.WithLabelValues("voided").Inc()
		default:
			f.m.sales.WithLabelValues("void_pending").Inc()
		}
		voids[v.SaleID] = v
		newVoids = append(newVoids, v)
		entries = append(entries, es...)
	}
	if err := f.insertSales(ctx, q, newSales); err != nil {
		return err
	}
	if err := f.insertVoids(ctx, q, newVoids); err != nil {
		return err
	}
	if err := f.insertEntries(ctx, q, entries); err != nil {
		return err
	}
	delta := map[string]int64{}
	for _, e := range entries {
		delta[e.LoyaltyID] += e.Points
		switch e.Kind {
		case loyalty.EntryEarn:
			f.m.points.WithLabelValues("earned").Add(float64(e.Points))
		case loyalty.EntryReverse:
			f.m.points.WithLabelValues("reversed").Add(float64(-e.Points))
		}
	}
	for _, s := range newSales {
		if _, ok := delta[s.LoyaltyID]; !ok {
			delta[s.LoyaltyID] = 0 // a member whose sale earned nothing is still a member
		}
	}
	if len(delta) == 0 {
		return nil
	}
	if err := f.addBalances(ctx, q, delta); err != nil {
		return err
	}
	members := make([]string, 0, len(delta))
	for id := range delta {
		members = append(members, id)
	}
	return f.refresh(ctx, q, members, now)
}

// knownSales returns the sales of ids already stored, with their loyalty ids.
func (f *folder) knownSales(ctx context.Context, q pgx.Tx, ids []string) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT sale_id::text, loyalty_id FROM `+f.schema+`.sales WHERE sale_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("read sales: %w", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var id, l string
		if err := rows.Scan(&id, &l); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read sales: %w", err)
		}
		out[id] = l
	}
	rows.Close()
	return out, rows.Err()
}

// knownVoids returns the voids of ids already stored.
func (f *folder) knownVoids(ctx context.Context, q pgx.Tx, ids []string) (map[string]loyalty.Void, error) {
	rows, err := q.Query(ctx, `SELECT sale_id::text, store_id, voided_at FROM `+f.schema+`.voids WHERE sale_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("read voids: %w", err)
	}
	out := map[string]loyalty.Void{}
	for rows.Next() {
		var v loyalty.Void
		if err := rows.Scan(&v.SaleID, &v.StoreID, &v.VoidedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read voids: %w", err)
		}
		v.VoidedAt = v.VoidedAt.UTC()
		v.Day = f.day(v.StoreID, v.VoidedAt)
		out[v.SaleID] = v
	}
	rows.Close()
	return out, rows.Err()
}

// earnedBy returns the earnings already written for the sales of ids.
func (f *folder) earnedBy(ctx context.Context, q pgx.Tx, ids []string) (map[string][]loyalty.Entry, error) {
	rows, err := q.Query(ctx, `SELECT loyalty_id, sale_id::text, rule_id, lines, store_id, points, at, day::text, counts_at
		FROM `+f.schema+`.ledger WHERE kind = 'earn' AND sale_id = ANY($1::uuid[]) ORDER BY entry_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("read earnings: %w", err)
	}
	out := map[string][]loyalty.Entry{}
	for rows.Next() {
		e := loyalty.Entry{Kind: loyalty.EntryEarn}
		var lines []int32
		if err := rows.Scan(&e.LoyaltyID, &e.SaleID, &e.RuleID, &lines, &e.StoreID, &e.Points, &e.At, &e.Day, &e.CountsAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read earnings: %w", err)
		}
		e.Lines = fromInt32(lines)
		out[e.SaleID] = append(out[e.SaleID], e)
	}
	rows.Close()
	return out, rows.Err()
}

func (f *folder) insertSales(ctx context.Context, q pgx.Tx, ss []loyalty.Sale) error {
	if len(ss) == 0 {
		return nil
	}
	ids, members, stores, at := make([]string, len(ss)), make([]string, len(ss)), make([]string, len(ss)), make([]time.Time, len(ss))
	for i, s := range ss {
		ids[i], members[i], stores[i], at[i] = s.SaleID, s.LoyaltyID, s.StoreID, s.OccurredAt
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+f.schema+`.sales (sale_id, loyalty_id, store_id, occurred_at)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])`, ids, members, stores, at); err != nil {
		return fmt.Errorf("store sales: %w", err)
	}
	return nil
}

func (f *folder) insertVoids(ctx context.Context, q pgx.Tx, vs []loyalty.Void) error {
	if len(vs) == 0 {
		return nil
	}
	ids, stores, at := make([]string, len(vs)), make([]string, len(vs)), make([]time.Time, len(vs))
	for i, v := range vs {
		ids[i], stores[i], at[i] = v.SaleID, v.StoreID, v.VoidedAt
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+f.schema+`.voids (sale_id, store_id, voided_at)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])`, ids, stores, at); err != nil {
		return fmt.Errorf("store voids: %w", err)
	}
	return nil
}

// insertEntries appends entries to the ledger in one COPY.
func (f *folder) insertEntries(ctx context.Context, q pgx.Tx, es []loyalty.Entry) error {
	if len(es) == 0 {
		return nil
	}
	rows := make([][]any, len(es))
	for i, e := range es {
		var day any
		if e.Day != "" {
			d, _ := time.Parse(time.DateOnly, e.Day)
			day = d
		}
		rows[i] = []any{e.LoyaltyID, e.Kind, nullUUID(e.SaleID), nullText(e.RuleID), toInt32(e.Lines), nullUUID(e.RedemptionID),
			nullText(e.StoreID), e.Points, e.At, day, e.CountsAt}
	}
	if _, err := q.CopyFrom(ctx, pgx.Identifier{unquote(f.schema), "ledger"},
		[]string{"loyalty_id", "kind", "sale_id", "rule_id", "lines", "redemption_id", "store_id", "points", "at", "day", "counts_at"},
		pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("append %d ledger rows: %w", len(es), err)
	}
	return nil
}

// addBalances adds delta to the members' balances, creating the members it does not know, in
// the order of their ids so that concurrent batches lock members in one order.
func (f *folder) addBalances(ctx context.Context, q pgx.Tx, delta map[string]int64) error {
	ids := make([]string, 0, len(delta))
	for id := range delta {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	pts := make([]int64, len(ids))
	for i, id := range ids {
		pts[i] = delta[id]
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+f.schema+`.members (loyalty_id, balance)
		SELECT * FROM unnest($1::text[], $2::bigint[]) ORDER BY 1
		ON CONFLICT (loyalty_id) DO UPDATE SET balance = `+f.schema+`.members.balance + EXCLUDED.balance`, ids, pts); err != nil {
		return fmt.Errorf("update balances: %w", err)
	}
	return nil
}

// refresh computes the standing of members as of now from their ledger rows and stores it.
func (f *folder) refresh(ctx context.Context, q pgx.Tx, members []string, now time.Time) error {
	if len(members) == 0 {
		return nil
	}
	tiers, err := loadTiers(ctx, q)
	if err != nil {
		return err
	}
	// A day more than 12 months back: WindowStart decides exactly.
	since := loyalty.WindowStart(now).AddDate(0, 0, -1)
	rows, err := q.Query(ctx, `SELECT loyalty_id, points, counts_at FROM `+f.schema+`.ledger
		WHERE loyalty_id = ANY($1) AND kind <> 'redeem' AND counts_at > $2`, members, since)
	if err != nil {
		return fmt.Errorf("read windows: %w", err)
	}
	counted := map[string][]loyalty.Counted{}
	for rows.Next() {
		var id string
		var c loyalty.Counted
		if err := rows.Scan(&id, &c.Points, &c.CountsAt); err != nil {
			rows.Close()
			return fmt.Errorf("read windows: %w", err)
		}
		counted[id] = append(counted[id], c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read windows: %w", err)
	}
	slices.Sort(members)
	n := len(members)
	pts, tierNames, next := make([]int64, n), make([]string, n), make([]*time.Time, n)
	for i, id := range members {
		st := loyalty.StandingAt(counted[id], now, tiers)
		pts[i], tierNames[i] = st.Points12m, st.Tier
		if !st.NextChange.IsZero() {
			t := st.NextChange
			next[i] = &t
		}
	}
	if _, err := q.Exec(ctx, `UPDATE `+f.schema+`.members m SET points_12m = u.p, tier = u.t, standing_at = $5, next_change_at = u.n
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[]) AS u(id, p, t, n) WHERE m.loyalty_id = u.id`,
		members, pts, tierNames, next, now); err != nil {
		return fmt.Errorf("store standings: %w", err)
	}
	return nil
}

// refreshDue recomputes the standing of every member whose next change has come, in batches
// of 500 members per transaction; it returns how many it recomputed.
func (f *folder) refreshDue(ctx context.Context, pool *pgxpool.Pool, now time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT loyalty_id FROM `+f.schema+`.members WHERE next_change_at <= $1
				ORDER BY loyalty_id LIMIT 500 FOR UPDATE SKIP LOCKED`, now)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			n = len(ids)
			return f.refresh(ctx, tx, ids, now)
		})
		if err != nil {
			return total, fmt.Errorf("tier job: %w", err)
		}
		total += n
		if n < 500 {
			return total, nil
		}
	}
}

// loadRules reads the earning rules.
func loadRules(ctx context.Context, q stream.Querier) ([]loyalty.Rule, error) {
	rows, err := q.Query(ctx, `SELECT rule_id, kind, name, points_per_dollar, multiplier_pct, coalesce(department, ''),
			coalesce(promo_id, ''), skus, stores, effective_from::text, coalesce(effective_until::text, '')
		FROM loyalty.rules ORDER BY rule_id`)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	var out []loyalty.Rule
	for rows.Next() {
		var r loyalty.Rule
		if err := rows.Scan(&r.ID, &r.Kind, &r.Name, &r.PointsPerDollar, &r.MultiplierPct, &r.Department, &r.PromoID,
			&r.SKUs, &r.Stores, &r.From, &r.Until); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read rules: %w", err)
		}
		out = append(out, r)
	}
	rows.Close()
	return out, rows.Err()
}

// loadTiers reads the tier thresholds.
func loadTiers(ctx context.Context, q stream.Querier) ([]loyalty.Tier, error) {
	rows, err := q.Query(ctx, `SELECT tier, min_points FROM loyalty.tiers ORDER BY min_points`)
	if err != nil {
		return nil, fmt.Errorf("read tiers: %w", err)
	}
	var out []loyalty.Tier
	for rows.Next() {
		var t loyalty.Tier
		if err := rows.Scan(&t.Name, &t.MinPoints); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read tiers: %w", err)
		}
		out = append(out, t)
	}
	rows.Close()
	return out, rows.Err()
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullUUID(s string) any { return nullText(s) }

func toInt32(xs []int) []int32 {
	out := make([]int32, len(xs))
	for i, x := range xs {
		out[i] = int32(x)
	}
	return out
}

func fromInt32(xs []int32) []int {
	if len(xs) == 0 {
		return nil
	}
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

// unquote returns the schema name of a sanitized identifier ("\"loyalty\"" -> "loyalty").
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
