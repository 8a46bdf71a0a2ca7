// Package e2e holds end-to-end tests of the freshmart-broker binary. It has
// no code of its own: the tests build the real binary once (TestMain), exec it
// on ephemeral loopback ports with a temporary data directory, and talk to it
// over TCP with franz-go and with clients not written in Go (kcat, which is
// librdkafka; kafka-python; kafkajs under node).
//
// What they check:
//   - the FreshMart topics exist after the first start, with the partition
//     counts and retention the platform design gives them;
//   - after a clean stop (SIGTERM) and after kill -9 in the middle of an
//     acks=all produce stream, every acknowledged record is still there, at
//     its acknowledged offset, in order, exactly once;
//   - retention deletes old segments and advances the log start offset;
//   - the non-Go clients produce and consume, with every compression codec
//     they support, and read what franz-go wrote and the other way round.
//
// The external programs are required: a test fails with a message naming
// the missing program (CI installs them: kcat, python3-kafka, node + npm).
// FRESHMART_BROKER_BIN, when set, names a prebuilt binary to test instead of
// building one.
package e2e
