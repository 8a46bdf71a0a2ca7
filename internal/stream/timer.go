package stream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
)

// Timer is work a handler asked for at a time: see "Timers" in the package documentation.
type Timer struct {
	// Key names the timer within its partition: setting a key again replaces its timer
	// ("S001/PRD-0001", "S001/business-day"). Required.
	Key string
	// At is when the timer is due on the consumer's Clock. It is kept to the microsecond
	// (Postgres timestamptz); the fired Timer carries the stored value, in UTC. Required.
	At time.Time
	// Data is handed back to the TimerHandler: JSON, or nil. It is stored as jsonb, so what
	// comes back is equivalent JSON, not necessarily the same bytes.
	Data json.RawMessage
	// Topic and Partition are the partition the timer belongs to: set on a fired Timer,
	// ignored by SetTimer (the partition is the input event's).
	Topic     string
	Partition int32
}

// TimerHandler fires one due timer inside the timer's transaction, which holds the position
// row of the timer's partition, so no batch of that partition runs meanwhile. Tx.Emit derives
// ids from the timer; the handler may set and cancel timers of the same partition with
// Tx.SetTimer and Tx.CancelTimer (setting t.Key again re-arms it). An error rolls everything
// back, the timer stays and is fired again later.
type TimerHandler func(ctx context.Context, tx *Tx, t Timer) error

// timerNamespace is the UUID namespace of the ids of events emitted by timer handlers.
var timerNamespace = uuid.MustParse("0b8e6f3a-4c1d-5e92-8a7f-3d2c9b1e6a40")

// TimerEventID returns the id of the n-th event a TimerHandler of group emits for the timer
// key of topic/partition due at at: a version 5 UUID of
// "timer/<group>/<topic>/<partition>/<key>/<at in Unix nanoseconds>/<n>". The same timer always
// yields the same ids, so a re-fired timer or a rebuild emits identical events.
func TimerEventID(group, topic string, partition int32, key string, at time.Time, n int) string {
	return uuid.NewSHA1(timerNamespace, fmt.Appendf(nil, "timer/%s/%s/%d/%s/%d/%d", group, topic, partition, key, at.UnixNano(), n)).String()
}

// timerRef names one timer row of the consumer's group.
type timerRef struct {
	topic     string
	partition int32
	key       string
}

type timerOp struct {
	set  bool // false: cancel
	at   time.Time
	data json.RawMessage
}

// SetTimer sets the timer t.Key of the partition of the event being handled (in a Handler) or
// of the timer being fired (in a TimerHandler), replacing the key's timer if there is one. It
// is written when the transaction commits, with the state change and the outbox rows. A
// BatchHandler names the event with SetTimerFor. The consumer needs a Config.TimerHandler.
func (tx *Tx) SetTimer(ctx context.Context, t Timer) error {
	topic, partition, err := tx.timerPartition("SetTimer")
	if err != nil {
		return err
	}
	return tx.setTimer(topic, partition, t)
}

// SetTimerFor is SetTimer for the partition of in, one of the events of the batch.
func (tx *Tx) SetTimerFor(_ context.Context, in events.Event, t Timer) error {
	return tx.setTimer(in.Topic, in.Partition, t)
}

// CancelTimer cancels the timer key of the partition of the event being handled (or of the
// timer being fired); cancelling a key without a timer does nothing. A BatchHandler uses
// CancelTimerFor.
func (tx *Tx) CancelTimer(ctx context.Context, key string) error {
	topic, partition, err := tx.timerPartition("CancelTimer")
	if err != nil {
		return err
	}
	return tx.cancelTimer(topic, partition, key)
}

// CancelTimerFor is CancelTimer for the partition of in, one of the events of the batch.
func (tx *Tx) CancelTimerFor(_ context.Context, in events.Event, key string) error {
	return tx.cancelTimer(in.Topic, in.Partition, key)
}

func (tx *Tx) timerPartition(op string) (string, int32, error) {
	switch {
	case tx.firing != nil:
		return tx.firing.Topic, tx.firing.Partition, nil
	case tx.in.Topic != "":
		return tx.in.Topic, tx.in.Partition, nil
	}
	return "", 0, fmt.Errorf("stream: %s outside a Handler or TimerHandler: name the input event with %sFor", op, op)
}

