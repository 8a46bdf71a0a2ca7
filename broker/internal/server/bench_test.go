package server

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
	"github.com/freshmart/platform/broker/internal/storage"
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

// BenchmarkProduceRoundTripAuthz is BenchmarkProduceRoundTrip on the
// PLAINTEXT listener with security configured as the binary does: "open"
// (no ACLs, every request allowed without looking) and "acls" (an ALLOW
// for the topic among 100 other ACLs, so every produce is checked).
func BenchmarkProduceRoundTripAuthz(b *testing.B) {
	for _, withACLs := range []bool{false, true} {
		name := "open"
		if withACLs {
			name = "acls"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			acls, err := auth.OpenACLs(dir)
			if err != nil {
				b.Fatal(err)
			}
			users, _ := auth.OpenUsers(dir)
			if withACLs {
				var list []auth.ACL
				for i := range 100 {
					list = append(list, auth.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: fmt.Sprintf("other-%d", i),
						PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:x", Host: "*",
						Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow})
				}
				list = append(list, auth.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "bench",
					PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: auth.Anonymous, Host: "*",
					Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow})
				if err := acls.Create(list); err != nil {
					b.Fatal(err)
				}
			}
			sec := &Security{Users: users, ACLs: acls, Authorizer: &auth.Authorizer{ACLs: acls, AllowEveryoneIfNoACL: true}}
			br := startBroker(b, "", func(c *Config, _ *storage.Options) { c.Security = sec })
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
		})
	}
}
