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
//   - Transactions (served by the txn package, see 22, 24-26, 28, 65, 66):
//     KIP-890 is not, so Produce stops at v11, AddPartitionsToTxn at v3
//     and EndTxn at v3 (clients add partitions explicitly; the epoch stays
//     the same across transactions). WriteTxnMarkers (27, broker to
//     broker) and DescribeProducers (61) are not served. Control batches
//     sent by clients get INVALID_RECORD. The internal topics
//     __consumer_offsets and __transaction_state are listed by Metadata
//     but hold no records (Fetch sees them empty, Produce gets
//     INVALID_TOPIC_EXCEPTION; CreateTopics and DeleteTopics do not know
//     them).
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
