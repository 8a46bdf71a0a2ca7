// Package txn is the broker's transaction coordinator: it maps
// transactional ids to producer ids and epochs, tracks each transaction's
// partitions and pending offset commits, ends transactions with commit or
// abort markers in every partition, aborts transactions that run past their
// timeout and forgets transactional ids unused for
// transactional.id.expiration.ms.
//
// # Durability
//
// Every change of a transaction's state is appended to <dir>/state.log and
// fsynced (fdatasync) before the request that made it is answered, in the
// store's default durability mode (Config.NoSync turns fsync off for the
// other modes). Frames:
//
//	0  4  length of the payload (uint32, big endian)
//	4  4  CRC-32C (Castagnoli) of the payload
//	8  n  payload: JSON of one transaction's whole state (record), or
//	      {"id": "...", "deleted": true} when it expired
//
// The newest frame of an id wins. On open the log is replayed, a torn or
// corrupt tail truncated, and the result written back compacted (temp file,
// fsync, rename, fsync of the directory). The log is compacted the same way
// whenever it has grown past Config.CompactBytes.
//
// # Ending a transaction
//
// EndTxn first makes PrepareCommit or PrepareAbort durable, then writes the
// marker to every partition of the transaction that holds records of it
// and waits for them to be durable, then (on commit) commits the pending
// offsets to the group coordinator, and finally records CompleteCommit or
// CompleteAbort (written, not fsynced: if it is lost, recovery finds the
// Prepare state and does the same again, which is idempotent since a
// partition without an open transaction of the producer gets no marker).
//
// # Recovery
//
// After a restart, transactions found in a Prepare state are completed at
// once; transactions found Ongoing stay open, as in Kafka: their producer
// may go on and commit, and if it does not, the timeout aborts them
// (the start time is durable, so the timeout counts across restarts). Their
// records stay invisible to read_committed consumers meanwhile, since each
// partition rebuilds its open transactions from its log.
//
// # Timeouts and fencing
//
// A transaction Ongoing for longer than its timeout (InitProducerId's
// transaction_timeout_ms) is aborted by a background check every
// Config.CheckInterval: the epoch is bumped first and the abort markers
// carry the new epoch, so the producer's next request with the old epoch
// is fenced (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH for request
// versions before KIP-588 and for Produce). InitProducerId for an id with
// an open transaction aborts it the same way before bumping the epoch.
package txn
