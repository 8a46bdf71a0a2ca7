package server

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCleanRestart stops a broker after acks=all produces and reopens the
// same data directory: every record is there, once, in order, and the
// topic keeps its id and configs.
func TestCleanRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	info := b.createTopic("kept", 3, map[string]string{"retention.ms": "-1"})
	ctx := testCtx(t)
	cl := b.client(kgo.DefaultProduceTopic("kept"))
	const n = 300
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("r%04d", i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	want := map[int32][]string{}
	for _, r := range recs {
		want[r.Partition] = append(want[r.Partition], string(r.Value))
	}
	cl.Close()
	b.stop()

	b2 := startBroker(t, dir)
	info2, ok := b2.store.Topic("kept")
	if !ok || info2.ID != info.ID || info2.Partitions != 3 || info2.Configs["retention.ms"] != "-1" {
		t.Fatalf("after restart: %+v (before %+v)", info2, info)
	}
	cons := b2.client(kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]string{}
	for count := 0; count < n; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", count, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			count++
		})
	}
	for p, w := range want {
		if fmt.Sprint(got[p]) != fmt.Sprint(w) {
			t.Fatalf("partition %d after restart: got %d records %v..., want %d", p, len(got[p]), got[p][:min(3, len(got[p]))], len(w))
		}
	}
	// The idempotent producer of a new client keeps working after restart.
	cl2 := b2.client(kgo.DefaultProduceTopic("kept"))
	if err := cl2.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
}
