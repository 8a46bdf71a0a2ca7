package server

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func longPollFetch(topic string, maxWaitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = maxWaitMs
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestFetchLongPollWakesOnProduce parks a fetch on an empty partition with
// a wait far longer than the test and checks a produce answers it with data.
func TestFetchLongPollWakesOnProduce(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("wait", 1, nil)
	c := dialRaw(t, b.addr)
	corr := c.send(longPollFetch("wait", 10*60*1000))

	cl := b.client(kgo.DefaultProduceTopic("wait"))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("wake up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 11
	c.recv(resp, corr)
	got := resp.Topics[0].Partitions[0]
	if got.ErrorCode != 0 || len(got.RecordBatches) == 0 || got.HighWatermark != 1 {
		t.Fatalf("error %d, %d bytes, high watermark %d", got.ErrorCode, len(got.RecordBatches), got.HighWatermark)
	}
}

// TestShutdownAnswersParkedFetches stops the broker while a fetch waits: the
// fetch is answered (empty) and Shutdown returns without waiting out MaxWait.
func TestShutdownAnswersParkedFetches(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("idle", 1, nil)
	c := dialRaw(t, b.addr)
	corr := c.send(longPollFetch("idle", 10*60*1000))
	waitFor(t, "the fetch to be in flight", func() bool { return testutil.ToFloat64(b.srv.metrics.inFlight) == 1 })

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.stop()
	}()
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 11
	c.recv(resp, corr)
	if got := resp.Topics[0].Partitions[0]; got.ErrorCode != 0 || len(got.RecordBatches) != 0 {
		t.Fatalf("parked fetch answered with error %d and %d bytes", got.ErrorCode, len(got.RecordBatches))
	}
	<-stopped
	c.expectClosed()
}

// waitFor polls cond for up to 60 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDeleteTopicAnswersParkedFetch deletes a topic while a fetch waits on
// it: the fetch is answered UNKNOWN_TOPIC_OR_PARTITION, not left hanging.
func TestDeleteTopicAnswersParkedFetch(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("doomed", 1, nil)
	c := dialRaw(t, b.addr)
	corr := c.send(longPollFetch("doomed", 10*60*1000))
	waitFor(t, "the fetch to be in flight", func() bool { return testutil.ToFloat64(b.srv.metrics.inFlight) == 1 })
	if err := b.store.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 11
	c.recv(resp, corr)
	if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("error %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(got))
	}
}
