package server

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/storage"
)

func withLimits(queued int64, perIP int, idle time.Duration, clock func() time.Time) brokerOpt {
	return func(c *Config, o *storage.Options) {
		c.MaxQueuedRequestBytes, c.MaxConnectionsPerIP, c.ConnectionsMaxIdle, c.Clock = queued, perIP, idle, clock
		o.Sync = storage.SyncNever
	}
}

// TestQueuedRequestBytesBoundHeap sends 2 MiB produce requests from 40
// connections at once to a broker whose queued.max.request.bytes is 8 MiB:
// every request is answered, connections were held back, and the heap
// (sampled throughout) grows by far less than the 80 MiB the frames would
// take if all were read at once.
func TestQueuedRequestBytesBoundHeap(t *testing.T) {
	const (
		conns     = 40
		perConn   = 3
		valueSize = 2 << 20
		budget    = 8 << 20
	)
	b := startBroker(t, "", withLimits(budget, 0, 0, nil), withMaxFrame(4<<20))
	b.createTopic("big", 1, map[string]string{"max.message.bytes": "4194304", "retention.bytes": "16777216", "segment.bytes": "8388608"})
	// One request frame shared by every sender (read-only), so the test's
	// own memory does not grow with the connection count.
	req := produceReq(9, 1, "big", 0, makeBatch(-1, -1, -1, 1, valueSize))
	fr := frame(req, 1)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	var answered atomic.Int32
	for i := 0; i < conns; i++ {
		c := dialRaw(t, b.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perConn; j++ {
				if _, err := c.nc.Write(fr); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
			for j := 0; j < perConn; j++ {
				body, err := c.readFrame()
				if err != nil {
					t.Errorf("read response: %v", err)
					return
				}
				resp := kmsg.NewPtrProduceResponse()
				resp.Version = 9
				if err := resp.ReadFrom(body[5:]); err != nil || partResp(resp).ErrorCode != 0 {
					t.Errorf("produce response %+v: %v", resp, err)
					return
				}
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if got := answered.Load(); got != conns*perConn {
		t.Fatalf("%d of %d produces answered", got, conns*perConn)
	}
	waits := testutil.ToFloat64(b.srv.limits.readWaits)
	if waits == 0 {
		t.Fatal("no connection ever waited for the request budget")
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %.1f MiB at peak (budget %d MiB, %d MiB sent); %v read waits",
		float64(grew)/(1<<20), budget>>20, conns*perConn*valueSize>>20, waits)
	if grew > 48<<20 {
		t.Fatalf("heap grew by %d MiB with an %d MiB request budget", grew>>20, budget>>20)
	}
	if q := testutil.ToFloat64(b.srv.limits.queuedBytes); q != 0 {
		t.Fatalf("%v request bytes still queued after every answer", q)
	}
}

// TestConnectionsPerIPLimit: past max.connections.per.ip a new connection
// from the same address is closed at once; once one closes, another is
// accepted again.
func TestConnectionsPerIPLimit(t *testing.T) {
	b := startBroker(t, "", withLimits(0, 3, 0, nil))
	var open []*rawConn
	for i := 0; i < 3; i++ {
		c := dialRaw(t, b.addr)
		request[*kmsg.ApiVersionsResponse](c, kmsg.NewPtrApiVersionsRequest())
		open = append(open, c)
	}
	extra := dialRaw(t, b.addr)
	extra.write(frame(kmsg.NewPtrApiVersionsRequest(), 1))
	extra.expectClosed()
	if got := testutil.ToFloat64(b.srv.limits.refused); got != 1 {
		t.Fatalf("refused %v connections, want 1", got)
	}
	open[0].nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRaw(t, b.addr)
		c.write(frame(kmsg.NewPtrApiVersionsRequest(), 1))
		if _, err := c.readFrame(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection accepted after one of the three closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleConnectionsReaped drives the idle reaper with a controllable
// clock: a connection idle for less than connections.max.idle.ms stays, one
// idle for longer is closed, and one waiting in a fetch long poll is never
// idle.
func TestIdleConnectionsReaped(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	advance := func(d time.Duration) { now.Add(int64(d)) }
	b := startBroker(t, "", withLimits(0, 0, 10*time.Minute, clock))
	b.createTopic("t", 1, nil)

	idle := dialRaw(t, b.addr)
	request[*kmsg.ApiVersionsResponse](idle, kmsg.NewPtrApiVersionsRequest())
	polling := dialRaw(t, b.addr)
	request[*kmsg.ApiVersionsResponse](polling, kmsg.NewPtrApiVersionsRequest())
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 11
	fetch.MaxWaitMillis = 60000
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "t"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	corr := polling.send(fetch)
	// Wait until the broker holds the long poll.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(b.srv.metrics.inFlight) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("fetch never in flight")
		}
		time.Sleep(time.Millisecond)
	}

	advance(9 * time.Minute)
	if n := b.srv.reapIdle(clock()); n != 0 {
		t.Fatalf("reaped %d connections before connections.max.idle.ms", n)
	}
	advance(2 * time.Minute)
	if n := b.srv.reapIdle(clock()); n != 1 {
		t.Fatalf("reaped %d connections, want the idle one only", n)
	}
	idle.expectClosed()
	// The long poll is answered when data arrives and the connection lives on.
	p, _ := b.store.Partition("t", 0)
	if _, err := p.Append(makeBatch(-1, -1, -1, 1, 10)); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 11
	polling.recv(resp, corr)
	request[*kmsg.ApiVersionsResponse](polling, kmsg.NewPtrApiVersionsRequest())
}
