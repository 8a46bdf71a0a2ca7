package server

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdempotentRetriesNeverDuplicate sends raw produce requests the way a
// retrying idempotent producer does.
func TestIdempotentRetriesNeverDuplicate(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("sales", 1, nil)
	c := dialRaw(t, b.addr)

	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	ir := request[*kmsg.InitProducerIDResponse](c, init)
	if ir.ErrorCode != 0 || ir.ProducerID < 0 {
		t.Fatalf("InitProducerId: code %d id %d", ir.ErrorCode, ir.ProducerID)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	steps := []struct {
		name     string
		seq      int32
		n        int
		wantCode int16
		wantBase int64
		wantHWM  int64
	}{
		{"first batch", 0, 3, 0, 0, 3},
		{"retry of first batch", 0, 3, 0, 0, 3},
		{"next batch", 3, 2, 0, 3, 5},
		{"retry of older batch", 0, 3, 0, 0, 5},
		{"retry of latest batch", 3, 2, 0, 3, 5},
		{"sequence gap", 10, 1, kerr.OutOfOrderSequenceNumber.Code, -1, 5},
		{"in order after the gap", 5, 1, 0, 5, 6},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			resp := request[*kmsg.ProduceResponse](c, produceReq(9, -1, "sales", 0, makeBatch(pid, epoch, st.seq, st.n, 10)))
			got := partResp(resp)
			if got.ErrorCode != st.wantCode {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(got.ErrorCode), kerr.ErrorForCode(st.wantCode))
			}
			if st.wantCode == 0 && got.BaseOffset != st.wantBase {
				t.Fatalf("base offset %d, want %d", got.BaseOffset, st.wantBase)
			}
			p, err := b.store.Partition("sales", 0)
			if err != nil {
				t.Fatal(err)
			}
			if hwm := p.HighWatermark(); hwm != st.wantHWM {
				t.Fatalf("high watermark %d, want %d", hwm, st.wantHWM)
			}
		})
	}
}
