package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/broker/internal/storage"
)

func withCompactionInterval(d time.Duration) brokerOpt {
	return func(_ *Config, o *storage.Options) { o.CompactionCheckInterval = d }
}

// TestCompactedTopicFranzGo creates a compacted topic with kadm, produces
// keyed records with franz-go (snappy, its default) while the background
// cleaner runs every few milliseconds and a consumer tails the topic
// (offsets only grow, every record is the one acknowledged at its
// offset), then rolls the active segment, compacts, and checks that a
// consumer reading from the start gets exactly the latest value per key
// at its original offset.
func TestCompactedTopicFranzGo(t *testing.T) {
	b := startBroker(t, "", withCompactionInterval(5*time.Millisecond))
	ctx := testCtx(t)
	adm := b.admin()
	const topic = "state"
	res, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("8192"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.2"),
		"delete.retention.ms":       kadm.StringPtr("3600000"),
	}, topic)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cfgs := map[string]string{}
	for _, c := range rc[0].Configs {
		cfgs[c.Key] = c.MaybeValue()
	}
	if cfgs["cleanup.policy"] != "compact" || cfgs["min.cleanable.dirty.ratio"] != "0.2" || cfgs["min.compaction.lag.ms"] != "0" {
		t.Fatalf("described configs %v", cfgs)
	}

	prod := b.client(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(time.Millisecond))
	var mu sync.Mutex
	acked := map[int64]string{} // offset -> key=value
	latest := map[string]struct {
		off int64
		val string
	}{}
	stop := make(chan struct{})
	tailErr := make(chan error, 1)
	go func() {
		tail := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		last := int64(-1)
		for {
			select {
			case <-stop:
				tailErr <- nil
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			fs := tail.PollFetches(pctx)
			cancel()
			for _, fe := range fs.Errors() {
				if !errors.Is(fe.Err, context.DeadlineExceeded) {
					tailErr <- fmt.Errorf("tail fetch: %w", fe.Err)
					return
				}
			}
			for _, r := range fs.Records() {
				mu.Lock()
				want, ok := acked[r.Offset]
				mu.Unlock()
				if r.Offset <= last || (ok && want != string(r.Key)+"="+string(r.Value)) {
					tailErr <- fmt.Errorf("tail read offset %d %s=%s after %d; acknowledged %q", r.Offset, r.Key, r.Value, last, want)
					return
				}
				last = r.Offset
			}
		}
	}()
	const n, keys = 3000, 40
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		key, val := fmt.Sprintf("store-%02d", i%keys), fmt.Sprintf("value-%05d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
		wg.Add(1)
		prod.Produce(ctx, &kgo.Record{Key: []byte(key), Value: []byte(val)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			mu.Lock()
			acked[r.Offset] = key + "=" + val
			if l, ok := latest[key]; !ok || r.Offset > l.off {
				latest[key] = struct {
					off int64
					val string
				}{r.Offset, val}
			}
			mu.Unlock()
		})
		if i%100 == 99 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(stop)
	if err := <-tailErr; err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	if st := b.store.CompactionStats(); st.Passes == 0 {
		t.Fatalf("the background cleaner never ran while producing: %+v", st)
	}

	// Roll the active segment (segment.ms=1 with one more record) and
	// compact everything before the new active segment.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kadm.StringPtr("1")}}, topic); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // segment.ms counts from the active segment's first append
	if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("zz-end"), Value: []byte("end")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p, _ := b.store.Partition(topic, 0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, _ := p.DirtyRatio(); r == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cleaner did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}

	cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]*kgo.Record{}
	count := 0
	for got["zz-end"] == nil {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for _, r := range fs.Records() {
			count++
			if prev := got[string(r.Key)]; prev != nil {
				t.Fatalf("key %s twice: offsets %d and %d", r.Key, prev.Offset, r.Offset)
			}
			got[string(r.Key)] = r
		}
	}
	if count != keys+1 {
		t.Fatalf("read %d records, want %d (one per key)", count, keys+1)
	}
	for k, l := range latest {
		r := got[k]
		if r == nil || r.Offset != l.off || string(r.Value) != l.val {
			t.Fatalf("key %s: got %+v, want offset %d value %s", k, r, l.off, l.val)
		}
	}
	t.Logf("%d records compacted to %d; cleaner %+v", n, count, b.store.CompactionStats())
}

// TestCompactedTopicRefusesKeylessRecords: franz-go producing a record
// without a key to a compacted topic gets INVALID_RECORD and nothing is
// appended.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("state", 1, map[string]string{"cleanup.policy": "compact"})
	ctx := testCtx(t)
	cl := b.client(kgo.DefaultProduceTopic("state"), kgo.RecordRetries(0))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless produce: %v, want INVALID_RECORD", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("keyed produce: %v", err)
	}
	if p, _ := b.store.Partition("state", 0); p.HighWatermark() != 1 {
		t.Fatalf("high watermark %d, want 1", p.HighWatermark())
	}
	if code := produceErrorCode(7, kerr.InvalidRecord.Code); code != kerr.CorruptMessage.Code {
		t.Fatalf("Produce v7 gets code %d, want CORRUPT_MESSAGE", code)
	}
}
