package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceTxn is produce through a transactional producer: transactions of
// perTxn records of size bytes, each flushed and committed, back to back until max records or until d has passed. Every
// record must be acknowledged and every commit succeed.
func produceTxn(ctx context.Context, t *target, topic string, size, perTxn int, max int64, d time.Duration) (throughput, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d+2*time.Minute)
	defer cancel()
	opts := append(producerOpts(t.addr, topic),
		kgo.TransactionalID(fmt.Sprintf("bench-%s-%d", topic, time.Now().UnixNano())),
		kgo.TransactionTimeout(time.Minute))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return throughput{}, 0, fmt.Errorf("producer: %w", err)
	}
	defer cl.Close()

	var acked ackCounter
	promise := acked.promise
	value := randomValue(size)
	txn := func(n int) error {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			cl.Produce(ctx, &kgo.Record{Key: keys[i%len(keys)], Value: value}, promise)
		}
		// kgo's EndTransaction does not flush: records still in flight
		// would arrive after the commit (the broker refuses them).
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	// Warm up: producer id, partitions, one whole transaction.
	if err := txn(perTxn); err != nil {
		return throughput{}, 0, fmt.Errorf("%s: warm-up transaction: %w", t.name, err)
	}
	acked.n.Store(0)

	cpu0, err := t.cpuTime()
	if err != nil {
		return throughput{}, 0, err
	}
	start := time.Now()
	deadline := start.Add(d)
	var sent, commits int64
	for sent < max && time.Now().Before(deadline) {
		if err := txn(perTxn); err != nil {
			return throughput{}, 0, fmt.Errorf("%s: transaction %d: %w", t.name, commits+1, err)
		}
		sent += int64(perTxn)
		commits++
	}
	elapsed := time.Since(start)
	cpu1, err := t.cpuTime()
	if err != nil {
		return throughput{}, 0, err
	}
	if err := acked.firstErr(); err != nil {
		return throughput{}, 0, fmt.Errorf("%s: produce: %w", t.name, err)
	}
	if n := acked.n.Load(); n != sent {
		return throughput{}, 0, fmt.Errorf("%s: %d records sent, %d acknowledged", t.name, sent, n)
	}
	return throughput{records: sent, bytes: sent * int64(size), elapsed: elapsed, cpu: cpu1 - cpu0}, commits, nil
}

// ackCounter counts acknowledged records and keeps the first failure.
type ackCounter struct {
	n    atomic.Int64
	once sync.Once
	err  error
	mu   sync.Mutex
}

func (a *ackCounter) promise(_ *kgo.Record, err error) {
	if err != nil {
		a.once.Do(func() { a.mu.Lock(); a.err = err; a.mu.Unlock() })
		return
	}
	a.n.Add(1)
}

func (a *ackCounter) firstErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
