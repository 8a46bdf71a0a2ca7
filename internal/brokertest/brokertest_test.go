package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceConsumeAcrossRestart(t *testing.T) {
	b := Start(t)
	if !b.hasLine("msg=listening") {
		t.Fatalf("no listening line in log:\n%s", b.Log())
	}
	b.CreateTopic(t, "brokertest", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := b.Client(t)
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "brokertest", Key: []byte{byte(i)}, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	b.Restart(t)
	cons := b.Client(t, kgo.ConsumeTopics("brokertest"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	n := 0
	for n < 10 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 10 after restart: %v", n, err)
		}
		fs.EachRecord(func(*kgo.Record) { n++ })
	}
	if n != 10 {
		t.Fatalf("consumed %d records, want 10", n)
	}
}
