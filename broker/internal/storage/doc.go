// Package storage is the broker's log storage: topics, their partitions'
// append-only segment files with sparse offset and time indexes, group
// commit, retention, idempotent producer state, transaction markers, the
// last stable offset and aborted transactions, and crash recovery.
//
// # Directory layout
//
//	<dir>/.lock                          flock: one process per data directory
//	<dir>/meta.json                      topics and the producer id block
//	<dir>/topics/<topic>-<partition>/    one directory per partition
//	    <20-digit base offset>.log       segment: record batches
//	    <20-digit base offset>.index     sparse offset index of that segment
//	    <20-digit base offset>.timeindex time index of that segment
//	    producers.snapshot               idempotent producer state (a cache)
//	    log-start-offset                 log start set by DeleteRecords
//	    cleaner-offset                   compaction checkpoint (compacted topics)
//	    <20-digit base>.cleaned.tmp      a cleaned copy being written (removed on open)
//
// # Segment (.log)
//
// A segment holds Kafka record batches (magic 2) back to back, exactly as a
// producer sent them except for the first 16 bytes, which the broker
// rewrites: the base offset it assigned and a partition leader epoch of 0.
// Neither is covered by the CRC, so the producer's CRC stays valid. Compressed
// batches are stored compressed. All integers are big endian:
//
//	offset  size  field
//	0       8     baseOffset            broker-assigned offset of the first record
//	8       4     batchLength           bytes after this field (whole batch = 12 + batchLength)
//	12      4     partitionLeaderEpoch  0
//	16      1     magic                 2
//	17      4     crc                   CRC-32C (Castagnoli) of bytes [21, end of batch)
//	21      2     attributes            bits 0-2 compression, bit 3 timestamp type (1 = LogAppendTime),
//	                                    bit 4 transactional, bit 5 control
//	23      4     lastOffsetDelta       last record's offset minus baseOffset
//	27      8     baseTimestamp         first record's timestamp (ms)
//	35      8     maxTimestamp          largest record timestamp, or the append time for LogAppendTime
//	43      8     producerId            -1 unless idempotent
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61      ...   records               varint-encoded records, possibly compressed
//
// The file's name is the base offset of its first batch; offsets are
// contiguous within a segment and from one segment to the next, except in
// a closed segment of a compacted topic (see Compaction), which may skip
// offsets between batches and end before the next segment's base. A segment is
// closed (rolled) when the next append would pass segment.bytes, when its
// first append is older than segment.ms, or when its offsets would no longer
// fit 32-bit relative offsets. Only the newest (active) segment is written.
//
// # Offset index (.index)
//
// Entries of 8 bytes, added when a batch starts at least 16 KiB after
// the previous entry's batch:
//
//	0  4  relativeOffset  batch baseOffset minus the segment's base offset
//	4  4  position        byte position of the batch in the .log file
//
// A lookup takes the last entry at or before the wanted offset and walks the
// batch headers from its position. A batch at position 0 is implicit.
//
// # Time index (.timeindex)
//
// Entries of 12 bytes, added alongside offset index entries when the
// segment's largest timestamp so far has grown, and once more when the
// segment is closed so that its last entry is the segment's maximum:
//
//	0  8  timestamp       largest maxTimestamp of the segment up to here
//	8  4  relativeOffset  last offset of the batch holding it, minus the base
//
// To find the first record with a timestamp >= T, the store skips segments
// whose maximum is below T, starts at the last entry with a timestamp below
// T and walks batch headers to the first batch whose maxTimestamp >= T; in an
// uncompressed CreateTime batch it decodes the records to find the exact one.
//
// Indexes live in memory while the store is open and are written whole when
// a segment is closed and when the store closes. They are a cache of the
// log: they are not fsynced, and on open an index that is missing or does
// not fit its log (entries out of order, positions past the end, the last
// entry not pointing at a batch with that offset) is rebuilt by a scan.
//
// # Producer snapshot (producers.snapshot)
//
//	0   4  magic "FMPS"
//	4   2  version 2 (version 1 is still read)
//	6   8  offset: the snapshot covers every batch below it
//	14  4  count of producers, then per producer:
//	       8 producerId, 2 epoch,
//	       8 lastTimestamp (v2: newest batch max timestamp, ms),
//	       8 txnFirstOffset (v2: first offset of its open transaction, -1: none),
//	       1 n (v1: 1..5, v2: 0..5), then n times
//	       4 firstSequence, 4 lastSequence, 8 baseOffset, 8 lastOffset
//	       4 count of aborted transactions (v2), then per transaction:
//	       8 producerId, 8 firstOffset, 8 lastOffset (the abort marker)
//	end-4  4  CRC-32C of everything before it
//
// It is written (temp file and rename) when a segment closes and when the
// store closes. On open the state is the snapshot plus the batch headers
// from its offset to the log end; without a usable snapshot it is rebuilt
// from every batch header in the log. Aborted transactions whose marker is
// below the log start are left out when it is written.
//
// # Transactions
//
// Transactional batches (attribute bit 4) are stored like any other. The
// transaction coordinator (package txn) ends a producer's transaction in a
// partition with a control batch (bits 4 and 5) holding one record, as
// Kafka writes it:
//
//	batch   producerId, producerEpoch (the coordinator's, which may be
//	        higher than the producer's: that fences older epochs here),
//	        baseSequence -1, recordCount 1, uncompressed
//	record  attributes 0, timestampDelta 0, offsetDelta 0,
//	        key   (4 bytes): int16 version 0, int16 type (0 abort, 1 commit)
//	        value (6 bytes): int16 version 0, int32 coordinator epoch 0
//	        no headers
//
// A partition remembers per producer the first offset of its open
// transaction (from its first transactional batch after a marker) and
// keeps the aborted transactions index (producer id, first offset, marker
// offset) in marker order. The last stable offset is the smallest first
// offset of an open transaction, or the high watermark if that is smaller;
// read_committed reads return whole batches below it, and the aborted
// transactions overlapping a read range come from the index. Both are in
// the producer snapshot and rebuilt from the batches after it on open (a
// control batch's type is read back from its record), so a transaction
// open at a crash is open again after it until the coordinator ends it. A
// producer with an open transaction is never expired; otherwise its state
// is dropped producer.id.expiration.ms (Options.ProducerIDExpiration)
// after its newest batch's timestamp, checked with retention.
//
// # log-start-offset and meta.json
//
// log-start-offset holds the log start offset set by DeleteRecords as
// decimal text; the effective log start is the larger of it and the first
// segment's base offset. meta.json is JSON:
//
//	{"version": 1, "producer_id_block_end": N,
//	 "topics": [{"name": "...", "id": "<32 hex digits>", "partitions": N, "configs": {...}}]}
//
// Producer ids are handed out from blocks of 1000: the end of the current
// block is persisted before an id in it is used, so ids stay unique across
// restarts. Both files are replaced crash-safely: write a temp file, fsync it,
// rename it over the old one, fsync the directory.
//
// # Durability
//
// In SyncEveryAck mode (the default) an append is written to the page
// cache with one pwrite and becomes visible to readers (the high watermark
// moves) only after a background group-commit round has fsynced it: each
// round fsyncs every partition written since the previous round (partitions
// in parallel) plus every segment closed meanwhile, and fsyncs the partition
// directory if a segment file was created, so a new file is durable before
// any record in it is acknowledged. On Linux segment data is flushed with
// fdatasync, which for an append-only file also flushes its new size (the
// metadata needed to read the data back) and skips only timestamps. If an fsync fails, the Sync callers of
// that round get the error and the records stay invisible until a later
// round (started by the next append) fsyncs them successfully. Partition and
// topic directories are fsynced when created, before the topic is reported
// created. Appends that arrive during a round share the next round's fsync.
// A caller appending to several partitions at once (a produce request) uses
// AppendDeferred for each and then Store.StartSync, so one round covers
// them all.
//
// In SyncInterval mode records are visible at once and fsynced every
// Options.SyncInterval: a power cut (not a process crash) can lose up to an
// interval of acknowledged records. In SyncNever mode the operating system
// writes back when it likes: a power cut can lose any acknowledged record
// not yet written back. Close fsyncs everything in every mode.
//
// # Recovery
//
// On open the active segment of every partition is read from the start:
// each batch's length, magic, CRC and offset continuity is checked, and the
// file is truncated after the last good batch, which removes a torn write.
// A closed segment is trusted if its indexes fit and its batch headers from
// the last index entry end exactly at the end of the file, with offsets
// growing and ending at or below the offset at which the next segment
// starts (a compacted segment ends where the next begins); otherwise it is
// scanned the same way (offsets may grow by more than one in closed
// segments only) and, if damaged, truncated and every later segment
// removed. Leftover *.tmp files (a cleaned copy a crash interrupted) are
// deleted. Then the producer state is restored and the recovered data
// fsynced.
//
// # Retention
//
// A background goroutine runs every Options.RetentionCheckInterval and
// deletes whole closed segments from the oldest on while they are past
// retention.ms (by their largest timestamp), or while the partition would
// still hold retention.bytes without them, or while they lie wholly below the
// log start offset. The active segment is never deleted, so a partition
// retains at least its active segment. Only topics whose cleanup.policy
// includes "delete" (delete, compact,delete) are subject to retention.ms and
// retention.bytes; a compact-only topic loses records only to compaction
// and DeleteRecords.
//
// # Compaction
//
// For cleanup.policy=compact (or compact,delete) a background cleaner
// (compact.go) runs every Options.CompactionCheckInterval (15 s), one
// partition at a time, dirtiest first. A partition's cleanable range is its
// closed segments from the first on, up to the first one that is not yet
// durable (pending fsync or above the high watermark), has records younger
// than min.compaction.lag.ms, or reaches the first unstable offset of an
// open transaction; the active segment is never cleaned. The range after
// the checkpoint in cleaner-offset is dirty. A pass runs when dirty bytes /
// cleanable bytes >= min.cleanable.dirty.ratio, or when a kept tombstone's
// or marker's delete horizon has passed. It maps every key of the dirty
// segments to its latest offset (at most Options.CompactionBufferBytes of
// keys; the pass then covers fewer segments) and rewrites each segment of
// the range, oldest first, without:
//
//   - records whose key has a later record in the map;
//   - tombstones (null values) whose batch delete horizon has passed;
//   - records of aborted transactions (from the aborted-transaction index,
//     txnindex.go); nothing from the first offset of a transaction still
//     open is cleaned;
//   - control batches (transaction markers) with no record of their
//     transaction left before them and a passed delete horizon.
//
// A cleaned batch keeps its base offset, last offset delta, producer id,
// epoch, base sequence, attributes and compression (it is decompressed,
// filtered and recompressed with the same codec); its record count,
// length, max timestamp (CreateTime) and CRC are recomputed. A batch whose
// records all go is left out. A batch that keeps a tombstone or is a marker
// gets the delete horizon (KIP-534): attribute bit 6 (0x40) is set and the
// base timestamp becomes now + delete.retention.ms, with the records'
// timestamp deltas re-based so their timestamps do not change. So offsets
// are preserved: a cleaned segment has the same name (base) and logical end
// (the next segment's base) and skips the offsets removed; readers step
// over the gaps, also over one at the end of a segment. cleaner-offset
// holds "<first dirty offset> <earliest pending horizon or -1>\n", replaced
// crash-safely after each pass.
//
// The swap of one segment, each step before the next:
//
//  1. write the cleaned copy to <base>.cleaned.tmp, fsync it;
//  2. fsync the partition directory (so the active segment's entry is
//     durable before any cleaned segment is: recovery trusts offset gaps in
//     closed segments only);
//  3. under the partition lock: remove <base>.index and <base>.timeindex,
//     rename the copy over <base>.log, put the new segment in the list and
//     write its indexes (a cache, as always);
//  4. fsync the directory.
//
// A crash before the rename leaves the old segment (its indexes, if
// removed, are rebuilt) and a .tmp file that recovery deletes; after it, the
// new one. Segments are swapped oldest first and each swap is durable
// before the next begins, so whenever a record is gone for good, the later
// record of its key that superseded it is on disk: the newest record of a
// key survives a crash at any point. Readers holding the old
// segment keep reading its (unlinked) file until they release it.
//
// # Disk full
//
// If the write of an append fails (ENOSPC, EDQUOT or any other error) the
// segment is truncated back to its previous size, nothing of the append
// remains, and ErrDiskFull (for ENOSPC and EDQUOT) is returned; reads go on
// and later appends succeed once space is free.
package storage
