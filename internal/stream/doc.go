// Package stream is FreshMart's exactly-once consumer and its outbox relay: the one
// implementation of DESIGN.md "Guarantees" that every stateful service uses.
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
// # Metrics
//
// freshmart_consumer_lag{group,topic,partition}: records between the partition's high
// watermark and the consumer's position; freshmart_consumer_records_total{group,topic,outcome};
// freshmart_outbox_sent_total{schema}; freshmart_outbox_pending{schema}.
//
// The tables are created by the migrations (template "stream_tables" in migrations/sql/shared).
package stream
