package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// wideCatalog is the embedded catalog's departments, vendors and six stores with n products.
func wideCatalog(tb testing.TB, n int) *catalog.Catalog {
	tb.Helper()
	base := catalog.MustLoad()
	d := struct {
		Departments []catalog.Department `json:"departments"`
		Vendors     []catalog.Vendor     `json:"vendors"`
		Stores      []catalog.Store      `json:"stores"`
		Products    []catalog.Product    `json:"products"`
	}{Departments: base.Departments(), Vendors: base.Vendors(), Stores: base.Stores()}
	ps := base.Products()
	for i := range n {
		p := ps[i%len(ps)]
		p.SKU, p.Name = fmt.Sprintf("PRD-%05d", i+1), fmt.Sprintf("%s %d", p.Name, i+1)
		d.Products = append(d.Products, p)
	}
	b, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := catalog.Parse(b)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkPromotion500x6 posts a promotion on 500 SKUs in all six stores, starting now, and
// waits until its 3,000 promo.started events have been read from display-updates (then ends it
// and waits for the 3,000 promo.ended). It reports the API's answer time and the time from the
// answer to the last event read (the relay's part of the signs' path).
//
//	go test -run '^$' -bench Promotion500x6 -benchtime 5x ./services/pricing/app/
func BenchmarkPromotion500x6(b *testing.B) {
	broker := brokertest.Start(b)
	dsn := pgtest.New(b)
	clk := clock.NewManual(t0)
	cat := wideCatalog(b, 500)
	s := kittest.Start(b, Options, map[string]string{"KAFKA_BROKERS": broker.Addr, "DATABASE_URL": dsn},
		func(_ context.Context, s *kit.Service) error {
			_, err := New(s, Config{Clock: clk, Catalog: cat})
			return err
		})
	base := kittest.URL(s)
	disp := readDisplay(b, broker)
	var skus []string
	for _, p := range cat.Products() {
		skus = append(skus, p.SKU)
	}
	var answers, events []time.Duration
	b.ResetTimer()
	for i := range b.N {
		begin := time.Now()
		a := call(b, "POST", base+"/v1/promotions", map[string]any{"skus": skus, "percent_off": 10, "title": fmt.Sprintf("Run %d", i),
			"starts_at": clk.Now().Format(time.RFC3339), "ends_at": clk.Now().Add(24 * time.Hour).Format(time.RFC3339)})
		answered := time.Now()
		if a.status != 201 {
			b.Fatalf("POST: %d %s", a.status, a.raw)
		}
		id := a.body["promo_id"].(string)
		disp.wait(b, schemas.TypePromoStarted, 3000, field("promo_id", id))
		events = append(events, time.Since(answered))
		answers = append(answers, answered.Sub(begin))
		b.StopTimer()
		clk.Advance(time.Minute)
		if d := call(b, "DELETE", base+"/v1/promotions/"+id, nil); d.status != 200 {
			b.Fatalf("DELETE: %d %s", d.status, d.raw)
		}
		disp.wait(b, schemas.TypePromoEnded, 3000, field("promo_id", id))
		clk.Advance(time.Minute)
		b.StartTimer()
	}
	b.ReportMetric(median(answers).Seconds()*1000, "answer-ms")
	b.ReportMetric(median(events).Seconds()*1000, "answer-to-last-event-ms")
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
