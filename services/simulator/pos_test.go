package simulator

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/pos/app"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAgainstRealPOS runs the simulator against the real POS service on our broker: every
// event is accepted, and every accepted sale is on pos-sales with the generator's sale_id.
func TestAgainstRealPOS(t *testing.T) {
	b := brokertest.Start(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pos := kittest.Start(t, app.Options, map[string]string{"KAFKA_BROKERS": b.Addr, "DATABASE_URL": pgtest.New(t)},
		func(_ context.Context, s *kit.Service) error { _, err := app.New(s); return err })

	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	stores, products, err := FromCatalog(cat, []string{"S001", "S002"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Stores: stores, Products: products, Seed: 11, Start: time.Now(), Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	accepted := map[string]bool{}
	r := &Runner{BaseURL: kittest.URL(pos), Workers: 8, ReportEvery: -1, Logger: quiet,
		OnAccepted: func(ev Event, _ time.Time) {
			if ev.Kind == KindSale {
				mu.Lock()
				accepted[ev.ID()] = true
				mu.Unlock()
			}
		}}
	st, err := r.Run(context.Background(), g, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.Sales.Sent < 20 || st.Counts.Sent < 5 {
		t.Fatalf("too few events: %+v", st)
	}
	for name, k := range map[string]KindStats{"sales": st.Sales, "counts": st.Counts, "deliveries": st.Deliveries} {
		if k.Failed != 0 || k.Accepted != k.Sent {
			t.Errorf("%s: %+v, want every one accepted", name, k)
		}
	}

	cl := b.Client(t, kgo.ConsumeTopics("pos-sales"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	pctx, pcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer pcancel()
	for len(seen) < len(accepted) {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("found %d of %d accepted sales on pos-sales", len(seen), len(accepted))
		}
		fs.EachRecord(func(rec *kgo.Record) {
			var s schemas.SaleCompleted
			if err := json.Unmarshal(rec.Value, &s); err != nil {
				t.Errorf("record %d: %v", rec.Offset, err)
				return
			}
			if !accepted[s.SaleID] {
				t.Errorf("sale %s on the topic was not accepted by the simulator", s.SaleID)
			}
			if string(rec.Key) != s.StoreID {
				t.Errorf("sale %s keyed %q, want its store %q", s.SaleID, rec.Key, s.StoreID)
			}
			seen[s.SaleID] = true
		})
	}
}
