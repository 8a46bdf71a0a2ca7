package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/loyalty"
)

// RebuildSchema is the schema the rebuild replays into (dropped and recreated each time).
const RebuildSchema = "loyalty_rebuild"

// rebuildTables are the derived tables, copied empty into RebuildSchema (rules and tiers are
// configuration and read from the live schema).
var rebuildTables = []string{"sales", "voids", "ledger", "members", "redemptions"}

// RebuildReport is what Rebuild found.
type RebuildReport struct {
	// Records is how many pos-sales records were replayed; Redemptions how many
	// loyalty.redeemed events, and Later how many of those were made after the live snapshot
	// (left out of the comparison).
	Records, Redemptions, Later int
	LiveRows, RebuiltRows       int
	LiveMembers, RebuiltMembers int
	// Diff is where the rebuilt view differs from the live one (its Differences).
	kit.Diff
}

// Equal reports whether the rebuilt ledger, balances and tiers equal the live ones.
func (r RebuildReport) Equal() bool { return r.Total == 0 }

// Summary says what the rebuild replayed and counted (kit.Rebuilt).
func (r RebuildReport) Summary() string {
	return fmt.Sprintf("replayed %d pos-sales records and %d redemptions into schema %s (%d redemptions after the snapshot left out): %d live ledger rows and %d members, %d and %d rebuilt",
		r.Records, r.Redemptions, RebuildSchema, r.Later, r.LiveRows, r.LiveMembers, r.RebuiltRows, r.RebuiltMembers)
}

// Compared names what the rebuild compared (kit.Rebuilt).
func (r RebuildReport) Compared() string { return "the ledger, balances and tiers" }

// Rebuild replays pos-sales (up to the positions the live service has stored) and the loyalty
// topic into fresh tables in RebuildSchema and compares the ledger rows (by sale, kind and rule,
// or redemption), the balances and the 12-month points and tiers as of now with a snapshot of
// the live view taken with those positions. The redemptions it replays are those of the
// snapshot: it waits (up to 30 s) for the relay to have produced them, and a redemption made
// after the snapshot is counted in Later and left out. The live service may keep running. s is
// a service built with RebuildOptions.
func Rebuild(ctx context.Context, s *kit.Service, cfg Config) (RebuildReport, error) {
	var rep RebuildReport
	if s.Pool == nil {
		return rep, errors.New("rebuild: the service needs Postgres (build it with RebuildOptions)")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return rep, err
	}
	now := cfg.Clock.Now()
	var target map[string]map[int32]int64
	var live view
	var maxOutbox int64
	err = pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if target, err = stream.StoredPositions(ctx, tx, Schema, Group); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM loyalty.outbox`).Scan(&maxOutbox); err != nil {
			return err
		}
		live, err = readView(ctx, tx, Schema)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("rebuild: snapshot live view: %w", err)
	}
	tiers, err := loadTiers(ctx, s.Pool)
	if err != nil {
		return rep, err
	}
	if err := kit.PrepareRebuild(ctx, s.Pool, "loyalty", RebuildSchema, rebuildTables); err != nil {
		return rep, err
	}
	f := newFolder(RebuildSchema, cfg, s.Log, newMetrics(prometheus.NewRegistry(), nil))
	opts := append(s.KafkaOpts("rebuild"), kgo.SeedBrokers(s.Brokers...))
	rep.Records, err = stream.Replay(ctx, opts, map[string]map[int32]int64{schemas.TopicPOSSales: target[schemas.TopicPOSSales]}, 2000,
		func(batch []*kgo.Record) error {
			evs := make([]events.Event, 0, len(batch))
			for _, r := range batch {
				if ev, err := events.Parse(r); err == nil {
					evs = append(evs, ev)
				}
			}
			return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return f.apply(ctx, tx, evs, now) })
		})
	if err != nil {
		return rep, fmt.Errorf("rebuild: replay pos-sales: %w", err)
	}
	ends, err := relayedEnds(ctx, s, maxOutbox)
	if err != nil {
		return rep, err
	}
	_, err = stream.Replay(ctx, opts, map[string]map[int32]int64{schemas.TopicLoyalty: ends}, 2000, func(batch []*kgo.Record) error {
		return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
			for _, r := range batch {
				ev, err := events.Parse(r)
				if err != nil || ev.Type != schemas.TypeLoyaltyRedeemed {
					continue
				}
				red, err := events.Decode[schemas.LoyaltyRedeemed](ev)
				if err != nil {
					continue
				}
				if !live.redemptions[red.RedemptionID] {
					rep.Later++
					continue
				}
				rep.Redemptions++
				red.RedeemedAt = red.RedeemedAt.UTC()
				if err := recordRedemption(ctx, tx, RebuildSchema, red); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return rep, fmt.Errorf("rebuild: replay loyalty: %w", err)
	}
	rebuilt, err := readView(ctx, s.Pool, RebuildSchema)
	if err != nil {
		return rep, err
	}
	lm, rm := live.members(now, tiers), rebuilt.members(now, tiers)
	rep.LiveRows, rep.RebuiltRows = len(live.rows), len(rebuilt.rows)
	rep.LiveMembers, rep.RebuiltMembers = len(lm), len(rm)
	rep.Compare("ledger row", live.rows, rebuilt.rows)
	rep.Compare("member", lm, rm)
	return rep, nil
}

// relayedEnds waits until the relay has produced every outbox row up to maxOutbox and returns
// the loyalty topic's end offsets then.
func relayedEnds(ctx context.Context, s *kit.Service, maxOutbox int64) (map[int32]int64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var unsent int64
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM loyalty.outbox WHERE id <= $1 AND sent_at IS NULL`, maxOutbox).Scan(&unsent); err != nil {
			return nil, fmt.Errorf("rebuild: outbox: %w", err)
		}
		if unsent == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("rebuild: %d redemptions of the snapshot are still in the outbox after 30s (is the loyalty service running?)", unsent)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	cl, err := kgo.NewClient(append(s.KafkaOpts("rebuild-offsets"), kgo.SeedBrokers(s.Brokers...))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListEndOffsets(lctx, schemas.TopicLoyalty)
	if err != nil {
		return nil, fmt.Errorf("rebuild: loyalty end offsets: %w", err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			ends[o.Partition] = o.Offset
		}
	})
	return ends, nil
}

