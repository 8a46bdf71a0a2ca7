package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
)

// until returns cfg's stream in its first d.
func until(t *testing.T, cfg Config, d time.Duration) []Event {
	t.Helper()
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
		out = append(out, ev)
	}
}

// TestVoidRate: over a day at rate 1 about 1 sale in 200 is voided, 2 to 6 minutes after it,
// for one of several reasons; every void is of a sale earlier in the stream that says when it
// is voided, in its store, after its occurred_at; no sale is voided twice; the void is a valid
// sale.voided and its body is only the reason and voided_at.
func TestVoidRate(t *testing.T) {
	stores, products := testCatalog(t)
	start := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	span := 24 * time.Hour
	evs := until(t, Config{Stores: stores, Products: products, Seed: 9, Start: start, Voids: true, Complaints: true}, span)
	sales := map[string]Event{}
	voided := map[string]bool{}
	reasons := map[string]int{}
	var nSales, nVoids, marked int
	var last time.Time
	for _, ev := range evs {
		if ev.At.Before(last) {
			t.Fatalf("%s at %v after an event at %v", ev.Kind, ev.At, last)
		}
		last = ev.At
		switch ev.Kind {
		case KindSale:
			nSales++
			sales[ev.Sale.SaleID] = ev
			if !ev.VoidAt.IsZero() {
				marked++
			}
		case KindVoid:
			nVoids++
			v := ev.Void
			sale, ok := sales[v.SaleID]
			if !ok {
				t.Fatalf("void of sale %s, which is not earlier in the stream", v.SaleID)
			}
			if voided[v.SaleID] {
				t.Fatalf("sale %s voided twice", v.SaleID)
			}
			voided[v.SaleID] = true
			if !sale.VoidAt.Equal(ev.At) {
				t.Fatalf("sale %s says it is voided at %v, its void is at %v", v.SaleID, sale.VoidAt, ev.At)
			}
			if v.StoreID != sale.Sale.StoreID || ev.StoreID != v.StoreID {
				t.Fatalf("void %+v in another store than its sale %s", v, sale.Sale.StoreID)
			}
			if !v.VoidedAt.Equal(stamp(ev.At)) {
				t.Fatalf("voided_at %v is not the void's simulated time %v", v.VoidedAt, ev.At)
			}
			if d := v.VoidedAt.Sub(sale.Sale.OccurredAt); d < 2*time.Minute-time.Millisecond || d > 6*time.Minute+time.Millisecond {
				t.Fatalf("sale %s voided %s after it, want 2 to 6 minutes", v.SaleID, d)
			}
			reasons[v.Reason]++
			checkVoidPayload(t, ev)
		}
	}
	if want := float64(nSales) / 200; float64(nVoids) < want*0.85 || float64(nVoids) > want*1.15 {
		t.Errorf("%d voids of %d sales in %s, want about %.0f (1 in 200)", nVoids, nSales, span, want)
	}
	// The sales of the last 6 minutes may be voided after the span.
	if pending := marked - nVoids; pending < 0 || pending > 10 {
		t.Errorf("%d sales marked voided, %d voids", marked, nVoids)
	}
	if len(reasons) < 6 {
		t.Errorf("reasons %v: want a variety", reasons)
	}
	t.Logf("%d sales, %d voids (1 in %.0f) over %s; reasons %v", nSales, nVoids, float64(nSales)/float64(nVoids), span, reasons)
}

// checkVoidPayload checks a void event: its payload is a valid sale.voided and what is posted
// is only {"reason", "voided_at"}, which decode to the payload's.
func checkVoidPayload(t *testing.T, ev Event) {
	t.Helper()
	b, err := json.Marshal(ev.Void)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(schemas.TypeSaleVoided, b); err != nil {
		t.Fatalf("void %s: %v", b, err)
	}
	body, err := json.Marshal(ev.Body())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["reason"] != ev.Void.Reason {
		t.Fatalf("void body %s: want only reason and voided_at", body)
	}
	at, err := time.Parse(time.RFC3339Nano, m["voided_at"].(string))
	if err != nil || !at.Equal(ev.Void.VoidedAt) {
		t.Fatalf("void body %s: voided_at %v (%v), want %v", body, at, err, ev.Void.VoidedAt)
	}
	if want := "/v1/sales/" + ev.Void.SaleID + "/void"; ev.path() != want {
		t.Fatalf("void posted to %s, want %s", ev.path(), want)
	}
}

