package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/complaints"
)

// lookBack is how far before a batch's complaints the folder loads a store and SKU's history:
// complaints are accepted up to 24 hours late, so an episode that a new complaint can still
// touch is well inside it (an episode longer than this would need a complaint every half hour
// for a week).
const lookBack = 7 * 24 * time.Hour

// alertSlot is the slot of a complaint's position that names the alert of an episode it opens
// (events.DerivedID); the events it causes use slots from 0.
const alertSlot = 1 << 20

// timerPrefix starts the key of an episode's resolution timer: "spike/<alert id>".
const timerPrefix = "spike/"

// sink is where a fold writes what follows from it: *stream.Tx in the live service, a
// recorder in the rebuild.
type sink interface {
	EmitFor(ctx context.Context, in events.Event, slot int, o events.Out) (string, error)
	SetTimerFor(ctx context.Context, in events.Event, t stream.Timer) error
	CancelTimerFor(ctx context.Context, in events.Event, key string) error
}

// emitter is where a timer's resolution goes: *stream.Tx in a TimerHandler.
type emitter interface {
	Emit(ctx context.Context, o events.Out) (string, error)
}

// folder applies complaint.filed events to the tables of one schema ("complaints", or the
// rebuild's).
type folder struct {
	cat     *catalog.Catalog
	cfg     Config
	log     *slog.Logger
	m       *metrics
	schema  string // sanitized identifier
	vendors map[string]string
}

func newFolder(cat *catalog.Catalog, cfg Config, log *slog.Logger, m *metrics) *folder {
	return newFolderIn("complaints", cat, cfg, log, m)
}

func newFolderIn(schema string, cat *catalog.Catalog, cfg Config, log *slog.Logger, m *metrics) *folder {
	f := &folder{cat: cat, cfg: cfg.withDefaults(), log: log, m: m, schema: pgx.Identifier{schema}.Sanitize(), vendors: map[string]string{}}
	for _, p := range cat.Products() {
		f.vendors[p.SKU] = p.VendorID
	}
	return f
}

// arrival is one consumed complaint.
type arrival struct {
	ev events.Event
	c  schemas.ComplaintFiled
}

type itemKey struct{ store, sku string }

// handle is the stream.BatchHandler: it applies a polled batch in the batch's transaction.
func (f *folder) handle(ctx context.Context, tx *stream.Tx, evs []events.Event) error {
	return f.apply(ctx, tx.Tx, tx, evs, f.cfg.Clock.Now())
}

// apply stores the batch's new complaints, runs the rule over every store and SKU they touch,
// one complaint at a time in batch order (so any batching gives the same alerts, ids included),
// writes the changed episodes and sets their timers, then looks for chain-wide spikes.
func (f *folder) apply(ctx context.Context, q pgx.Tx, out sink, evs []events.Event, now time.Time) error {
	var in []arrival
	for _, ev := range evs {
		if ev.Type != schemas.TypeComplaintFiled {
			continue // counted by the consumer as skipped types would be; nothing else is on the topic
		}
		c, err := f.decode(ev)
		if err != nil {
			f.m.complaints.WithLabelValues("rejected").Inc()
			f.log.Warn("skipping complaint", "topic", ev.Topic, "partition", ev.Partition, "offset", ev.Offset, "err", err)
			continue
		}
		in = append(in, arrival{ev, c})
	}
	if len(in) == 0 {
		return nil
	}
	fresh, err := f.insert(ctx, q, in)
	if err != nil {
		return err
	}
	var news []arrival
	seen := map[string]bool{}
	for _, a := range in {
		if fresh[a.c.ComplaintID] && !seen[a.c.ComplaintID] {
			seen[a.c.ComplaintID] = true
			news = append(news, a)
			f.m.complaints.WithLabelValues("new").Inc()
		} else {
			f.m.complaints.WithLabelValues("duplicate").Inc()
		}
	}
	from := map[itemKey]time.Time{}
	for _, a := range news {
		if a.c.SKU == "" {
			continue
		}
		k := itemKey{a.c.StoreID, a.c.SKU}
		if t, ok := from[k]; !ok || a.c.FiledAt.Before(t) {
			from[k] = a.c.FiledAt
		}
	}
	if len(from) == 0 {
		return nil
	}
	items, err := f.load(ctx, q, from, seen)
	if err != nil {
		return err
	}
	dirty := map[string]changed{}
	var order []string
	var opened []opening
	for _, a := range news {
		if a.c.SKU == "" {
			continue
		}
		k := itemKey{a.c.StoreID, a.c.SKU}
		it := items[k]
		ev := a.ev
		changes := it.Add(complaints.Complaint{ID: a.c.ComplaintID, FiledAt: a.c.FiledAt}, now, func() string {
			return events.DerivedID(ev.Topic, ev.Partition, ev.Offset, alertSlot)
		})
		for slot, ch := range changes {
			if err := f.emitChange(ctx, out, ev, slot, k, ch, a.c.FiledAt); err != nil {
				return err
			}
			if _, ok := dirty[ch.AlertID]; !ok {
				order = append(order, ch.AlertID)
			}
			dirty[ch.AlertID] = changed{k, ch.Tracked}
			key := timerPrefix + ch.AlertID
			switch {
			case ch.Kind == complaints.Absorbed:
				if err := out.CancelTimerFor(ctx, ev, key); err != nil {
					return err
				}
			case ch.Status == complaints.Active:
				if err := out.SetTimerFor(ctx, ev, stream.Timer{Key: key, At: ch.End(f.cfg.Rule)}); err != nil {
					return err
				}
			}
			if ch.Kind == complaints.Opened {
				opened = append(opened, opening{ev: ev, item: k, alertID: ch.AlertID, at: ch.Start})
			}
		}
	}
	if err := f.store(ctx, q, dirty, order); err != nil {
		return err
	}
	for _, o := range opened {
		// A complaint opens at most one episode, so one slot past the alert's names its chain event.
		if err := f.chain(ctx, q, out, o, alertSlot+1); err != nil {
			return err
		}
	}
	return nil
}

