package e2e

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// pythonWithConfluent finds a python3 that can import confluent_kafka, or
// skips the test saying what to install (CI installs it: .ci/run).
func pythonWithConfluent(t *testing.T) string {
	t.Helper()
	path, tried := pythonWith("confluent_kafka")
	if path == "" {
		t.Skipf("skipping: no python3 that can import confluent_kafka (tried %v); install the Debian package python3-confluent-kafka", tried)
	}
	return path
}

// TestConfluentKafkaTransactions: librdkafka (through python's
// confluent-kafka) commits, aborts and commits a transaction; its own
// read_committed consumer and franz-go's read_committed reader see the
// committed records only, and franz-go's read_uncommitted reader all of them.
func TestConfluentKafkaTransactions(t *testing.T) {
	py := pythonWithConfluent(t)
	script, err := filepath.Abs("testdata/confluent_txn.py")
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, t.TempDir())
	const topic, parts, n = "python-txn", 3, 20
	b.createTopic(topic, parts, nil)
	out := runCmd(t, 150*time.Second, nil, py, script, "--bootstrap", b.addr, "--topic", topic,
		"--count", strconv.Itoa(n), "--expect", strconv.Itoa(2*n))
	var got []string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	committed := append(seq("py-commit", n), seq("py-commit2", n)...)
	sameSet(t, "confluent-kafka read_committed", got, committed)
	writeSentinels(t, b, topic, parts)
	sameSet(t, "franz-go read_committed", readToSentinels(t, b, topic, parts, true, 30*time.Second), committed)
	sameSet(t, "franz-go read_uncommitted", readToSentinels(t, b, topic, parts, false, 30*time.Second), append(committed, seq("py-abort", n)...))
}
