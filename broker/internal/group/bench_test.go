package group

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkOffsetCommit measures the coordinator's own cost of a simple
// one-partition commit (fsync off, so the disk does not dominate).
func BenchmarkOffsetCommit(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run("fsync="+strconv.FormatBool(sync), func(b *testing.B) {
			c, err := Open(Config{
				Dir:        b.TempDir(),
				NoSync:     !sync,
				Logger:     quietLogger(),
				Partitions: func(string) (int32, bool) { return 64, true },
			})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Version = 8
				req.Group, req.Generation = "bench", -1
				req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, LeaderEpoch: -1}}}}
				for pb.Next() {
					req.Topics[0].Partitions[0].Offset++
					if code := c.OffsetCommit(req).Topics[0].Partitions[0].ErrorCode; code != 0 {
						b.Fatalf("commit error %d", code)
					}
				}
			})
		})
	}
}