// decode checks a consumed complaint as the intake does, except for its age (a replay is
// old by nature).
func (f *folder) decode(ev events.Event) (schemas.ComplaintFiled, error) {
	if err := schemas.Validate(ev.Type, ev.Data); err != nil {
		return schemas.ComplaintFiled{}, err
	}
	c, err := events.Decode[schemas.ComplaintFiled](ev)
	if err != nil {
		return c, err
	}
	if _, err := f.cat.Store(c.StoreID); err != nil {
		return c, fmt.Errorf("complaint %s: unknown store %q", c.ComplaintID, c.StoreID)
	}
	if c.SKU != "" {
		if _, err := f.cat.Product(c.SKU); err != nil {
			return c, fmt.Errorf("complaint %s: unknown SKU %q", c.ComplaintID, c.SKU)
		}
	}
	return c, nil
}

// emitChange emits the event of one change to one episode.
func (f *folder) emitChange(ctx context.Context, out sink, ev events.Event, slot int, k itemKey, ch complaints.Change, at time.Time) error {
	p := f.payload(k, ch.Tracked, at)
	typ := schemas.TypeAlertComplaintSpike
	switch ch.Kind {
	case complaints.Updated:
		typ = schemas.TypeAlertComplaintSpikeUpdated
		p.MergedAlertIDs = ch.Merged
	case complaints.Absorbed:
		typ = schemas.TypeAlertComplaintSpikeResolved
		p.Reason, p.MergedInto = "merged", ch.MergedInto
	}
	if _, err := out.EmitFor(ctx, ev, slot, events.Out{Topic: schemas.TopicStoreAlerts, Key: k.store, Type: typ, Payload: p}); err != nil {
		return fmt.Errorf("complaint spike %s: %w", ch.AlertID, err)
	}
	f.m.alerts.WithLabelValues(typ).Inc()
	return nil
}

func (f *folder) payload(k itemKey, t complaints.Tracked, at time.Time) schemas.ComplaintSpike {
	return schemas.ComplaintSpike{
		AlertID: t.AlertID, StoreID: k.store, SKU: k.sku, ComplaintIDs: t.IDs(), Count: int64(len(t.Members)),
		FirstFiledAt: t.First.UTC(), LastFiledAt: t.Last.UTC(), OpenedAt: t.Start.UTC(), EndsAt: t.End(f.cfg.Rule).UTC(),
		WindowMinutes: int64(f.cfg.Rule.Window / time.Minute), Threshold: int64(f.cfg.Rule.Threshold), At: at.UTC(),
	}
}

