package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactionSurvivesKill9 runs the broker binary with a short
// --compaction-check-interval, fills a compacted topic with small segments
// over few keys, waits for the background cleaner to shrink it, kills the
// broker with SIGKILL, restarts it and reads the topic from the start: the
// latest value of every key is there at its original offset, the older ones
// are gone, and the broker takes new records at the next offset.
func TestCompactionSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--compaction-check-interval", "100ms"}
	b := startBroker(t, dir, args...)
	str := func(s string) *string { return &s }
	const topic, n, keys = "compacted", 600, 15
	b.createTopic(topic, 1, map[string]*string{
		"cleanup.policy": str("compact"), "segment.bytes": str("4096"), "min.cleanable.dirty.ratio": str("0.01"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prod := producer(b, topic)
	latest := map[string]int64{}
	for i := int64(0); i < n; i++ {
		key := fmt.Sprintf("store-%02d", i%keys)
		r := &kgo.Record{Key: []byte(key), Value: []byte(fmt.Sprintf("%s=%04d", key, i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		latest[key] = r.Offset
	}
	deadline := time.Now().Add(time.Minute)
	for len(consumeAll(t, b, topic)) > n/4 {
		if time.Now().After(deadline) {
			t.Fatal("the cleaner did not compact the topic within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.kill()

	b = startBroker(t, dir, args...)
	got := consumeAll(t, b, topic)
	seen := map[string]consumed{}
	last := int64(-1)
	for _, r := range got {
		if r.offset <= last {
			t.Fatalf("offset %d after %d", r.offset, last)
		}
		last = r.offset
		if want := fmt.Sprintf("%s=%04d", r.key, r.offset); r.value != want {
			t.Fatalf("offset %d holds %q, produced %q there", r.offset, r.value, want)
		}
		seen[r.key] = r
	}
	for k, off := range latest {
		if seen[k].offset != off {
			t.Fatalf("key %s: newest record at %d, read %+v", k, off, seen[k])
		}
	}
	if len(got) > n/4 {
		t.Fatalf("%d records after the restart, the compaction was lost", len(got))
	}
	next := producer(b, topic)
	r := &kgo.Record{Key: []byte("store-00"), Value: []byte("after restart")}
	if err := next.ProduceSync(ctx, r).FirstErr(); err != nil || r.Offset != n {
		t.Fatalf("produce after restart: offset %d, %v; want offset %d", r.Offset, err, n)
	}
	t.Logf("%d records compacted to %d, intact after kill -9", n, len(got))
	b.stop()
}
