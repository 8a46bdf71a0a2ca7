package app

import (
	"context"
	"encoding/json"
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
const RebuildSchema = "complaints_rebuild"

// rebuildTables are the view's tables, copied empty into RebuildSchema.
var rebuildTables = []string{"complaints", "episodes", "chain_spikes"}

// RebuildReport is what Rebuild found.
type RebuildReport struct {
	Records                       int
	LiveEpisodes, RebuiltEpisodes int
	LiveChains, RebuiltChains     int
	// Diff is where the rebuilt view differs from the live one (its Differences).
	kit.Diff
}

// Equal reports whether the rebuilt view equals the live one.
func (r RebuildReport) Equal() bool { return r.Total == 0 }

// Summary says what the rebuild replayed and counted (kit.Rebuilt).
func (r RebuildReport) Summary() string {
	return fmt.Sprintf("replayed %d records into schema %s: %d live episodes and %d chain spikes, %d and %d rebuilt",
		r.Records, RebuildSchema, r.LiveEpisodes, r.LiveChains, r.RebuiltEpisodes, r.RebuiltChains)
}

// Compared names what the rebuild compared (kit.Rebuilt).
func (r RebuildReport) Compared() string { return "episodes and chain spikes, alert ids included" }

// Rebuild replays customer-complaints from the start into fresh tables in RebuildSchema,
// stopping each partition at the position the live service has consumed, fires the resolution
// timers that are due, and compares the episodes (alert ids, members, times and status) and
// the chain spikes (by the spikes they group) with a snapshot of the live view taken with those positions. An episode
// whose end has passed counts as resolved on both sides, whether or not its timer has fired
// yet. The live service may keep running meanwhile. s is a service built with RebuildOptions.
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
	var target map[string]map[int32]int64
	var live viewRows
	now := cfg.Clock.Now()
	err = pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if target, err = stream.StoredPositions(ctx, tx, "complaints", Group); err != nil {
			return err
		}
		live, err = readView(ctx, tx, "complaints", now)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("rebuild: snapshot live view: %w", err)
	}
	if err := kit.PrepareRebuild(ctx, s.Pool, "complaints", RebuildSchema, rebuildTables); err != nil {
		return rep, err
	}
	f := newFolderIn(RebuildSchema, cat, cfg, s.Log, newMetrics(s.Registry))
	rec := &recorder{timers: map[string]time.Time{}}
	rep.Records, err = stream.Replay(ctx, append(s.KafkaOpts("rebuild"), kgo.SeedBrokers(s.Brokers...)), target, 2000,
		func(batch []*kgo.Record) error {
			evs := make([]events.Event, 0, len(batch))
			for _, r := range batch {
				if ev, err := events.Parse(r); err == nil {
					evs = append(evs, ev)
				}
			}
			return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return f.apply(ctx, tx, rec, evs, now) })
		})
	if err != nil {
		return rep, fmt.Errorf("rebuild: %w", err)
	}
	// The timers the live service has fired by now.
	keys := make([]string, 0, len(rec.timers))
	for k, at := range rec.timers {
		if !at.After(now) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		id, _ := alertOfTimer(k)
		if err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return f.resolve(ctx, tx, rec, id, rec.timers[k]) }); err != nil {
			return rep, fmt.Errorf("rebuild: %w", err)
		}
	}
	rebuilt, err := readView(ctx, s.Pool, RebuildSchema, now)
	if err != nil {
		return rep, err
	}
	rep.LiveEpisodes, rep.RebuiltEpisodes = len(live.episodes), len(rebuilt.episodes)
	rep.LiveChains, rep.RebuiltChains = len(live.chains), len(rebuilt.chains)
	rep.Compare("episode", live.episodes, rebuilt.episodes)
	rep.Compare("chain spike", live.chains, rebuilt.chains)
	return rep, nil
}

// recorder is the rebuild's sink: events are validated as the live service would and
// dropped; timers are kept so the due ones can be fired after the replay.
type recorder struct {
	timers map[string]time.Time
}

func (r *recorder) EmitFor(_ context.Context, _ events.Event, _ int, o events.Out) (string, error) {
	return "", r.check(o)
}

func (r *recorder) Emit(_ context.Context, o events.Out) (string, error) { return "", r.check(o) }

func (r *recorder) check(o events.Out) error {
	v, err := o.Value()
	if err != nil {
		return err
	}
	return schemas.Validate(o.Type, v)
}

func (r *recorder) SetTimerFor(_ context.Context, _ events.Event, t stream.Timer) error {
	r.timers[t.Key] = t.At.Truncate(time.Microsecond)
	return nil
}

func (r *recorder) CancelTimerFor(_ context.Context, _ events.Event, key string) error {
	delete(r.timers, key)
	return nil
}

// viewRows are the view's episodes and chain spikes, by alert id, each described as a line.
type viewRows struct {
	episodes, chains map[string]string
}

func readView(ctx context.Context, q stream.Querier, schema string, now time.Time) (viewRows, error) {
	sch := pgx.Identifier{schema}.Sanitize()
	v := viewRows{episodes: map[string]string{}, chains: map[string]string{}}
	rows, err := q.Query(ctx, `SELECT alert_id::text, store_id, sku, complaint_ids::text[], opened_at, first_filed_at, last_filed_at,
			ends_at, CASE WHEN status = 'active' AND ends_at <= $1 THEN 'resolved' ELSE status END, coalesce(merged_into::text, '')
		FROM `+sch+`.episodes`, now)
	if err != nil {
		return v, fmt.Errorf("read %s episodes: %w", schema, err)
	}
	for rows.Next() {
		var id, store, sku, status, merged string
		var ids []string
		var opened, first, last, ends time.Time
		if err := rows.Scan(&id, &store, &sku, &ids, &opened, &first, &last, &ends, &status, &merged); err != nil {
			rows.Close()
			return v, fmt.Errorf("read %s episodes: %w", schema, err)
		}
		v.episodes[id] = fmt.Sprintf("%s/%s %s opened %s, %s..%s ends %s merged into %q: %s", store, sku, status,
			opened.UTC().Format(time.RFC3339), first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339),
			ends.UTC().Format(time.RFC3339), merged, strings.Join(ids, ","))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("read %s episodes: %w", schema, err)
	}
	rows, err = q.Query(ctx, `SELECT sku, vendor_id, store_ids, spike_alert_ids::text[], first_opened_at FROM `+sch+`.chain_spikes`)
	if err != nil {
		return v, fmt.Errorf("read %s chain spikes: %w", schema, err)
	}
	for rows.Next() {
		var sku, vendor string
		var stores, alerts []string
		var first time.Time
		if err := rows.Scan(&sku, &vendor, &stores, &alerts, &first); err != nil {
			rows.Close()
			return v, fmt.Errorf("read %s chain spikes: %w", schema, err)
		}
		// A chain-wide group is the same set of spikes whatever order the stores' partitions
		// were consumed in, but its id is taken from the group as it stood when it first spanned
		// two stores, which that order can change: chains are compared by their spikes.
		slices.Sort(stores)
		slices.Sort(alerts)
		b, _ := json.Marshal([]any{sku, vendor, stores, first.UTC()})
		v.chains[strings.Join(alerts, ",")] = string(b)
	}
	rows.Close()
	return v, rows.Err()
}