func (tx *Tx) checkTimer(topic string, partition int32, key string) error {
	switch {
	case tx.c == nil || tx.c.cfg.TimerHandler == nil:
		return errors.New("stream: timers need a Config.TimerHandler")
	case key == "":
		return errors.New("stream: timer without a key")
	case !tx.locked[tp{topic, partition}]:
		return fmt.Errorf("stream: timer %q: partition %s/%d is not one this transaction applies", key, topic, partition)
	}
	return nil
}

func (tx *Tx) setTimer(topic string, partition int32, t Timer) error {
	if err := tx.checkTimer(topic, partition, t.Key); err != nil {
		return err
	}
	if t.At.IsZero() {
		return fmt.Errorf("stream: timer %q without a time", t.Key)
	}
	if len(t.Data) > 0 && !json.Valid(t.Data) {
		return fmt.Errorf("stream: timer %q: data is not JSON", t.Key)
	}
	if tx.timers == nil {
		tx.timers = map[timerRef]timerOp{}
	}
	tx.timers[timerRef{topic, partition, t.Key}] = timerOp{set: true, at: t.At.Truncate(time.Microsecond), data: t.Data}
	return nil
}

func (tx *Tx) cancelTimer(topic string, partition int32, key string) error {
	if err := tx.checkTimer(topic, partition, key); err != nil {
		return err
	}
	if tx.timers == nil {
		tx.timers = map[timerRef]timerOp{}
	}
	tx.timers[timerRef{topic, partition, key}] = timerOp{}
	return nil
}

// flushTimers writes the timers set and cancelled since the last flush: one DELETE and one
// upsert, in one round trip.
func (tx *Tx) flushTimers(ctx context.Context) error {
	if len(tx.timers) == 0 {
		return nil
	}
	refs := slices.SortedFunc(maps.Keys(tx.timers), func(a, b timerRef) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition), cmp.Compare(a.key, b.key))
	})
	var del, set struct {
		topics     []string
		partitions []int32
		keys       []string
		ats        []time.Time
		data       []*string
	}
	for _, r := range refs {
		op := tx.timers[r]
		if !op.set {
			del.topics, del.partitions, del.keys = append(del.topics, r.topic), append(del.partitions, r.partition), append(del.keys, r.key)
			continue
		}
		var d *string
		if len(op.data) > 0 {
			s := string(op.data)
			d = &s
		}
		set.topics, set.partitions, set.keys = append(set.topics, r.topic), append(set.partitions, r.partition), append(set.keys, r.key)
		set.ats, set.data = append(set.ats, op.at), append(set.data, d)
	}
	table := tx.c.schema + ".consumer_timers"
	b := &pgx.Batch{}
	if len(del.keys) > 0 {
		b.Queue(`DELETE FROM `+table+` WHERE group_id = $1
			AND (topic, partition, key) IN (SELECT * FROM unnest($2::text[], $3::int[], $4::text[]))`,
			tx.c.cfg.Group, del.topics, del.partitions, del.keys)
	}
	if len(set.keys) > 0 {
		b.Queue(`INSERT INTO `+table+` (group_id, topic, partition, key, fire_at, data)
			SELECT $1, t, p, k, a, d::jsonb FROM unnest($2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::text[]) AS u(t, p, k, a, d)
			ON CONFLICT (group_id, topic, partition, key) DO UPDATE SET fire_at = EXCLUDED.fire_at, data = EXCLUDED.data`,
			tx.c.cfg.Group, set.topics, set.partitions, set.keys, set.ats, set.data)
		tx.setTimers = true
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("stream: write %d timers: %w", len(refs), err)
	}
	tx.timers = nil
	return nil
}

// wakeTimers makes the timer loop read the timers again (new timers, new partitions).
func (c *Consumer) wakeTimers() {
	select {
	case c.timerWake <- struct{}{}:
	default:
	}
}

// timerPage bounds the due timers read in one pass.
const timerPage = 500

// timerRetry is the back-off of a timer whose handler failed.
type timerRetry struct {
	at      time.Time // real time
	backoff time.Duration
}

