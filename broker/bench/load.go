package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// keys are the record keys the load cycles through: store ids, as the
// FreshMart topics are keyed, spread over every partition.
var keys = func() [][]byte {
	k := make([][]byte, 60)
	for i := range k {
		k[i] = []byte("store-" + strconv.Itoa(100+i))
	}
	return k
}()

// fetchStats counts the Fetch responses a consumer reads, to tell in the
// log how the broker batches its answers.
type fetchStats struct {
	responses, bytes atomic.Int64
	wait, read       atomic.Int64 // nanoseconds waiting for and reading responses
}

func (f *fetchStats) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, wait, read time.Duration, err error) {
	if key == 1 && err == nil {
		f.responses.Add(1)
		f.bytes.Add(int64(n))
		f.wait.Add(int64(wait))
		f.read.Add(int64(read))
	}
}

// throughput is the result of one produce or consume run.
type throughput struct {
	records int64
	bytes   int64 // value bytes
	elapsed time.Duration
	cpu     time.Duration // broker CPU time spent during the run
}

func (t throughput) recordsPerSec() float64 { return float64(t.records) / t.elapsed.Seconds() }
func (t throughput) mbPerSec() float64      { return float64(t.bytes) / 1e6 / t.elapsed.Seconds() }
func (t throughput) cpuPerRecord() time.Duration {
	if t.records == 0 {
		return 0
	}
	return t.cpu / time.Duration(t.records)
}

// producerOpts are the franz-go producer settings every run uses: the
// defaults (idempotent, acks=all, 10 ms linger) made explicit, except that
// batches are not compressed: the values are random and would not shrink,
// and MB/s should count the bytes the broker really moves.
func producerOpts(addr, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(10 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
}

// randomValue returns size pseudo-random (incompressible) bytes.
func randomValue(size int) []byte {
	v := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// produce writes records of size bytes to topic as fast as the client
// allows, until max records or until d has passed, then waits for every
// acknowledgement. Every record must be acknowledged, within two minutes
// after the producing stops.
func produce(ctx context.Context, t *target, topic string, size int, max int64, d time.Duration) (throughput, error) {
	return produceKeys(ctx, t, topic, keys, size, max, d)
}

// produceKeys is produce cycling through the given record keys.
func produceKeys(ctx context.Context, t *target, topic string, keys [][]byte, size int, max int64, d time.Duration) (throughput, error) {
	ctx, cancel := context.WithTimeout(ctx, d+2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(producerOpts(t.addr, topic)...)
	if err != nil {
		return throughput{}, fmt.Errorf("producer: %w", err)
	}
	defer cl.Close()
	// Warm up: metadata, producer id and one batch per partition, so the
	// timed run measures the steady state.
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: keys[0], Value: make([]byte, size)}).FirstErr(); err != nil {
		return throughput{}, fmt.Errorf("%s: warm-up produce: %w", t.name, err)
	}

	var acked ackCounter
	promise := acked.promise
	value := randomValue(size)
	cpu0, err := t.cpuTime()
	if err != nil {
		return throughput{}, err
	}
	start := time.Now()
	deadline := start.Add(d)
	var sent int64
	for sent < max {
		if sent%1024 == 0 && time.Now().After(deadline) {
			break
		}
		cl.Produce(ctx, &kgo.Record{Key: keys[sent%int64(len(keys))], Value: value}, promise)
		sent++
	}
	if err := cl.Flush(ctx); err != nil {
		return throughput{}, fmt.Errorf("%s: flush: %w", t.name, err)
	}
	elapsed := time.Since(start)
	cpu1, err := t.cpuTime()
	if err != nil {
		return throughput{}, err
	}
	if err := acked.firstErr(); err != nil {
		return throughput{}, fmt.Errorf("%s: produce: %w", t.name, err)
	}
	if n := acked.n.Load(); n != sent {
		return throughput{}, fmt.Errorf("%s: %d records sent, %d acknowledged", t.name, sent, n)
	}
	return throughput{records: sent, bytes: sent * int64(size), elapsed: elapsed, cpu: cpu1 - cpu0}, nil
}

// consume reads want records of topic from the start of every partition
// with a fresh franz-go consumer (no group) and times it. It gives up after
// two minutes: a broker that stops serving fails the run instead of hanging
// it.
func consume(ctx context.Context, t *target, topic string, want int64) (throughput, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var stats fetchStats
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(t.addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(&stats),
	)
	if err != nil {
		return throughput{}, fmt.Errorf("consumer: %w", err)
	}
	defer cl.Close()
	// Connect and load metadata first: the timed part is the reading.
	if _, err := kadm.NewClient(cl).Metadata(ctx, topic); err != nil {
		return throughput{}, fmt.Errorf("%s: consumer metadata: %w", t.name, err)
	}
	cpu0, err := t.cpuTime()
	if err != nil {
		return throughput{}, err
	}
	start := time.Now()
	var got, bytes int64
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return throughput{}, fmt.Errorf("%s: consumed %d of %d records: %w", t.name, got, want, err)
		}
		var ferr error
		fs.EachError(func(topic string, p int32, err error) {
			ferr = fmt.Errorf("%s: fetch %s[%d]: %w", t.name, topic, p, err)
		})
		if ferr != nil {
			return throughput{}, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	elapsed := time.Since(start)
	cpu1, err := t.cpuTime()
	if err != nil {
		return throughput{}, err
	}
	if n := stats.responses.Load(); n > 0 {
		logf("  %s: %d fetch responses, on average %.1f KiB, %v waiting for it, %v reading it", t.name, n,
			float64(stats.bytes.Load())/float64(n)/1024, time.Duration(stats.wait.Load()/n), time.Duration(stats.read.Load()/n))
	}
	return throughput{records: got, bytes: bytes, elapsed: elapsed, cpu: cpu1 - cpu0}, nil
}

// latencyResult holds end-to-end latencies of one paced run.
type latencyResult struct {
	samples       []time.Duration // sorted
	cpu           time.Duration
	sent, missing int64
	rate          int // records/s
}

func (l latencyResult) quantile(q float64) time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	i := int(q * float64(len(l.samples)-1))
	return l.samples[i]
}