// fire is the stream.TimerHandler: an episode's end has come.
func (f *folder) fire(ctx context.Context, tx *stream.Tx, t stream.Timer) error {
	id, ok := alertOfTimer(t.Key)
	if !ok {
		f.log.Warn("dropping a timer of an unknown kind", "key", t.Key)
		return nil
	}
	return f.resolve(ctx, tx.Tx, tx, id, t.At)
}

func alertOfTimer(key string) (string, bool) {
	if len(key) <= len(timerPrefix) || key[:len(timerPrefix)] != timerPrefix {
		return "", false
	}
	id := key[len(timerPrefix):]
	if _, err := uuid.Parse(id); err != nil {
		return "", false
	}
	return id, true
}

// resolve marks the episode alertID resolved at at, its end, and emits
// alert.complaint_spike_resolved, unless it grew since, is already resolved or was merged.
func (f *folder) resolve(ctx context.Context, q pgx.Tx, out emitter, alertID string, at time.Time) error {
	var k itemKey
	var t complaints.Tracked
	var ids []string
	var status string
	err := q.QueryRow(ctx, `SELECT store_id, sku, complaint_ids::text[], opened_at, first_filed_at, last_filed_at, status
		FROM `+f.schema+`.episodes WHERE alert_id = $1 FOR UPDATE`, alertID).
		Scan(&k.store, &k.sku, &ids, &t.Start, &t.First, &t.Last, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resolve %s: %w", alertID, err)
	}
	t.AlertID = alertID
	for _, id := range ids {
		t.Members = append(t.Members, complaints.Complaint{ID: id})
	}
	end := t.End(f.cfg.Rule)
	if complaints.Status(status) != complaints.Active || end.After(at) {
		return nil
	}
	if _, err := q.Exec(ctx, `UPDATE `+f.schema+`.episodes SET status = 'resolved', resolved_at = $2 WHERE alert_id = $1`, alertID, end); err != nil {
		return fmt.Errorf("resolve %s: %w", alertID, err)
	}
	p := f.payload(k, t, end)
	p.Reason = "quiet"
	if _, err := out.Emit(ctx, events.Out{Topic: schemas.TopicStoreAlerts, Key: k.store, Type: schemas.TypeAlertComplaintSpikeResolved, Payload: p}); err != nil {
		return fmt.Errorf("resolve %s: %w", alertID, err)
	}
	f.m.alerts.WithLabelValues(schemas.TypeAlertComplaintSpikeResolved).Inc()
	return nil
}

// opening is an episode that opened in the batch, for the chain-wide check.
type opening struct {
	ev      events.Event
	item    itemKey
	alertID string
	at      time.Time
}

// chainLookaround bounds how far, in opening time, the chain check loads a SKU's spikes around
// a new one: a chain-wide run longer than this (a spike every day for a month in one SKU) is
// cut there.
const chainLookaround = 30 * 24 * time.Hour

