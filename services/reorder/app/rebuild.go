package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
)

// RebuildSchema is the schema the rebuild replays into (dropped and recreated each time).
const RebuildSchema = "reorder_rebuild"

// rebuildTables are the view's tables, copied empty into RebuildSchema.
var rebuildTables = []string{"alerts_seen", "purchase_orders", "po_lines", "deliveries", "invoices", "emails"}

// RebuildReport is what Rebuild found.
type RebuildReport struct {
	Records                   int
	LiveOrders, RebuiltOrders int
	// Diff is where the rebuilt view differs from the live one (its Differences).
	kit.Diff
}

// Equal reports whether the rebuilt view equals the live one.
func (r RebuildReport) Equal() bool { return r.Total == 0 }

// Summary says what the rebuild replayed and counted (kit.Rebuilt).
func (r RebuildReport) Summary() string {
	return fmt.Sprintf("replayed %d records into schema %s: %d live purchase orders, %d rebuilt",
		r.Records, RebuildSchema, r.LiveOrders, r.RebuiltOrders)
}

// Compared names what the rebuild compared (kit.Rebuilt).
func (r RebuildReport) Compared() string { return "orders, lines, deliveries, invoices and emails" }

// Rebuild replays store-alerts, vendor-deliveries and purchasing from the start into fresh
// tables in RebuildSchema, each partition up to the position the live service has consumed,
// seals the orders whose window has passed by now, and compares orders (PO numbers, status,
// times, lines with receipts and invoiced units), deliveries, invoices (status, reason, diffs)
// and the emails of the sealed orders, byte for byte, with a snapshot of the live view taken
// with those positions. An order whose window has passed counts as sealed on both sides,
// whether or not its timer has fired yet. The live service may keep running meanwhile.
//
// Within a partition the replay folds in the live order. Across topics (an alert, a delivery,
// an invoice or a cancellation of one store) the live consumer folds records about in the
// order they were written, so the replay merges the partitions by the records' timestamps;
// only records written within moments of each other while the live consumer was behind can
// have been folded live in the other order (never in practice: a cancellation, delivery or
// invoice follows its order by minutes to days). The view is checked, not the alerts emitted:
// a replay validates them and drops them. The records are held in memory, only those of the
// four types the view is made of.
func Rebuild(ctx context.Context, s *kit.Service, cfg Config) (RebuildReport, error) {
	var rep RebuildReport
	if s.Pool == nil {
		return rep, errors.New("rebuild: the service needs Postgres (build it with RebuildOptions)")
	}
	cfg = cfg.withDefaults()
	cat, err := cfg.catalog()
	if err != nil {
		return rep, err
	}
	now := cfg.Clock.Now()
	var target map[string]map[int32]int64
	var live map[string]string
	err = pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if target, err = stream.StoredPositions(ctx, tx, "reorder", Group); err != nil {
			return err
		}
		live, err = readView(ctx, tx, "reorder", now)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("rebuild: snapshot live view: %w", err)
	}
	if err := kit.PrepareRebuild(ctx, s.Pool, "reorder", RebuildSchema, rebuildTables); err != nil {
		return rep, err
	}
	f := newFolder(RebuildSchema, cat, cfg, s.Log, newMetrics(nil))
	rec := &recorder{timers: map[string]time.Time{}}
	// The live consumer folds records about in the order they were written, whatever their
	// topic; a replay fetches each topic at its own pace. So the replay collects the records
	// the view is made of, per partition, and folds them merged by their timestamps (each
	// partition's order kept).
	parts := map[string][]stamped{}
	rep.Records, err = stream.Replay(ctx, append(s.KafkaOpts("rebuild"), kgo.SeedBrokers(s.Brokers...)), target, 2000,
		func(batch []*kgo.Record) error {
			for _, r := range batch {
				ev, err := events.Parse(r)
				if err != nil || !folded(ev) {
					continue
				}
				k := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
				parts[k] = append(parts[k], stamped{ev: ev, at: r.Timestamp})
			}
			return nil
		})
	if err != nil {
		return rep, fmt.Errorf("rebuild: %w", err)
	}
	merged := mergeByTime(parts)
	for len(merged) > 0 {
		n := min(len(merged), 2000)
		evs := make([]events.Event, n)
		for i := range n {
			evs[i] = merged[i].ev
		}
		merged = merged[n:]
		if err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return f.apply(ctx, tx, rec, evs) }); err != nil {
			return rep, fmt.Errorf("rebuild: %w", err)
		}
	}
	keys := make([]string, 0, len(rec.timers))
	for k, at := range rec.timers {
		if !at.After(now) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		po := strings.TrimPrefix(k, sealPrefix)
		if err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return f.seal(ctx, tx, po, rec.timers[k]) }); err != nil {
			return rep, fmt.Errorf("rebuild: %w", err)
		}
	}
	rebuilt, err := readView(ctx, s.Pool, RebuildSchema, now)
	if err != nil {
		return rep, err
	}
	for k := range live {
		if strings.HasPrefix(k, "po ") {
			rep.LiveOrders++
		}
	}
	for k := range rebuilt {
		if strings.HasPrefix(k, "po ") {
			rep.RebuiltOrders++
		}
	}
	// An email the live service has not composed yet (its timer is due but has not fired)
	// is not a difference.
	for k := range rebuilt {
		if po, ok := strings.CutPrefix(k, "email "); ok {
			if _, ok := live[k]; !ok {
				if _, sealed := live["sealed "+po]; !sealed {
					delete(rebuilt, k)
				}
			}
		}
	}
	for k := range live {
		if strings.HasPrefix(k, "sealed ") {
			delete(live, k)
		}
	}
	for k := range rebuilt {
		if strings.HasPrefix(k, "sealed ") {
			delete(rebuilt, k)
		}
	}
	rep.Compare("", live, rebuilt)
	return rep, nil
}

