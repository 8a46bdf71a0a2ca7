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
//   - each polled batch is applied in one pgx transaction: the offset rows of the batch's
//     partitions are locked first (in a fixed order, so two members cannot deadlock), records
//     below the stored position are dropped (a member that lost its partitions without noticing
//     cannot apply them twice), the handler runs for every record, events it emits are appended
//     to <schema>.outbox, and the new positions are written; then the transaction commits;
//   - only then is the rebalance allowed and the offsets committed to the broker as well, which
//     only serves lag tooling.
//
// A crash anywhere before the commit rolls everything back and the next member resumes at the
// stored position; after the commit, the stored position already covers the batch. No effect
// is applied twice and none is skipped. A failed batch (Postgres unreachable, a handler error)
// ends the group session; the Consumer starts a new one after a back-off.
//
// # Outbox
//
// Events a handler emits (Tx.Emit) are validated against their schema and stored in
// <schema>.outbox with an id derived from the input record (topic/partition/offset and the
// emit's index) and the input event's time, so a replay emits identical events. A Relay
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
