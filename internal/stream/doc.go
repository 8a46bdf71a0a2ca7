// Package stream is FreshMart's exactly-once consumer and its outbox relay: the one
// implementation of the guarantees in ARCHITECTURE.md that every stateful service uses.
//
// # Consumer
//
// A Consumer is a franz-go group consumer with auto-commit off and BlockRebalanceOnPoll. Its
// positions live in Postgres, in table <schema>.consumer_offsets(group_id, topic, partition,
// next_offset), next to the state they account for:
//
//   - on assignment (AdjustFetchOffsetsFn) each partition starts at its next_offset from
//     Postgres, or at the start of the partition when Postgres has none;
//   - each polled batch (up to MaxPollRecords) is applied in one pgx transaction: the offset
//     rows of the batch's partitions are locked first (in a fixed order, so two members cannot
//     deadlock; one round trip), records below the stored position are dropped (a member that
//     lost its partitions without noticing cannot apply them twice), the Handler runs for every
//     record (or the BatchHandler once for all of them, so a service can fold the batch with
//     set-based SQL), the events it emitted are appended to <schema>.outbox with one COPY, and
//     the new positions are written with one statement; then the transaction commits;
//   - only then is the rebalance allowed. The positions are also committed to the broker, in
//     the background every CommitInterval and when the session ends, which only serves lag
//     tooling: a slow or failed broker commit never holds up consuming.
//
// A crash anywhere before the commit rolls everything back and the next member resumes at the
// stored position; after the commit, the stored position already covers the batch. No effect
// is applied twice and none is skipped. A failed batch (Postgres unreachable, a handler error)
// ends the group session; the Consumer starts a new one after a back-off.
//
// # Outbox
//
// Events a handler emits (Tx.Emit, or Tx.EmitFor from a BatchHandler) are validated against
// their schema and stored in <schema>.outbox with an id derived from the input record
// (topic/partition/offset and the emit's index, or the slot EmitFor is given) and the input
// event's time, so a replay emits identical events. A Relay
// produces unsent rows in id order with the idempotent producer, then marks them sent. A crash
// between the two re-sends the same events with the same ids (at-least-once to the broker;
// readers drop duplicate ids). When several instances run a relay, one at a time works (a
// transaction-scoped advisory lock), so events leave in outbox order. The consumer NOTIFYs the
// relay when it appends to the outbox.
//
// # Timers
//
// A handler can ask for work at a time: a complaints window closes 30 minutes after its last
// complaint, a store's business day ends at its local midnight. Tx.SetTimer(ctx, Timer{Key, At,
// Data}) from a Handler (SetTimerFor(ctx, in, ...) from a BatchHandler, naming the input event)
// sets a timer that belongs to the partition of the input event, in table
// <schema>.consumer_timers(group_id, topic, partition, key, fire_at, data), written in the
// batch's transaction (so it exists exactly when the state change that asked for it does).
// Setting a key again replaces its timer; CancelTimer deletes it. Keys are per partition and
// topic: a consumer of several topics that sets "S001/day" from two topics has two timers.
//
// A timer fires once the consumer's Clock (Config.Clock; clock.Real by default, a
// clock.Manual in tests) reaches At, whether or not records arrive: beside the poll loop each
// session runs a timer loop that sleeps until the earliest timer of its assigned partitions is
// due, and wakes early when a transaction sets a timer or partitions are assigned. Each due
// timer fires in one transaction that
//
//   - locks the position row of the timer's partition FOR UPDATE, as a batch does: a batch and
//     a firing of one partition never interleave, and a firing that waited sees what the batch
//     committed;
//   - deletes the timer row if it is still due (it returns nothing when the timer was cancelled,
//     replaced by a later one, or already fired by another member: then nothing happens);
//   - runs Config.TimerHandler(ctx, tx, t), appends what it emitted to the outbox, NOTIFYs the
//     relay and commits.
//
// So the state change, the emitted events and the timer's deletion commit together or not at
// all: a crash or a handler error before the commit leaves the timer in place, and it fires
// again (a failed timer is retried with a back-off, in real time, without ending the session);
// after the commit the row is gone and no member fires it again. Exactly once, even when two
// members both believe they own the partition: the deletion under the row lock is the fence.
// Only timers of partitions assigned to this member are fired, so after a rebalance (or a
// restart: timers are rows) the partition's new owner fires them.
//
// Tx.Emit in a TimerHandler gives the event the id TimerEventID(group, topic, partition, key,
// At, n) (a version 5 UUID of "timer/<group>/<topic>/<partition>/<key>/<At in Unix ns>/<n>")
// and the time At, so a re-fired timer, or the same timer in a replay or a rebuild, emits
// identical events. A TimerHandler may set and cancel timers of its partition (re-arming its
// own key included).
//
// Timers are processing-time timers: they fire by the Clock, not by the event time of the
// records. A consumer that is far behind (a rebuild from the start of the log, a long outage)
// can fire a timer whose replacement is in a record it has not consumed yet; what it emits is
// still exactly-once and has stable ids, but which timers fire can differ from the live run.
// A handler that must not act on stale windows checks its own state in the TimerHandler.
//
// # Metrics
//
// freshmart_consumer_lag{group,topic,partition}: records between the partition's high
// watermark and the consumer's position; freshmart_consumer_records_total{group,topic,outcome};
// freshmart_events_skipped_total{group,topic,type,reason}: records skipped (bad envelope, or
// reported by Tx.Skip, which events.Mux calls for unknown types and undecodable payloads);
// freshmart_consumer_timers_fired_total{group}, freshmart_consumer_timer_failures_total{group},
// freshmart_consumer_timers_pending{group} (timers of this member's partitions);
// freshmart_outbox_sent_total{schema}; freshmart_outbox_pending{schema}. All on the
// Registerer the consumer (or relay) is given.
//
// The consumer's franz-go client is named Config.ClientID (by default group-host-pid).
//
// The tables are created by the migrations: templates "stream_tables" (consumer_offsets,
// outbox) and "stream_timers" (consumer_timers) in migrations/sql/shared, which a service's
// migration includes for its schema.
package stream
