package server

// Unsupported protocol features, in one place. Requests for them get the
// error named here (or, where a response cannot carry an error, a closed
// connection, as Kafka does).
//
//   - API keys not registered by a file of this package (quotas, delegation tokens, reassignments, log dirs, elections,
//     features, telemetry, share groups, KRaft-internal APIs): never
//     advertised in ApiVersions; a request whose response has a top-level
//     error code gets UNSUPPORTED_VERSION, any other closes the connection.
//   - Versions outside each file's range: the same. ApiVersions instead
//     answers a v0 response with UNSUPPORTED_VERSION and the list (KIP-511).
//   - Transactions: InitProducerId with a transactional id, Produce with a
//     transactional id or a transactional batch get
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED; control batches get
//     INVALID_RECORD. The transaction APIs (24-28, 61, 65, 66) are not
//     served. read_committed reads the same data as read_uncommitted.
//   - Message formats v0 and v1 (magic 0 and 1): Produce answers
//     UNSUPPORTED_FOR_MESSAGE_FORMAT; Fetch never down-converts, every
//     version returns record batches v2.
//   - Fetch sessions (KIP-227): declined (session id 0, full fetches only);
//     a request naming a session gets FETCH_SESSION_ID_NOT_FOUND.
//   - Replication: one broker, leader and only replica of everything,
//     leader epoch 0; replication factor other than 1 gets
//     INVALID_REPLICATION_FACTOR. Follower fetching and rack-aware
//     preferred replicas are not offered (preferred read replica -1).
//   - Dynamic broker configs: AlterConfigs and IncrementalAlterConfigs on
//     the broker resource get INVALID_REQUEST (broker settings are flags).
//   - Security (authz.go): SASL GSSAPI and OAUTHBEARER, delegation tokens
//     (SCRAM's tokenauth extension is refused), SCRAM channel binding, and
//     principal mapping rules (an SSL principal is User:<subject CN>) are
//     not offered. ACLs on DELEGATION_TOKEN and USER resources are stored
//     but no request checks them.
//   - Throttling and quotas: ThrottleMillis is always 0.
//   - Request timeouts: acks=all produces wait for the fsync however long
//     it takes; CreateTopics/DeleteTopics act synchronously.
//   - Log compaction neither drops aborted transactional data nor stops at
//     open transactions yet: its hooks (storage/compact.go, HOOK(txn)) wait
//     for the transaction state. Produce refuses transactional data until
//     then, so there is none to mishandle.