// view is a schema's ledger rows (by what they are for), stored balances and the rows of the
// 12-month window, per member.
type view struct {
	rows        map[string]string
	balances    map[string]int64
	sums        map[string]int64
	counted     map[string][]loyalty.Counted
	redemptions map[string]bool
}

func readView(ctx context.Context, q querier, schema string) (view, error) {
	sch := pgx.Identifier{schema}.Sanitize()
	v := view{rows: map[string]string{}, balances: map[string]int64{}, sums: map[string]int64{},
		counted: map[string][]loyalty.Counted{}, redemptions: map[string]bool{}}
	rows, err := q.Query(ctx, `SELECT loyalty_id, kind, coalesce(sale_id::text, ''), coalesce(rule_id, ''), lines,
			coalesce(redemption_id::text, ''), coalesce(store_id, ''), points, at, coalesce(day::text, ''), counts_at
		FROM `+sch+`.ledger`)
	if err != nil {
		return v, fmt.Errorf("read %s ledger: %w", schema, err)
	}
	for rows.Next() {
		var member, kind, sale, rule, red, store, day string
		var lines []int32
		var pts int64
		var at, counts time.Time
		if err := rows.Scan(&member, &kind, &sale, &rule, &lines, &red, &store, &pts, &at, &day, &counts); err != nil {
			rows.Close()
			return v, fmt.Errorf("read %s ledger: %w", schema, err)
		}
		key := kind + " " + sale + " " + rule
		if kind == loyalty.EntryRedeem {
			key = kind + " " + red
			v.redemptions[red] = true
		} else {
			v.counted[member] = append(v.counted[member], loyalty.Counted{Points: pts, CountsAt: counts})
		}
		v.rows[key] = fmt.Sprintf("%s %d at %s day %s counts %s store %s lines %v", member, pts, at.UTC().Format(time.RFC3339Nano),
			day, counts.UTC().Format(time.RFC3339Nano), store, lines)
		v.sums[member] += pts
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("read %s ledger: %w", schema, err)
	}
	rows, err = q.Query(ctx, `SELECT loyalty_id, balance FROM `+sch+`.members`)
	if err != nil {
		return v, fmt.Errorf("read %s members: %w", schema, err)
	}
	for rows.Next() {
		var id string
		var b int64
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return v, fmt.Errorf("read %s members: %w", schema, err)
		}
		v.balances[id] = b
	}
	rows.Close()
	return v, rows.Err()
}

// members describes every member with a non-zero balance, ledger sum or 12-month standing as
// of now, as a line (a member row with nothing is the same as no row: a card never seen).
func (v view) members(now time.Time, tiers []loyalty.Tier) map[string]string {
	ids := map[string]bool{}
	for id := range v.balances {
		ids[id] = true
	}
	for id := range v.sums {
		ids[id] = true
	}
	out := map[string]string{}
	for id := range ids {
		st := loyalty.StandingAt(v.counted[id], now, tiers)
		if v.balances[id] == 0 && v.sums[id] == 0 && st.Points12m == 0 {
			continue
		}
		out[id] = fmt.Sprintf("balance %d (ledger sum %d), %d points in 12 months, %s", v.balances[id], v.sums[id], st.Points12m, st.Tier)
	}
	return out
}