// timerLoop fires the due timers of the assigned partitions until ctx ends. It wakes when the
// earliest pending timer is due on the Clock, when a transaction set a timer, when partitions
// are assigned, and every TimerPoll of real time.
func (c *Consumer) timerLoop(ctx context.Context) {
	defer c.metrics.timersPending.DeleteLabelValues(c.cfg.Group)
	failing := map[timerRef]*timerRetry{}
	var readBackoff time.Duration // after failed reads of the timers table
	for {
		next, again, retryIn, err := c.timerPass(ctx, failing)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			readBackoff = min(max(2*readBackoff, c.cfg.MinBackoff), c.cfg.MaxBackoff)
			c.cfg.Log.Warn("read timers; retrying", "err", err, "backoff", readBackoff)
			retryIn = readBackoff
		} else {
			readBackoff = 0
		}
		if again {
			continue
		}
		wait := c.cfg.TimerPoll
		if retryIn > 0 {
			wait = min(wait, retryIn)
		}
		var due <-chan time.Time
		if !next.IsZero() {
			due = clock.Until(c.clock, next)
		}
		poll := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			poll.Stop()
			return
		case <-c.timerWake:
		case <-due:
		case <-poll.C:
		}
		poll.Stop()
	}
}

// timerPass fires the timers due now, one transaction each. It returns when the earliest timer
// not yet due is due (zero when there is none), whether to pass again at once (a full page was
// fired), when some timer failed how long until its retry, and the error of reading the
// timers.
func (c *Consumer) timerPass(ctx context.Context, failing map[timerRef]*timerRetry) (next time.Time, again bool, retryIn time.Duration, err error) {
	parts := c.assignedParts()
	if len(parts) == 0 {
		c.metrics.timersPending.WithLabelValues(c.cfg.Group).Set(0)
		clear(failing)
		return time.Time{}, false, 0, nil
	}
	now := c.clock.Now()
	due, next, pending, err := c.readTimers(ctx, parts, now)
	if err != nil {
		return time.Time{}, false, 0, err
	}
	c.metrics.timersPending.WithLabelValues(c.cfg.Group).Set(float64(pending))
	soonest := func(d time.Duration) {
		if retryIn <= 0 || d < retryIn {
			retryIn = max(d, time.Millisecond)
		}
	}
	fired := 0
	stillDue := map[timerRef]bool{}
	for _, ref := range due {
		if ctx.Err() != nil {
			return time.Time{}, false, 0, nil
		}
		stillDue[ref] = true
		if !c.isAssigned(ref.topic, ref.partition) {
			continue
		}
		if r := failing[ref]; r != nil && time.Now().Before(r.at) {
			soonest(time.Until(r.at))
			continue
		}
		ok, err := c.fireTimer(ctx, ref, now)
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, false, 0, nil
			}
			c.metrics.timerFailures.WithLabelValues(c.cfg.Group).Inc()
			r := failing[ref]
			if r == nil {
				r = &timerRetry{backoff: c.cfg.MinBackoff}
			} else {
				r.backoff = min(2*r.backoff, c.cfg.MaxBackoff)
			}
			r.at = time.Now().Add(r.backoff)
			failing[ref] = r
			c.cfg.Log.Warn("timer failed; it stays and is retried", "topic", ref.topic, "partition", ref.partition,
				"key", ref.key, "err", err, "backoff", r.backoff)
			soonest(r.backoff)
			continue
		}
		delete(failing, ref)
		if ok {
			fired++
			c.metrics.timersFired.WithLabelValues(c.cfg.Group).Inc()
		}
	}
	c.metrics.timersPending.WithLabelValues(c.cfg.Group).Set(float64(max(0, pending-int64(fired))))
	// Forget the failures of timers that are no longer due (fired, replaced, cancelled).
	for ref := range failing {
		if !stillDue[ref] {
			delete(failing, ref)
		}
	}
	return next, len(due) == timerPage && fired > 0, retryIn, nil
}

