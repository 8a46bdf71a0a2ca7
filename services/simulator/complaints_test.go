package simulator

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/complaints"
)

// complaintsUntil returns the complaints of cfg's stream in its first d. The stores' other
// events are made rare, so long spans are quick to draw: complaints do not depend on them.
func complaintsUntil(t *testing.T, cfg Config, d time.Duration) []Event {
	t.Helper()
	cfg.SalesPerMinute, cfg.CountsPerMinute, cfg.DeliveriesPerHour = 1e-3, 1e-3, 1e-3
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	for {
		ev := g.Next()
		if ev.At.Sub(cfg.Start) >= d {
			return out
		}
		if ev.Kind == KindComplaint {
			out = append(out, ev)
		}
	}
}

func chainCatalog(t *testing.T) ([]Store, []Product) {
	t.Helper()
	stores, products, err := FromCatalog(catalog.MustLoad(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return stores, products
}

// spikes returns the episodes the complaint spike rule finds in evs, per store and SKU.
func spikes(evs []Event) map[[2]string][]complaints.Episode {
	by := map[[2]string][]complaints.Complaint{}
	for _, ev := range evs {
		if c := ev.Complaint; c.SKU != "" {
			k := [2]string{c.StoreID, c.SKU}
			by[k] = append(by[k], complaints.Complaint{ID: c.ComplaintID, FiledAt: c.FiledAt})
		}
	}
	out := map[[2]string][]complaints.Episode{}
	for k, cs := range by {
		if eps := complaints.Episodes(complaints.DefaultRule, cs); len(eps) > 0 {
			out[k] = eps
		}
	}
	return out
}

// TestComplaintRates: over a day at rate 1 the chain files about 3 background complaints a
// minute and a bad batch about every half hour; at rate 10 ten times as many of each.
func TestComplaintRates(t *testing.T) {
	stores, products := chainCatalog(t)
	start := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	for _, rate := range []float64{1, 10} {
		span := time.Duration(float64(24*time.Hour) / rate)
		evs := complaintsUntil(t, Config{Stores: stores, Products: products, Seed: 5, Start: start, Rate: rate, Complaints: true}, span)
		background, batches := 0, map[int]bool{}
		for _, ev := range evs {
			if ev.BadBatch == 0 {
				background++
			} else {
				batches[ev.BadBatch] = true
			}
		}
		if want := 3.0 * 1440; float64(background) < want*0.93 || float64(background) > want*1.07 {
			t.Errorf("rate %v: %d background complaints in %s, want about %.0f", rate, background, span, want)
		}
		if n := len(batches); n < 40 || n > 56 {
			t.Errorf("rate %v: %d bad batches in %s, want about 48", rate, n, span)
		}
		t.Logf("rate %v over %s: %d background complaints, %d bad batches, %d in all", rate, span, background, len(batches), len(evs))
	}
}

// TestBadBatchesSpike checks every bad batch (4 to 6 complaints about one fresh-produce SKU in
// one store within 20 minutes) over a day of many seeds, that each is a spike by the rule on
// its own, that a spike comes within the first 15 minutes of every stream, and that the
// background complaints at rate 1 rarely spike.
func TestBadBatchesSpike(t *testing.T) {
	stores, products := chainCatalog(t)
	cat := catalog.MustLoad()
	start := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	var backgroundWithSKU, backgroundInSpikes int
	for seed := uint64(1); seed <= 40; seed++ {
		for _, rate := range []float64{1, 100} {
			span := 6 * time.Hour
			if rate > 1 {
				span = 10 * time.Minute
			}
			evs := complaintsUntil(t, Config{Stores: stores, Products: products, Seed: seed, Start: start, Rate: rate, Complaints: true}, span)
			byBatch := map[int][]Event{}
			var background []Event
			for _, ev := range evs {
				if ev.BadBatch > 0 {
					byBatch[ev.BadBatch] = append(byBatch[ev.BadBatch], ev)
				} else {
					background = append(background, ev)
				}
			}
			if len(byBatch) == 0 {
				t.Fatalf("seed %d rate %v: no bad batch in %s", seed, rate, span)
			}
			for b, cs := range byBatch {
				if len(cs) < 4 || len(cs) > 6 {
					if b == len(byBatch) {
						continue // the last may be cut off at the end of the span
					}
					t.Fatalf("seed %d batch %d: %d complaints", seed, b, len(cs))
				}
				first, last := cs[0].Complaint, cs[len(cs)-1].Complaint
				p, err := cat.Product(first.SKU)
				if err != nil || p.Department != "produce" {
					t.Fatalf("seed %d batch %d: SKU %q (%v) is not fresh produce", seed, b, first.SKU, err)
				}
				if within := 20 * time.Minute / time.Duration(rate); last.FiledAt.Sub(first.FiledAt) >= within {
					t.Fatalf("seed %d rate %v batch %d spans %s, want under %s", seed, rate, b, last.FiledAt.Sub(first.FiledAt), within)
				}
				for _, ev := range cs {
					c := ev.Complaint
					if c.StoreID != first.StoreID || c.SKU != first.SKU || c.Category != "product_quality" || c.Severity < 3 {
						t.Fatalf("seed %d batch %d: %+v is not like its first %+v", seed, b, c, first)
					}
				}
				if eps := spikes(cs); len(eps) != 1 {
					t.Fatalf("seed %d batch %d is not one spike by the rule: %v", seed, b, eps)
				}
			}
			if rate == 1 {
				// A newcomer's run shows a spike within its first 15 minutes.
				var early []Event
				for _, ev := range evs {
					if ev.At.Sub(start) < 15*time.Minute {
						early = append(early, ev)
					}
				}
				found := false
				for _, eps := range spikes(early) {
					for _, ep := range eps {
						found = found || ep.Start.Sub(start) < 15*time.Minute
					}
				}
				if !found {
					t.Fatalf("seed %d: no spike within the first 15 minutes", seed)
				}
				for _, ev := range background {
					if ev.Complaint.SKU != "" {
						backgroundWithSKU++
					}
				}
				for _, eps := range spikes(background) {
					for _, ep := range eps {
						backgroundInSpikes += len(ep.Members)
					}
				}
			}
		}
	}
	// Most complaints make no spike: those about a SKU but not about a bad batch seldom do.
	if backgroundWithSKU < 20000 || float64(backgroundInSpikes) > 0.02*float64(backgroundWithSKU) {
		t.Fatalf("%d of %d background complaints about a SKU are in spikes", backgroundInSpikes, backgroundWithSKU)
	}
	t.Logf("%d of %d background complaints about a SKU are in spikes", backgroundInSpikes, backgroundWithSKU)
}

// TestComplaintsMatchTheContract: every complaint is a valid complaint.filed payload of a
// simulated store and a catalog SKU (or none), with a varied mix of categories, channels,
// severities and loyalty ids.
func TestComplaintsMatchTheContract(t *testing.T) {
	stores, products := chainCatalog(t)
	cat := catalog.MustLoad()
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	evs := complaintsUntil(t, Config{Stores: stores, Products: products, Seed: 9, Start: start, Complaints: true}, 6*time.Hour)
	seen := map[string]map[string]bool{}
	note := func(k, v string) {
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		seen[k][v] = true
	}
	ids := map[string]bool{}
	var last time.Time
	for _, ev := range evs {
		c := ev.Complaint
		b, err := json.Marshal(ev.Body())
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(schemas.TypeComplaintFiled, b); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if ids[c.ComplaintID] {
			t.Fatalf("complaint id %s twice", c.ComplaintID)
		}
		ids[c.ComplaintID] = true
		if _, err := cat.Store(c.StoreID); err != nil || ev.StoreID != c.StoreID {
			t.Fatalf("store of %s", b)
		}
		if c.SKU != "" {
			if _, err := cat.Product(c.SKU); err != nil {
				t.Fatalf("SKU of %s", b)
			}
		}
		if !c.FiledAt.Equal(stamp(ev.At)) || ev.At.Before(last) {
			t.Fatalf("filed_at %v of an event at %v (after one at %v)", c.FiledAt, ev.At, last)
		}
		last = ev.At
		note("category", c.Category)
		note("channel", c.Channel)
		note("severity", string(rune('0'+c.Severity)))
		note("sku", map[bool]string{true: "some", false: "none"}[c.SKU != ""])
		note("loyalty", map[bool]string{true: "some", false: "none"}[c.LoyaltyID != ""])
		note("text", c.Text)
	}
	for k, n := range map[string]int{"category": 7, "channel": 5, "severity": 6, "sku": 2, "loyalty": 2, "text": 30} {
		if len(seen[k]) < n {
			t.Errorf("%d kinds of %s, want at least %d: %v", len(seen[k]), k, n, seen[k])
		}
	}
}

// TestComplaintsLeaveTheRestAsItIs: the same seed gives the same complaints, and the sales,
// counts and deliveries are the same with complaints as without.
func TestComplaintsLeaveTheRestAsItIs(t *testing.T) {
	stores, products := testCatalog(t)
	cfg := Config{Stores: stores, Products: products, Seed: 42, Start: time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC), Rate: 50}
	without := generate(t, cfg, 5000)
	cfg.Complaints = true
	with := generate(t, cfg, 5000+2000)
	again := generate(t, cfg, 5000+2000)
	if !reflect.DeepEqual(with, again) {
		t.Fatal("the same seed produced two different streams with complaints")
	}
	var rest []Event
	n := 0
	for _, ev := range with {
		if ev.Kind == KindComplaint {
			n++
			continue
		}
		rest = append(rest, ev)
	}
	if n == 0 {
		t.Fatal("no complaints")
	}
	if !reflect.DeepEqual(rest[:min(len(rest), 5000)], without[:min(len(rest), 5000)]) {
		t.Fatal("complaints changed the rest of the stream")
	}
	cfg.Seed = 43
	other := generate(t, cfg, 5000+2000)
	for _, ev := range other {
		if ev.Kind == KindComplaint && reflect.DeepEqual(ev.Complaint, firstComplaint(with)) {
			t.Fatal("seeds 42 and 43 produced the same complaint")
		}
	}
}

func firstComplaint(evs []Event) any {
	for _, ev := range evs {
		if ev.Kind == KindComplaint {
			return ev.Complaint
		}
	}
	return nil
}