// TestVoidsLeaveTheRestOfTheStream: the same seed gives the same voids, another seed others,
// and without the voids (and the sales' VoidAt) the stream is the one generated without voids,
// with complaints and without.
func TestVoidsLeaveTheRestOfTheStream(t *testing.T) {
	stores, products := testCatalog(t)
	start := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	for _, complaints := range []bool{false, true} {
		cfg := Config{Stores: stores, Products: products, Seed: 21, Start: start, Rate: 10, Complaints: complaints}
		span := 30 * time.Minute
		plain := until(t, cfg, span)
		cfg.Voids = true
		a, b := until(t, cfg, span), until(t, cfg, span)
		if !reflect.DeepEqual(a, b) {
			t.Fatal("the same seed gave two streams with voids")
		}
		var rest, voids []Event
		for _, ev := range a {
			if ev.Kind == KindVoid {
				voids = append(voids, ev)
				continue
			}
			ev.VoidAt = time.Time{}
			rest = append(rest, ev)
		}
		if len(voids) < 20 {
			t.Fatalf("complaints %v: only %d voids", complaints, len(voids))
		}
		if !reflect.DeepEqual(rest, plain) {
			t.Fatalf("complaints %v: the voids changed the rest of the stream", complaints)
		}
		cfg.Seed = 22
		var other []Event
		for _, ev := range until(t, cfg, span) {
			if ev.Kind == KindVoid {
				other = append(other, ev)
			}
		}
		if len(other) > 0 && reflect.DeepEqual(voids[0].Body(), other[0].Body()) {
			t.Fatal("seeds 21 and 22 gave the same first void")
		}
	}
}

// TestRunnerVoidsOnlyAcceptedSales runs a stream that voids 1 sale in 4 within milliseconds
// against a stand-in POS that refuses about a third of the sales (422) and answers the others
// slowly, so most voids are due while their sale is still in flight: every void is posted after
// its sale's 202, with only its reason and voided_at (after the sale's occurred_at); the voids
// of refused sales are skipped; the counters match the stream.
func TestRunnerVoidsOnlyAcceptedSales(t *testing.T) {
	stores, products := testCatalog(t)
	refused := func(saleID string) bool { return strings.IndexByte("012345", saleID[0]) >= 0 }
	type sale struct {
		occurredAt time.Time
		answered   time.Time // when the 202 was about to be written
	}
	var mu sync.Mutex
	sales := map[string]sale{}
	var problems []string
	voids := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/v1/sales":
			var s schemas.SaleCompleted
			if err := json.Unmarshal(b, &s); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if refused(s.SaleID) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				return
			}
			time.Sleep(80 * time.Millisecond)
			mu.Lock()
			sales[s.SaleID] = sale{occurredAt: s.OccurredAt, answered: time.Now()}
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		case strings.HasPrefix(r.URL.Path, "/v1/sales/") && strings.HasSuffix(r.URL.Path, "/void"):
			id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/sales/"), "/void")
			now := time.Now()
			var body struct {
				Reason   string    `json:"reason"`
				VoidedAt time.Time `json:"voided_at"`
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			err := dec.Decode(&body)
			mu.Lock()
			defer mu.Unlock()
			s, ok := sales[id]
			switch {
			case err != nil || body.Reason == "":
				problems = append(problems, "void body "+string(b))
			case !ok:
				problems = append(problems, "void of "+id+", a sale not accepted (yet)")
			case !s.answered.Before(now):
				problems = append(problems, "void of "+id+" before its sale was answered")
			case !body.VoidedAt.After(s.occurredAt):
				problems = append(problems, "void of "+id+" not after its sale")
			}
			voids[id]++
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(srv.Close)

	// 18:00 in New York, 15:00 in Los Angeles: plenty of sales.
	cfg := Config{Stores: stores, Products: products, Seed: 4, Start: time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC), Rate: 20, Voids: true,
		VoidShare: 0.25, VoidDelay: 20 * time.Millisecond}
	const span = 2 * time.Second
	var wantSent, wantSkipped int64
	for _, ev := range until(t, cfg, span) {
		if ev.Kind == KindVoid {
			if refused(ev.Void.SaleID) {
				wantSkipped++
			} else {
				wantSent++
			}
		}
	}
	if wantSent < 5 || wantSkipped < 2 {
		t.Fatalf("the stream has %d voids of accepted sales and %d of refused ones: too few for the test", wantSent, wantSkipped)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{BaseURL: srv.URL, Workers: 16, ReportEvery: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	st, err := r.Run(context.Background(), g, span)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	for id, n := range voids {
		if n != 1 {
			t.Errorf("sale %s voided %d times", id, n)
		}
	}
	if st.Voids.Sent != wantSent || st.Voids.Accepted != wantSent || st.Voids.Failed != 0 || st.Voids.Skipped != wantSkipped {
		t.Fatalf("voids %+v, want %d sent and accepted, %d skipped", st.Voids, wantSent, wantSkipped)
	}
	if int64(len(voids)) != wantSent {
		t.Fatalf("the POS got %d voids, want %d", len(voids), wantSent)
	}
}