// latency produces size-byte records at a fixed rate for d and measures,
// for each, the time from the Produce call to its arrival at a consumer
// that tails the topic in the same process. The first 8 bytes of each
// value carry the send time relative to the run's start (monotonic clock).
func latency(ctx context.Context, t *target, topic string, size int, rate int, d time.Duration) (latencyResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+2*time.Minute)
	defer cancel()
	if size < 8 {
		return latencyResult{}, errors.New("latency: records must hold at least 8 bytes")
	}
	prod, err := kgo.NewClient(producerOpts(t.addr, topic)...)
	if err != nil {
		return latencyResult{}, fmt.Errorf("producer: %w", err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(t.addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
	)
	if err != nil {
		return latencyResult{}, fmt.Errorf("consumer: %w", err)
	}
	defer cons.Close()

	base := time.Now()
	const warmupMark = ^uint64(0)
	// Warm up until the tailing consumer sees a record produced after it
	// started, so the timed run does not include its start-up.
	warm := make([]byte, size)
	binary.BigEndian.PutUint64(warm, warmupMark)
	warmDeadline := time.Now().Add(30 * time.Second)
	for seen := false; !seen; {
		if time.Now().After(warmDeadline) {
			return latencyResult{}, fmt.Errorf("%s: the consumer saw no warm-up record in 30 s", t.name)
		}
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: keys[0], Value: warm}).FirstErr(); err != nil {
			return latencyResult{}, fmt.Errorf("%s: warm-up produce: %w", t.name, err)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cons.PollFetches(pctx)
		cancel()
		seen = fs.NumRecords() > 0
	}

	total := int64(rate) * int64(d/time.Second)
	samples := make([]time.Duration, 0, total)
	done := make(chan error, 1)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		for int64(len(samples)) < total {
			fs := cons.PollFetches(cctx)
			if cctx.Err() != nil {
				done <- nil
				return
			}
			now := time.Since(base)
			fs.EachRecord(func(r *kgo.Record) {
				sentAt := binary.BigEndian.Uint64(r.Value)
				if sentAt == warmupMark {
					return
				}
				samples = append(samples, now-time.Duration(sentAt))
			})
		}
		done <- nil
	}()

	cpu0, err := t.cpuTime()
	if err != nil {
		return latencyResult{}, err
	}
	var prodErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			prodErr.CompareAndSwap(nil, &err)
		}
	}
	filler := randomValue(size)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := int64(0); i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		v := slices.Clone(filler)
		binary.BigEndian.PutUint64(v, uint64(time.Since(base)))
		prod.Produce(ctx, &kgo.Record{Key: keys[i%int64(len(keys))], Value: v}, promise)
	}
	if err := prod.Flush(ctx); err != nil {
		return latencyResult{}, fmt.Errorf("%s: flush: %w", t.name, err)
	}
	if p := prodErr.Load(); p != nil {
		return latencyResult{}, fmt.Errorf("%s: produce: %w", t.name, *p)
	}
	// Every record is acknowledged; give the consumer 30 s to see them.
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		ccancel()
		<-done
	}
	cpu1, err := t.cpuTime()
	if err != nil {
		return latencyResult{}, err
	}
	slices.Sort(samples)
	return latencyResult{samples: samples, cpu: cpu1 - cpu0, sent: total, missing: total - int64(len(samples)), rate: rate}, nil
}
