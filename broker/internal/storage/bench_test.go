package storage

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAppend measures appending one batch of 10 records per call,
// with 100-byte and 1 KiB values. The fsync cases run appends from
// parallel goroutines, each waiting for durability as an acks=all produce
// does, so that group commit shares fsyncs between them.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, mode := range []SyncMode{SyncNever, SyncEveryAck} {
			b.Run(fmt.Sprintf("%dB/%s", size, mode), func(b *testing.B) {
				s, err := Open(Options{Dir: b.TempDir(), Sync: mode, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if _, err := s.CreateTopic("bench", 6, nil); err != nil {
					b.Fatal(err)
				}
				batch := plain(10, size, 1)
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				b.ResetTimer()
				if mode == SyncNever {
					p, _ := s.Partition("bench", 0)
					for i := 0; i < b.N; i++ {
						if _, err := p.Append(batch); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(8)
				var next int32
				b.RunParallel(func(pb *testing.PB) {
					p, _ := s.Partition("bench", next%6)
					next++
					own := append([]byte(nil), batch...)
					ctx := context.Background()
					for pb.Next() {
						res, err := p.Append(own)
						if err != nil {
							b.Error(err)
							return
						}
						if err := p.Sync(ctx, res.LastOffset); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkRead measures reading 1 MiB fetches into a reused buffer from a
// partition holding 10-record batches of 100-byte values, from the page
// cache.
func BenchmarkRead(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Sync: SyncNever, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateTopic("bench", 1, nil); err != nil {
		b.Fatal(err)
	}
	p, _ := s.Partition("bench", 0)
	batch := plain(10, 100, 1)
	for i := 0; i < 20000; i++ {
		if _, err := p.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	hw := p.HighWatermark()
	b.ReportAllocs()
	b.ResetTimer()
	var off int64
	var n int64
	buf := make([]byte, 1<<20)
	for i := 0; i < b.N; i++ {
		res, err := p.ReadInto(buf, off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(res.Data))
		off += 997
		if off >= hw {
			off = 0
		}
	}
	b.SetBytes(n / int64(b.N))
}
