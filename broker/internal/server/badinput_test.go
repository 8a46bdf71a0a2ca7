package server

import (
	"encoding/binary"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBadFramesCloseTheConnection sends frames that cannot be answered; each
// closes only its own connection.
func TestBadFramesCloseTheConnection(t *testing.T) {
	b := startBroker(t, "", withMaxFrame(1<<20))
	b.createTopic("t", 1, nil)

	sized := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	header := func(key, version int16) []byte {
		h := kbin.AppendInt16(nil, key)
		h = kbin.AppendInt16(h, version)
		h = kbin.AppendInt32(h, 7)
		return kbin.AppendNullableString(h, nil)
	}
	withSize := func(body []byte) []byte { return append(sized(int32(len(body))), body...) }
	tooNewProduce := produceReq(12, 1, "t", 0, makeBatch(-1, -1, -1, 1, 1))

	tests := []struct {
		name  string
		bytes []byte
	}{
		{"oversized frame", append(sized(1<<20+1), make([]byte, 64)...)},
		{"negative size", sized(-5)},
		{"short header", withSize([]byte{0, 3})},
		{"unknown api key", withSize(append(header(999, 0), 1, 2, 3))},
		{"garbage metadata body", withSize(append(header(kmsg.Metadata.Int16(), 4), 0x7f, 0xff, 0xff, 0xff, 1))},
		{"produce version not served", frame(tooNewProduce, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.addr)
			c.write(tc.bytes)
			c.expectClosed()
		})
	}
	assertServing(t, b)
}

// TestErrorAnswers checks requests that get an error code, on one
// connection that stays usable throughout.
func TestErrorAnswers(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("small", 1, map[string]string{"max.message.bytes": "2000"})
	c := dialRaw(t, b.addr)

	t.Run("api versions too new (KIP-511)", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 9
		corr := c.send(req)
		resp := kmsg.NewPtrApiVersionsResponse() // v0
		c.recv(resp, corr)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
		}
		found := false
		for _, k := range resp.ApiKeys {
			if k.ApiKey == kmsg.ApiVersions.Int16() && k.MaxVersion == 4 {
				found = true
			}
		}
		if !found {
			t.Fatalf("ApiVersions range missing from %+v", resp.ApiKeys)
		}
	})
	t.Run("unserved version with a top-level error code", func(t *testing.T) {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = 2
		resp := request[*kmsg.DescribeClusterResponse](c, req)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
		}
	})
	t.Run("unserved api key", func(t *testing.T) {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		req.Version = 1
		resp := request[*kmsg.DescribeClientQuotasResponse](c, req)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
		}
	})

	corrupt := makeBatch(-1, -1, -1, 2, 10)
	corrupt[len(corrupt)-1] ^= 0xff
	magic1 := makeBatch(-1, -1, -1, 1, 10)
	magic1[16] = 1
	control := makeBatch(-1, -1, -1, 1, 10)
	control[22] |= 0x20
	produces := []struct {
		name    string
		version int16
		acks    int16
		topic   string
		records []byte
		want    *kerr.Error
	}{
		{"bad crc", 9, 1, "small", corrupt, kerr.CorruptMessage},
		{"truncated batch", 9, 1, "small", makeBatch(-1, -1, -1, 2, 10)[:40], kerr.CorruptMessage},
		{"magic 1 message set", 2, 1, "small", magic1, kerr.UnsupportedForMessageFormat},
		{"control batch", 9, 1, "small", control, kerr.InvalidRecord},
		{"over max.message.bytes", 9, -1, "small", makeBatch(-1, -1, -1, 3, 1000), kerr.MessageTooLarge},
		{"unknown topic", 9, -1, "nope", makeBatch(-1, -1, -1, 1, 10), kerr.UnknownTopicOrPartition},
		{"unknown partition", 3, 1, "small", makeBatch(-1, -1, -1, 1, 10), nil},
		{"invalid acks", 7, 2, "small", makeBatch(-1, -1, -1, 1, 10), kerr.InvalidRequiredAcks},
	}
	for _, tc := range produces {
		t.Run("produce "+tc.name, func(t *testing.T) {
			req := produceReq(tc.version, tc.acks, tc.topic, 0, tc.records)
			want := tc.want
			if tc.name == "unknown partition" {
				req.Topics[0].Partitions[0].Partition = 5
				want = kerr.UnknownTopicOrPartition
			}
			got := partResp(request[*kmsg.ProduceResponse](c, req))
			if got.ErrorCode != want.Code {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(got.ErrorCode), want)
			}
		})
	}
	t.Run("transactional produce", func(t *testing.T) {
		req := produceReq(9, -1, "small", 0, makeBatch(-1, -1, -1, 1, 10))
		req.TransactionID = kmsg.StringPtr("txn")
		got := partResp(request[*kmsg.ProduceResponse](c, req))
		if got.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
			t.Fatalf("error %v", kerr.ErrorForCode(got.ErrorCode))
		}
	})
	t.Run("metadata for unknown topic does not create it", func(t *testing.T) {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 9
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("ghost")
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp := request[*kmsg.MetadataResponse](c, req)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("topics %+v", resp.Topics)
		}
		if _, ok := b.store.Topic("ghost"); ok {
			t.Fatal("ghost was created without auto-creation enabled")
		}
	})
	t.Run("fetch out of range", func(t *testing.T) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "small"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = 1000
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := request[*kmsg.FetchResponse](c, req)
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.OffsetOutOfRange.Code {
			t.Fatalf("error %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(got))
		}
	})
	t.Run("fetch of an empty partition answers empty, not null, records", func(t *testing.T) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 4
		req.MaxWaitMillis = 10
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "small"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := request[*kmsg.FetchResponse](c, req)
		got := resp.Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.RecordBatches == nil || got.HighWatermark != 0 {
			t.Fatalf("error %v, records nil %v, high watermark %d", kerr.ErrorForCode(got.ErrorCode), got.RecordBatches == nil, got.HighWatermark)
		}
	})
	// Nothing above was appended.
	p, err := b.store.Partition("small", 0)
	if err != nil {
		t.Fatal(err)
	}
	if hwm := p.HighWatermark(); hwm != 0 {
		t.Fatalf("high watermark %d after rejected produces, want 0", hwm)
	}
	if got := testutil.ToFloat64(b.srv.metrics.produceErrors.WithLabelValues("CORRUPT_MESSAGE")); got != 2 {
		t.Fatalf("CORRUPT_MESSAGE produce errors counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(b.srv.metrics.requests.WithLabelValues("DescribeCluster", "2", "unsupported_version")); got != 1 {
		t.Fatalf("unsupported DescribeCluster v2 requests counted %v, want 1", got)
	}
	assertServing(t, b)
}

