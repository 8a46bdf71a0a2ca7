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
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/pos/app"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAgainstRealPOS runs the simulator against the real POS service on our broker, voiding
// 1 sale in 5 about a second after it: every event is accepted, voids included, every accepted
// sale is on pos-sales with the generator's sale_id, and so is every accepted void, a valid
// sale.voided of an accepted sale in its store, after the sale's occurred_at.
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
	// Yesterday 23:00 UTC, the after-work peak in both stores, so the run has enough sales to
	// void whatever the time of day (a void's voided_at may be in the POS's past, not ahead).
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(-time.Hour)
	g, err := New(Config{Stores: stores, Products: products, Seed: 11, Start: start, Rate: 20,
		Voids: true, VoidShare: 0.2, VoidDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	accepted := map[string]schemas.SaleCompleted{}
	voidsAccepted := map[string]schemas.SaleVoided{} // by sale_id
	r := &Runner{BaseURL: kittest.URL(pos), Workers: 8, ReportEvery: -1, Logger: quiet,
		OnAccepted: func(ev Event, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Kind {
			case KindSale:
				accepted[ev.ID()] = *ev.Sale
			case KindVoid:
				voidsAccepted[ev.ID()] = *ev.Void
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
	for name, k := range map[string]KindStats{"sales": st.Sales, "counts": st.Counts, "deliveries": st.Deliveries,
		"voids": st.Voids} {
		if k.Failed != 0 || k.Accepted != k.Sent || k.Skipped != 0 {
			t.Errorf("%s: %+v, want every one accepted", name, k)
		}
	}
	if st.Voids.Accepted < 3 {
		t.Fatalf("only %d voids accepted", st.Voids.Accepted)
	}

	cl := b.Client(t, kgo.ConsumeTopics("pos-sales"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	seenVoids := map[string]bool{}
	pctx, pcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer pcancel()
	for len(seen) < len(accepted) || len(seenVoids) < len(voidsAccepted) {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("found %d of %d accepted sales and %d of %d accepted voids on pos-sales",
				len(seen), len(accepted), len(seenVoids), len(voidsAccepted))
		}
		fs.EachRecord(func(rec *kgo.Record) {
			ev, err := events.Parse(rec)
			if err != nil {
				t.Errorf("record %d: %v", rec.Offset, err)
				return
			}
			if err := schemas.Validate(ev.Type, rec.Value); err != nil {
				t.Errorf("record %d (%s): %v", rec.Offset, ev.Type, err)
			}
			switch ev.Type {
			case schemas.TypeSaleCompleted:
				var s schemas.SaleCompleted
				if err := json.Unmarshal(rec.Value, &s); err != nil {
					t.Errorf("record %d: %v", rec.Offset, err)
					return
				}
				if _, ok := accepted[s.SaleID]; !ok {
					t.Errorf("sale %s on the topic was not accepted by the simulator", s.SaleID)
				}
				if string(rec.Key) != s.StoreID {
					t.Errorf("sale %s keyed %q, want its store %q", s.SaleID, rec.Key, s.StoreID)
				}
				seen[s.SaleID] = true
			case schemas.TypeSaleVoided:
				var v schemas.SaleVoided
				if err := json.Unmarshal(rec.Value, &v); err != nil {
					t.Errorf("record %d: %v", rec.Offset, err)
					return
				}
				want, ok := voidsAccepted[v.SaleID]
				sale, sold := accepted[v.SaleID]
				switch {
				case !ok:
					t.Errorf("void of %s on the topic was not accepted by the simulator", v.SaleID)
				case !sold:
					t.Errorf("void of %s, a sale the POS did not accept", v.SaleID)
				case v.StoreID != sale.StoreID || string(rec.Key) != sale.StoreID:
					t.Errorf("void %+v keyed %q, want its sale's store %q", v, rec.Key, sale.StoreID)
				case !v.VoidedAt.Equal(want.VoidedAt) || v.Reason != want.Reason || !v.VoidedAt.After(sale.OccurredAt):
					t.Errorf("void %+v, want %+v, after the sale's occurred_at %v", v, want, sale.OccurredAt)
				}
				seenVoids[v.SaleID] = true
			default:
				t.Errorf("record %d: unexpected type %s", rec.Offset, ev.Type)
			}
		})
	}
}