// stamped is a replayed event with its record's timestamp.
type stamped struct {
	ev events.Event
	at time.Time
}

// folded reports whether the folder acts on ev (the rebuild keeps only those).
func folded(ev events.Event) bool {
	switch ev.Type {
	case schemas.TypeAlertLowStock:
		return ev.Topic == schemas.TopicStoreAlerts
	case schemas.TypeDeliveryReceived:
		return ev.Topic == schemas.TopicVendorDeliveries
	case schemas.TypePOCancelled, schemas.TypeInvoiceReceived:
		return ev.Topic == schemas.TopicPurchasing
	}
	return false
}

// mergeByTime merges per-partition lists into one by timestamp, keeping each list's order
// (ties: the partition key's order).
func mergeByTime(parts map[string][]stamped) []stamped {
	keys := make([]string, 0, len(parts))
	total := 0
	for k, p := range parts {
		keys = append(keys, k)
		total += len(p)
	}
	slices.Sort(keys)
	out := make([]stamped, 0, total)
	next := make([]int, len(keys))
	for len(out) < total {
		best := -1
		for i, k := range keys {
			if next[i] == len(parts[k]) {
				continue
			}
			if best < 0 || parts[k][next[i]].at.Before(parts[keys[best]][next[best]].at) {
				best = i
			}
		}
		out = append(out, parts[keys[best]][next[best]])
		next[best]++
	}
	return out
}

// recorder is the rebuild's sink: events are validated and dropped, timers kept so the due
// ones can be fired after the replay.
type recorder struct {
	timers map[string]time.Time
}

func (r *recorder) EmitFor(_ context.Context, _ events.Event, _ int, o events.Out) (string, error) {
	v, err := o.Value()
	if err != nil {
		return "", err
	}
	return "", schemas.Validate(o.Type, v)
}

func (r *recorder) SetTimerFor(_ context.Context, _ events.Event, t stream.Timer) error {
	r.timers[t.Key] = t.At.Truncate(time.Microsecond)
	return nil
}

func (r *recorder) CancelTimerFor(_ context.Context, _ events.Event, key string) error {
	delete(r.timers, key)
	return nil
}

// readView describes every row of the view as one line, by a key naming it ("po <number>",
// "delivery <id>", "invoice <id>", "email <po>"), and "sealed <po>" for the orders sealed.
func readView(ctx context.Context, q stream.Querier, schema string, now time.Time) (map[string]string, error) {
	sch := pgx.Identifier{schema}.Sanitize()
	out := map[string]string{}
	read := func(kind, sql string, args ...any) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("read %s %s: %w", schema, kind, err)
		}
		defer rows.Close()
		for rows.Next() {
			var key, line string
			if err := rows.Scan(&key, &line); err != nil {
				return fmt.Errorf("read %s %s: %w", schema, kind, err)
			}
			out[kind+" "+key] = line
		}
		return rows.Err()
	}
	if err := read("po", `SELECT o.po_number, concat_ws(' ', o.store_id, o.vendor_id, o.seq, o.status, o.opened_at, o.closes_at,
			CASE WHEN o.sealed_at IS NOT NULL OR o.closes_at <= $1 THEN 'sealed' ELSE 'unsealed' END,
			o.requested_delivery_date, o.received_at, o.cancelled_at, o.cancel_reason,
			(SELECT string_agg(concat_ws(':', l.line_no, l.sku, l.qty, l.unit_cost_cents, l.received, l.invoiced, l.alert_id), ',' ORDER BY l.line_no)
				FROM `+sch+`.po_lines l WHERE l.po_number = o.po_number))
		FROM `+sch+`.purchase_orders o`, now); err != nil {
		return nil, err
	}
	if err := read("delivery", `SELECT delivery_id::text, concat_ws(' ', store_id, vendor_id, po_number, matched, received_at, lines::text, reason)
		FROM `+sch+`.deliveries`); err != nil {
		return nil, err
	}
	if err := read("invoice", `SELECT invoice_id, concat_ws(' ', vendor_id, po_number, store_id, lines::text, status, reason, diffs::text, received_at, decided_at)
		FROM `+sch+`.invoices`); err != nil {
		return nil, err
	}
	if err := read("email", `SELECT po_number, concat_ws(' ', recipient, queued_at, md5(message)) FROM `+sch+`.emails`); err != nil {
		return nil, err
	}
	if err := read("sealed", `SELECT po_number, '' FROM `+sch+`.purchase_orders WHERE sealed_at IS NOT NULL`); err != nil {
		return nil, err
	}
	return out, nil
}