// chain records a store's new spike against its SKU's chain-wide spikes. The SKU's spikes form
// groups: two spikes opened within ChainWindow of each other are in one group, and so are the
// spikes linked through such pairs (so the group is the same whatever order stores' complaints
// are consumed in). A group spanning two or more stores is chain-wide: the first time one is,
// alert.complaint_chain_spike names its stores and the vendor; spikes that join it later update
// its row without a new alert, and a spike that links two chain-wide groups merges the later
// into the earlier.
func (f *folder) chain(ctx context.Context, q pgx.Tx, out sink, o opening, slot int) error {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "freshmart_complaints_chain/"+o.item.sku); err != nil {
		return fmt.Errorf("chain %s: lock: %w", o.item.sku, err)
	}
	type spike struct {
		store, alert string
		at           time.Time
	}
	rows, err := q.Query(ctx, `SELECT store_id, alert_id::text, opened_at FROM `+f.schema+`.episodes
		WHERE sku = $1 AND status <> 'merged' AND opened_at BETWEEN $2::timestamptz - $3::interval AND $2::timestamptz + $3::interval
		ORDER BY opened_at, alert_id`, o.item.sku, o.at, chainLookaround.String())
	if err != nil {
		return fmt.Errorf("chain %s: %w", o.item.sku, err)
	}
	var all []spike
	for rows.Next() {
		var s spike
		if err := rows.Scan(&s.store, &s.alert, &s.at); err != nil {
			rows.Close()
			return fmt.Errorf("chain %s: %w", o.item.sku, err)
		}
		all = append(all, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("chain %s: %w", o.item.sku, err)
	}
	// The group of the new spike: sorted by opening, a group is a run without a gap longer
	// than the window.
	w := f.cfg.ChainWindow
	at := slices.IndexFunc(all, func(s spike) bool { return s.alert == o.alertID })
	if at < 0 {
		return nil
	}
	lo, hi := at, at
	for lo > 0 && all[lo].at.Sub(all[lo-1].at) <= w {
		lo--
	}
	for hi+1 < len(all) && all[hi+1].at.Sub(all[hi].at) <= w {
		hi++
	}
	group := all[lo : hi+1]
	var stores, alerts []string
	for _, s := range group {
		if !slices.Contains(stores, s.store) {
			stores = append(stores, s.store)
		}
		alerts = append(alerts, s.alert)
	}
	if len(stores) < 2 {
		return nil
	}
	// The chain spikes the group already holds (through any of its spikes), earliest first.
	rows, err = q.Query(ctx, `SELECT alert_id::text FROM `+f.schema+`.chain_spikes
		WHERE sku = $1 AND spike_alert_ids && $2::uuid[] ORDER BY first_opened_at, alert_id`, o.item.sku, alerts)
	if err != nil {
		return fmt.Errorf("chain %s: %w", o.item.sku, err)
	}
	chains, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("chain %s: %w", o.item.sku, err)
	}
	p := schemas.ComplaintChainSpike{
		SKU: o.item.sku, VendorID: f.vendors[o.item.sku], StoreIDs: stores, SpikeAlertIDs: alerts,
		WindowHours: int64(w / time.Hour), FirstOpenedAt: group[0].at.UTC(), At: o.at.UTC(),
	}
	if len(chains) > 0 {
		if _, err := q.Exec(ctx, `UPDATE `+f.schema+`.chain_spikes SET store_ids = $2, spike_alert_ids = $3::uuid[],
			first_opened_at = $4 WHERE alert_id = $1`, chains[0], stores, alerts, p.FirstOpenedAt); err != nil {
			return fmt.Errorf("chain %s: %w", o.item.sku, err)
		}
		if len(chains) > 1 {
			if _, err := q.Exec(ctx, `DELETE FROM `+f.schema+`.chain_spikes WHERE alert_id = ANY($1::uuid[])`, chains[1:]); err != nil {
				return fmt.Errorf("chain %s: %w", o.item.sku, err)
			}
		}
		return nil
	}
	p.AlertID = chainAlertID(o.item.sku, group[0].at)
	if _, err := q.Exec(ctx, `INSERT INTO `+f.schema+`.chain_spikes (alert_id, sku, vendor_id, store_ids, spike_alert_ids, first_opened_at, at)
		VALUES ($1, $2, $3, $4, $5::uuid[], $6, $7) ON CONFLICT (alert_id) DO NOTHING`,
		p.AlertID, p.SKU, p.VendorID, p.StoreIDs, p.SpikeAlertIDs, p.FirstOpenedAt, p.At); err != nil {
		return fmt.Errorf("chain %s: %w", o.item.sku, err)
	}
	if _, err := out.EmitFor(ctx, o.ev, slot, events.Out{Topic: schemas.TopicStoreAlerts, Key: o.item.sku,
		Type: schemas.TypeAlertComplaintChainSpike, Payload: p}); err != nil {
		return fmt.Errorf("chain %s: %w", o.item.sku, err)
	}
	f.m.alerts.WithLabelValues(schemas.TypeAlertComplaintChainSpike).Inc()
	return nil
}

// chainNamespace is the UUID namespace of chain spike alert ids.
var chainNamespace = uuid.MustParse("5f0c2b8e-91d4-4e6a-b3c7-2a9d8e1f4c60")

// chainAlertID names a chain-wide spike by its SKU and the opening of the earliest spike of its
// group when it became chain-wide.
func chainAlertID(sku string, first time.Time) string {
	return uuid.NewSHA1(chainNamespace, fmt.Appendf(nil, "%s/%d", sku, first.UnixNano())).String()
}
