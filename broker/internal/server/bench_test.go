package server

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkDecodeRequest measures header and body decoding of a produce
// frame holding one 16 KiB batch.
func BenchmarkDecodeRequest(b *testing.B) {
	f := frame(produceReq(9, -1, "bench", 0, makeBatch(1, 0, 0, 160, 100)), 1)[4:]
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, _, err := decodeRequest(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProduceRoundTrip measures one acks=1 produce of 100 records of
// 100 bytes over a real connection, answer included.
func BenchmarkProduceRoundTrip(b *testing.B) {
	br := startBroker(b, "")
	br.createTopic("bench", 1, nil)
	c := dialRaw(b, br.addr)
	batch := makeBatch(-1, -1, -1, 100, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		req := produceReq(9, 1, "bench", 0, append([]byte(nil), batch...))
		corr := c.send(req)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		c.recv(resp, corr)
		if code := partResp(resp).ErrorCode; code != 0 {
			b.Fatalf("produce error %d", code)
		}
	}
}
