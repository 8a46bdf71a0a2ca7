// Package group is the broker's group coordinator: the classic Kafka consumer
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed
// offsets (OffsetCommit, OffsetFetch, OffsetDelete), group administration
// (DescribeGroups, ListGroups, DeleteGroups) and per-group lag metrics.
//
// # Groups
//
// Each group is a state machine guarded by its own mutex, so groups never
// wait for each other:
//
//	Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
//	CompletingRebalance --leader's SyncGroup--> Stable
//	Stable / CompletingRebalance --join, leave, session timeout--> PreparingRebalance
//	PreparingRebalance --no members left--> Empty
//	Empty --DeleteGroups, offsets expired--> Dead (removed)
//
// The broker is assignor-agnostic: it picks the protocol every member
// supports (most preferred wins), hands the leader every member's metadata
// and returns the leader's assignments. Eager and cooperative clients both
// work, since cooperative rebalancing is a client-side protocol over the same
// requests. JoinGroup and SyncGroup block until the rebalance step they wait
// for completes; the join phase always ends within the longest rebalance
// timeout of the members, so a waiting request never blocks its connection
// forever. A group that goes from Empty to rebalancing first waits
// Config.InitialRebalanceDelay for more members.
//
// # On-disk format
//
// The coordinator owns a directory (normally <data-dir>/groups) with two
// files, "log" and "snapshot", both a sequence of frames:
//
//	offset 0: uint32 big-endian N, the payload length (1 .. 64 MiB)
//	offset 4: uint32 big-endian CRC-32C (Castagnoli) of the payload
//	offset 8: N bytes of payload
//
// A payload starts with a kind byte and the group id; strings and byte slices
// are a uvarint length followed by the bytes, integers are zig-zag varints
// (encoding/binary's Varint):
//
//	1 offset commit:  group, topic, partition, offset, leader epoch, metadata, commit time (Unix ms)
//	2 offset delete:  group, topic, partition
//	3 group metadata: group, protocol type, protocol, leader, generation, state name,
//	                  state time (Unix ms), member count, then per member: member id,
//	                  instance id, client id, client host, session timeout ms,
//	                  rebalance timeout ms, protocol metadata, assignment
//	4 group delete:   group (removes the group's metadata and all its offsets)
//
// Every record carries a whole value (upsert or delete), so replaying records
// over a state that already contains them changes nothing.
//
// Offset commits are appended to "log" and fsynced before the commit is
// answered; commits arriving during an fsync share the next one (group
// commit). Group metadata is appended when a group becomes Stable or Empty
// without waiting for the fsync. On open the snapshot is read, then the log
// is replayed; a short, oversized or CRC-damaged frame in the log ends the
// replay and the log is truncated there (a torn tail from a crash). The state
// is then compacted: written to "snapshot.tmp", fsynced, renamed to
// "snapshot", the directory fsynced, and only then the log emptied and
// fsynced. The same compaction runs when the log passes Config.CompactBytes
// and on Close. A crash between the rename and emptying the log replays the
// log over the snapshot, which is harmless.
//
// # Transactions
//
// Offsets committed by a transaction (TxnOffsetCommit) are staged by the
// transaction coordinator (package txn), in its own durable state, and
// reach this package only when the transaction commits (CommitTxnOffsets:
// ordinary offset records, fsynced); an aborted transaction's offsets never
// do. While staged, OffsetFetch with require_stable answers
// UNSTABLE_OFFSET_COMMIT for those partitions (SetPendingTxnOffsets), and
// TxnOffsetCommit v3+ checks the member and generation here
// (CheckTxnCommitter) as OffsetCommit does.
//
// # Retention
//
// Every Config.RetentionCheckInterval the coordinator drops offsets of
// topics or partitions that no longer exist, and offsets of empty groups
// older than Config.OffsetsRetention (7 days by default; for consumer groups
// counted from when the group became empty, for groups that never had members
// from each offset's commit). An empty group left without offsets is removed.
package group
