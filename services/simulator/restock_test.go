package simulator

import (
	"sync"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
)

// TestPurchasingStreamHasNoDeliveries: with Config.Purchasing six hours of two stores has sales
// and counts but no delivery, so no invented PO number reaches the reorder service; without
// it the scheduled trucks come, naming no purchase order.
func TestPurchasingStreamHasNoDeliveries(t *testing.T) {
	stores, products := testCatalog(t)
	start := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	for _, purchasing := range []bool{true, false} {
		g, err := New(Config{Stores: stores, Products: products, Seed: 3, Start: start, Rate: 1, Purchasing: purchasing})
		if err != nil {
			t.Fatal(err)
		}
		var kinds [kinds]int
		for {
			ev := g.Next()
			if ev.At.Sub(start) > 6*time.Hour {
				break
			}
			kinds[ev.Kind]++
			if ev.Kind == KindDelivery && ev.Delivery.PONumber != "" {
				t.Fatalf("a generated delivery names PO %q, which no purchase order has", ev.Delivery.PONumber)
			}
		}
		if kinds[KindSale] == 0 || kinds[KindCount] == 0 {
			t.Fatalf("purchasing %v: %v", purchasing, kinds)
		}
		if purchasing && kinds[KindDelivery] != 0 {
			t.Fatalf("with purchasing the generator sent %d deliveries of its own", kinds[KindDelivery])
		}
		if !purchasing && kinds[KindDelivery] < 30 {
			t.Fatalf("without purchasing only %d deliveries in six hours of two stores", kinds[KindDelivery])
		}
	}
}

// TestRestockRaisesTheShelves: a delivery handed to Restock, from other goroutines while the
// generator runs, is added to the model's shelves before the next event (run with -race).
func TestRestockRaisesTheShelves(t *testing.T) {
	stores, products := testCatalog(t)
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	g, err := New(Config{Stores: stores, Products: products, Seed: 9, Start: start, Rate: 100, Purchasing: true})
	if err != nil {
		t.Fatal(err)
	}
	before, ok := g.OnHand("S002", "PRD-0007")
	if !ok {
		t.Fatal("S002/PRD-0007 unknown")
	}
	g.Restock("S002", []schemas.QtyLine{{SKU: "PRD-0007", Qty: 48}, {SKU: "PRD-9999", Qty: 5}})
	g.Restock("S999", []schemas.QtyLine{{SKU: "PRD-0007", Qty: 5}})
	if got, _ := g.OnHand("S002", "PRD-0007"); got != before+48 {
		t.Fatalf("after a delivery of 48: on hand %d, want %d", got, before+48)
	}

	// Sales take from the shelves while 4 vendors deliver 50 x 12 units each of PRD-0001 to
	// S001 from goroutines of their own: the model ends at its start plus the 2,400 units
	// delivered less what the stream sold. (Counts are made practically absent, since a count
	// with shrinkage would move the figure.)
	g, err = New(Config{Stores: stores, Products: products, Seed: 9, Start: start, Rate: 100, Purchasing: true, CountsPerMinute: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := g.OnHand("S001", "PRD-0001")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				g.Restock("S001", []schemas.QtyLine{{SKU: "PRD-0001", Qty: 12}})
			}
		})
	}
	sold := 0
	for range 5000 {
		ev := g.Next()
		if ev.Kind != KindSale {
			t.Fatalf("a %v event with purchasing on and no counts", ev.Kind)
		}
		if ev.StoreID == "S001" {
			for _, l := range ev.Sale.Lines {
				if l.SKU == "PRD-0001" {
					sold += int(l.Qty)
				}
			}
		}
	}
	wg.Wait()
	if sold == 0 {
		t.Fatal("the stream sold no PRD-0001 in S001")
	}
	if got, _ := g.OnHand("S001", "PRD-0001"); got != first+2400-sold {
		t.Fatalf("on hand %d, want %d + 2400 delivered - %d sold", got, first, sold)
	}
}