// readTimers returns, for the partitions parts, up to timerPage timers due at now (earliest
// first), when the earliest of the others is due (zero when none) and how many timers there
// are. One round trip.
func (c *Consumer) readTimers(ctx context.Context, parts []tp, now time.Time) (due []timerRef, next time.Time, pending int64, err error) {
	topics := make([]string, len(parts))
	partitions := make([]int32, len(parts))
	for i, k := range parts {
		topics[i], partitions[i] = k.topic, k.partition
	}
	table := c.schema + ".consumer_timers"
	b := &pgx.Batch{}
	b.Queue(`SELECT topic, partition, key FROM `+table+`
		WHERE group_id = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[])) AND fire_at <= $4
		ORDER BY fire_at, topic, partition, key LIMIT $5`, c.cfg.Group, topics, partitions, now, timerPage)
	b.Queue(`SELECT count(*), min(fire_at) FILTER (WHERE fire_at > $4) FROM `+table+`
		WHERE group_id = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))`,
		c.cfg.Group, topics, partitions, now)
	res := c.cfg.Pool.SendBatch(ctx, b)
	defer res.Close()
	rows, err := res.Query()
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("stream: read timers: %w", err)
	}
	for rows.Next() {
		var r timerRef
		if err := rows.Scan(&r.topic, &r.partition, &r.key); err != nil {
			rows.Close()
			return nil, time.Time{}, 0, fmt.Errorf("stream: read timers: %w", err)
		}
		due = append(due, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("stream: read timers: %w", err)
	}
	var earliest *time.Time
	if err := res.QueryRow().Scan(&pending, &earliest); err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("stream: read timers: %w", err)
	}
	if earliest != nil {
		next = *earliest
	}
	return due, next, pending, res.Close()
}

// fireTimer fires the timer ref if it is due at now, in one transaction: it locks the position
// row of the timer's partition (as a batch does, so the two never interleave and a member that
// lost the partition waits for the new owner), deletes the timer row, which a second firing
// then no longer finds, runs the TimerHandler, appends what it emitted to the outbox, notifies
// the relay and commits. It reports whether the timer fired: false when it was gone or is no
// longer due (cancelled, fired by another member, replaced by a later one).
func (c *Consumer) fireTimer(ctx context.Context, ref timerRef, now time.Time) (bool, error) {
	tx, err := c.cfg.Pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("stream: timer: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO `+c.schema+`.consumer_offsets (group_id, topic, partition, next_offset)
		VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`, c.cfg.Group, ref.topic, ref.partition)
	b.Queue(`SELECT next_offset FROM `+c.schema+`.consumer_offsets
		WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`, c.cfg.Group, ref.topic, ref.partition)
	b.Queue(`DELETE FROM `+c.schema+`.consumer_timers
		WHERE group_id = $1 AND topic = $2 AND partition = $3 AND key = $4 AND fire_at <= $5
		RETURNING fire_at, data`, c.cfg.Group, ref.topic, ref.partition, ref.key, now)
	res := tx.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		res.Close()
		return false, fmt.Errorf("stream: timer: create position: %w", err)
	}
	var next int64
	if err := res.QueryRow().Scan(&next); err != nil {
		res.Close()
		return false, fmt.Errorf("stream: timer: lock position: %w", err)
	}
	var at time.Time
	var data []byte
	err = res.QueryRow().Scan(&at, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, res.Close()
	}
	if err != nil {
		res.Close()
		return false, fmt.Errorf("stream: timer: take timer: %w", err)
	}
	if err := res.Close(); err != nil {
		return false, fmt.Errorf("stream: timer: take timer: %w", err)
	}
	t := Timer{Key: ref.key, At: at.UTC(), Data: data, Topic: ref.topic, Partition: ref.partition}
	st := c.newTx(tx, map[tp]bool{{ref.topic, ref.partition}: true})
	st.firing = &t
	if err := c.cfg.TimerHandler(ctx, st, t); err != nil {
		return false, fmt.Errorf("stream: timer %q of %s/%d due %s: %w", t.Key, t.Topic, t.Partition, t.At.Format(time.RFC3339Nano), err)
	}
	if err := st.flush(ctx); err != nil {
		return false, err
	}
	if st.notify {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel(c.cfg.Schema)); err != nil {
			return false, fmt.Errorf("stream: timer: notify relay: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("stream: timer: commit: %w", err)
	}
	st.committed()
	if c.afterTimerCommit != nil {
		c.afterTimerCommit(t)
	}
	if st.setTimers {
		c.wakeTimers()
	}
	return true, nil
}

// assignedParts returns the assigned partitions, sorted.
func (c *Consumer) assignedParts() []tp {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []tp
	for t, ps := range c.assigned {
		for p := range ps {
			out = append(out, tp{t, p})
		}
	}
	slices.SortFunc(out, func(a, b tp) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	return out
}

func (c *Consumer) isAssigned(topic string, partition int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assigned[topic][partition]
}