// TestPipelinedRequestsAnsweredInOrder writes many requests (more than the
// in-flight bound) before reading any answer, with acks=0 produces (no
// answer) among them.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("p", 2, nil)
	c := dialRaw(t, b.addr)
	type sent struct {
		corr int32
		resp kmsg.Response
	}
	var all []sent
	const n = 4 * DefaultMaxInFlight
	for i := 0; i < n; i++ {
		var req kmsg.Request
		switch i % 4 {
		case 0:
			req = produceReq(7, -1, "p", int32(i%2), makeBatch(-1, -1, -1, 2, 20))
		case 1:
			req = produceReq(9, 0, "p", int32(i%2), makeBatch(-1, -1, -1, 1, 20))
		case 2:
			m := kmsg.NewPtrMetadataRequest()
			m.Version = 12
			req = m
		case 3:
			f := kmsg.NewPtrFetchRequest()
			f.Version = 4
			f.MaxWaitMillis = 50
			f.MinBytes = 1 << 20 // waits the full 50ms: answers later than the requests after it are handled
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "p"
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			f.Topics = append(f.Topics, rt)
			req = f
		}
		corr := c.send(req)
		if i%4 != 1 {
			all = append(all, sent{corr, req.ResponseKind()})
		}
	}
	for _, s := range all {
		c.recv(s.resp, s.corr)
	}
	p, _ := b.store.Partition("p", 0)
	q, _ := b.store.Partition("p", 1)
	// acks=0 records become visible once a group-commit round has fsynced
	// them, which nothing above waits for.
	want := int64(n/4*2 + n/4)
	waitFor(t, "every record stored", func() bool { return p.HighWatermark()+q.HighWatermark() >= want })
	if got := p.HighWatermark() + q.HighWatermark(); got != want {
		t.Fatalf("records stored %d, want %d", got, want)
	}
}

// assertServing checks a fresh client can still produce and read metadata.
func assertServing(t *testing.T, b *testBroker) {
	t.Helper()
	if _, ok := b.store.Topic("alive"); !ok {
		b.createTopic("alive", 1, nil)
	}
	cl := b.client(kgo.DefaultProduceTopic("alive"))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("still here")}).FirstErr(); err != nil {
		t.Fatalf("broker stopped serving: %v", err)
	}
}

func TestUnsupportedVersionResponse(t *testing.T) {
	tests := []struct {
		name         string
		key, version int16
		ok           bool
	}{
		{"describe acls v1 has a top-level error", kmsg.DescribeACLs.Int16(), 1, true},
		{"add partitions to txn v3 has none", kmsg.AddPartitionsToTxn.Int16(), 3, false},
		{"add partitions to txn v4 has one", kmsg.AddPartitionsToTxn.Int16(), 4, true},
		{"produce has none", kmsg.Produce.Int16(), 12, false},
		{"beyond kmsg", kmsg.DescribeCluster.Int16(), 99, false},
		{"unknown key", 999, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, ok := unsupportedVersionResponse(tc.key, tc.version)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && resp.GetVersion() != tc.version {
				t.Fatalf("response version %d", resp.GetVersion())
			}
		})
	}
}
