package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestProduceConsumeEveryPartition produces with acks 0, 1 and all and
// every compression codec to every partition, then consumes everything
// back and checks each record arrived once, in order, in its partition.
func TestProduceConsumeEveryPartition(t *testing.T) {
	b := startBroker(t, "")
	const (
		topic      = "orders"
		partitions = 4
		perPart    = 15
	)
	b.createTopic(topic, partitions, nil)
	ctx := testCtx(t)

	acks := []struct {
		name string
		acks kgo.Acks
	}{{"acks0", kgo.NoAck()}, {"acks1", kgo.LeaderAck()}, {"acksall", kgo.AllISRAcks()}}
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()},
	}
	want := map[int32][]string{}
	for _, a := range acks {
		for _, c := range codecs {
			opts := []kgo.Opt{kgo.RequiredAcks(a.acks), kgo.ProducerBatchCompression(c.codec),
				kgo.RecordPartitioner(kgo.ManualPartitioner())}
			if a.name != "acksall" {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			cl := b.client(opts...)
			var recs []*kgo.Record
			for p := int32(0); p < partitions; p++ {
				for i := 0; i < perPart; i++ {
					v := fmt.Sprintf("%s/%s/p%d/%03d", a.name, c.name, p, i)
					recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(c.name), Value: []byte(v)})
					want[p] = append(want[p], v)
				}
			}
			res := cl.ProduceSync(ctx, recs...)
			if err := res.FirstErr(); err != nil {
				t.Fatalf("%s %s: produce: %v", a.name, c.name, err)
			}
			if a.name != "acks0" {
				last := map[int32]int64{}
				for _, r := range res {
					if prev, ok := last[r.Record.Partition]; ok && r.Record.Offset != prev+1 {
						t.Errorf("%s %s: partition %d offset %d after %d", a.name, c.name, r.Record.Partition, r.Record.Offset, prev)
					}
					last[r.Record.Partition] = r.Record.Offset
				}
			}
			cl.Close()
		}
	}

	total := partitions * perPart * len(acks) * len(codecs)
	cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]string{}
	n := 0
	for n < total {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", n, total, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for p := int32(0); p < partitions; p++ {
		if len(got[p]) != len(want[p]) {
			t.Fatalf("partition %d: got %d records, want %d", p, len(got[p]), len(want[p]))
		}
		for i := range want[p] {
			if got[p][i] != want[p][i] {
				t.Fatalf("partition %d record %d: got %q, want %q", p, i, got[p][i], want[p][i])
			}
		}
	}
}

// TestLargeFetches reads partitions holding more than the splice
// threshold, with flexible (v16) and non-flexible (v11, v4) fetches, and
// a total byte limit smaller than the data.
func TestLargeFetches(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("big", 3, nil)
	ctx := testCtx(t)
	const perPart = 300
	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("big"),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	var recs []*kgo.Record
	for p := int32(0); p < 3; p++ {
		for i := 0; i < perPart; i++ {
			v := make([]byte, 1000)
			copy(v, fmt.Sprintf("p%d-%04d", p, i))
			recs = append(recs, &kgo.Record{Partition: p, Value: v})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, fetchVersion := range []int16{16, 11, 4, 0} {
		t.Run(fmt.Sprintf("fetch v%d", fetchVersion), func(t *testing.T) {
			vs := kversion.Stable()
			vs.SetMaxKeyVersion(kmsg.Fetch.Int16(), fetchVersion)
			cons := b.client(kgo.MaxVersions(vs), kgo.ConsumeTopics("big"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(100<<10))
			next := map[int32]int{}
			for n := 0; n < 3*perPart; {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consumed %d: %v", n, err)
				}
				fs.EachError(func(_ string, p int32, err error) { t.Fatalf("partition %d: %v", p, err) })
				fs.EachRecord(func(r *kgo.Record) {
					want := fmt.Sprintf("p%d-%04d", r.Partition, next[r.Partition])
					if string(r.Value[:len(want)]) != want || len(r.Value) != 1000 {
						t.Fatalf("got %q..., want %q", r.Value[:len(want)], want)
					}
					next[r.Partition]++
					n++
				})
			}
		})
	}
}

// TestOldProtocolVersions produces and consumes with clients pinned to the
// versions older Kafka releases speak (kafkajs, kafka-python and sarama
// negotiate down to such sets).
func TestOldProtocolVersions(t *testing.T) {
	b := startBroker(t, "")
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		vs   *kversion.Versions
	}{
		{"0.11", kversion.V0_11_0()},
		{"1.1", kversion.V1_1_0()},
		{"2.4", kversion.V2_4_0()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "old-" + tc.name
			b.createTopic(topic, 2, nil)
			opts := []kgo.Opt{kgo.MaxVersions(tc.vs), kgo.DefaultProduceTopic(topic)}
			cl := b.client(opts...)
			var recs []*kgo.Record
			for i := 0; i < 50; i++ {
				recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", tc.name, i))})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			cons := b.client(kgo.MaxVersions(tc.vs), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			seen := map[string]bool{}
			for len(seen) < len(recs) {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consumed %d of %d: %v", len(seen), len(recs), err)
				}
				fs.EachError(func(_ string, p int32, err error) { t.Fatalf("partition %d: %v", p, err) })
				fs.EachRecord(func(r *kgo.Record) {
					if seen[string(r.Value)] {
						t.Fatalf("duplicate %s", r.Value)
					}
					seen[string(r.Value)] = true
				})
			}
		})
	}
}

// TestLogAppendTime checks a LogAppendTime topic answers produces with the
// broker's timestamp and serves records stamped with it.
func TestLogAppendTime(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("stamped", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	ctx := testCtx(t)
	before := time.Now().Add(-time.Minute)
	c := dialRaw(t, b.addr)
	resp := request[*kmsg.ProduceResponse](c, produceReq(9, 1, "stamped", 0, makeBatchAt(1_000_000, -1, -1, -1, 2, 10)))
	if got := partResp(resp); got.ErrorCode != 0 || got.LogAppendTime < before.UnixMilli() {
		t.Fatalf("produce answered error %d, log append time %d", got.ErrorCode, got.LogAppendTime)
	}
	cons := b.client(kgo.ConsumeTopics("stamped"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 2 || recs[0].Timestamp.Before(before) || recs[0].Attrs.TimestampType() != 1 {
		t.Fatalf("consumed %+v", recs)
	}
}
