package signs

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestApply(t *testing.T) {
	base := State{PriceCents: 199, Badge: BadgeInStock, Version: 3}
	promo := schemas.PromoStarted{PromoID: "p1", StoreID: "S001", SKU: "PRD-0001", Title: "20% off",
		PromoPriceCents: 159, RegularPriceCents: 199, StartsAt: t0, EndsAt: t0.Add(24 * time.Hour)}
	inPromo := State{PriceCents: 199, PromoID: "p1", PromoTitle: "20% off", PromoPriceCents: 159,
		PromoEndsAt: t0.Add(24 * time.Hour), Badge: BadgeInStock, Version: 5}
	tests := []struct {
		name    string
		from    State
		change  Change
		want    State
		changed bool
	}{
		{"price", base, Change{Version: 4, Payload: schemas.PriceChanged{PriceCents: 249}},
			State{PriceCents: 249, Badge: BadgeInStock, Version: 4}, true},
		{"same price changes nothing", base, Change{Version: 4, Payload: schemas.PriceChanged{PriceCents: 199}}, base, false},
		{"replayed event changes nothing", base, Change{Version: 3, Payload: schemas.PriceChanged{PriceCents: 1}}, base, false},
		{"promo starts", base, Change{Version: 5, Payload: promo}, inPromo, true},
		{"price during a promo keeps the promo", inPromo, Change{Version: 6, Payload: schemas.PriceChanged{PriceCents: 209}},
			func() State { s := inPromo; s.PriceCents, s.Version = 209, 6; return s }(), true},
		{"promo ends", inPromo, Change{Version: 7, Payload: schemas.PromoEnded{PromoID: "p1"}},
			State{PriceCents: 199, Badge: BadgeInStock, Version: 7}, true},
		{"end of another promo changes nothing", inPromo, Change{Version: 7, Payload: schemas.PromoEnded{PromoID: "p0"}}, inPromo, false},
		{"badge", base, Change{Version: 8, Payload: schemas.StockBadge{Badge: BadgeOut}},
			State{PriceCents: 199, Badge: BadgeOut, Version: 8}, true},
		{"unknown badge changes nothing", base, Change{Version: 8, Payload: schemas.StockBadge{Badge: "gone"}}, base, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := Apply(tt.from, tt.change)
			if got != tt.want || changed != tt.changed {
				t.Fatalf("Apply = %+v, %v; want %+v, %v", got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestItemOf(t *testing.T) {
	cat := catalog.MustLoad()
	p := cat.Products()[0]
	it := ItemOf(p, Initial(p))
	if it.PriceCents != p.PriceCents || it.Badge != BadgeInStock || it.RegularPriceCents != 0 || it.PromoEndsAt != nil ||
		it.UnitPrice != p.UnitPrice(p.PriceCents) || it.Name != p.Name {
		t.Fatalf("initial item %+v for %+v", it, p)
	}
	end := t0.Add(time.Hour)
	it = ItemOf(p, State{PriceCents: 300, PromoID: "x", PromoTitle: "Half price", PromoPriceCents: 150, PromoEndsAt: end, Badge: BadgeLow})
	if it.PriceCents != 150 || it.RegularPriceCents != 300 || it.PromoTitle != "Half price" || !it.PromoEndsAt.Equal(end) ||
		it.UnitPrice != p.UnitPrice(150) || it.Badge != BadgeLow {
		t.Fatalf("promo item %+v", it)
	}
	b, _ := json.Marshal(ItemOf(p, Initial(p)))
	for _, absent := range []string{"regular_price_cents", "promo_title", "promo_ends_at"} {
		if strings.Contains(string(b), absent) {
			t.Errorf("item without a promo has %s: %s", absent, b)
		}
	}
}

type frame struct {
	Type    string `json:"type"`
	Version int64  `json:"version"`
	Items   []Item `json:"items"`
}

func decode(t *testing.T, b []byte) frame {
	t.Helper()
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return f
}

func TestSnapshotSinceAndUpdates(t *testing.T) {
	cat := catalog.MustLoad()
	ps := cat.Products()
	a, b, c := ps[0].SKU, ps[1].SKU, ps[2].SKU
	s := NewStore(cat, "S001")
	sel := []string{a, b, c}
	if f := decode(t, s.Snapshot(sel)); f.Type != "snapshot" || f.Version != 0 || len(f.Items) != 3 || f.Items[1].SKU != b {
		t.Fatalf("first snapshot %+v", f)
	}
	_, ok := s.Apply(a, Change{Version: 10, Payload: schemas.PriceChanged{PriceCents: 1}})
	f1 := s.Update(a)
	_, ok2 := s.Apply(ps[10].SKU, Change{Version: 11, Payload: schemas.PriceChanged{PriceCents: 2}})
	_, ok3 := s.Apply(c, Change{Version: 12, Payload: schemas.StockBadge{Badge: BadgeOut}})
	if !ok || !ok2 || !ok3 {
		t.Fatal("changes not applied")
	}
	if s.Version() != 12 || s.SignVersion(sel) != 12 || s.SignVersion([]string{b}) != 0 {
		t.Fatalf("versions %d %d", s.Version(), s.SignVersion(sel))
	}
	if f := decode(t, f1); f.Type != "update" || f.Version != 10 || len(f.Items) != 1 || f.Items[0].PriceCents != 1 {
		t.Fatalf("update %+v", f)
	}
	// A sign sent the snapshot (version 0) catches up with a and c in one frame at c's
	// version; one sent version 10 gets c alone; one sent 12 gets nothing, and dst is kept.
	dst := []byte("kept")
	all, v := s.AppendUpdates(dst, sel, 0)
	if f := decode(t, all[4:]); v != 12 || string(all[:4]) != "kept" || f.Type != "update" || f.Version != 12 ||
		len(f.Items) != 2 || f.Items[0].SKU != a || f.Items[1].Badge != BadgeOut {
		t.Fatalf("updates since 0: %d %s", v, all)
	}
	if b, v := s.AppendUpdates(nil, sel, 10); v != 12 || len(decode(t, b).Items) != 1 || decode(t, b).Items[0].SKU != c {
		t.Fatalf("updates since 10: %d %s", v, b)
	}
	if b, v := s.AppendUpdates(dst, sel, 12); v != 12 || string(b) != "kept" {
		t.Fatalf("updates since 12: %d %q", v, b)
	}
	if b, v := s.AppendUpdates(nil, []string{ps[1].SKU, "PRD-NONE"}, 0); v != 0 || len(b) != 0 {
		t.Fatalf("updates of unchanged and unknown SKUs: %d %q", v, b)
	}
	empty, delta := s.Since(sel, 12, 100)
	if f := decode(t, empty); !delta || f.Type != "update" || f.Version != 12 || len(f.Items) != 0 {
		t.Fatalf("since now %+v", f)
	}
	tests := []struct {
		name   string
		since  int64
		window int64
		delta  bool
		skus   []string
	}{
		{"since 10 gives c", 10, 100, true, []string{c}},
		{"since 9 gives a and c", 9, 100, true, []string{a, c}},
		{"older than the window", 9, 2, false, []string{a, b, c}},
		{"newer than the store", 13, 100, false, []string{a, b, c}},
		{"negative", -1, 100, false, []string{a, b, c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, delta := s.Since(sel, tt.since, tt.window)
			f := decode(t, b)
			var got []string
			for _, it := range f.Items {
				got = append(got, it.SKU)
			}
			if delta != tt.delta || strings.Join(got, ",") != strings.Join(tt.skus, ",") || f.Version != 12 {
				t.Fatalf("Since(%d) = %v %+v; want %v %v", tt.since, delta, f, tt.delta, tt.skus)
			}
		})
	}
}

// TestReplayIsDeterministic is the property two hub replicas and a restart rely on: folding
// the same events, in any batching and with any already-folded prefix replayed again, gives
// the same states and versions.
func TestReplayIsDeterministic(t *testing.T) {
	cat := catalog.MustLoad()
	ps := cat.Products()[:8]
	r := rand.New(rand.NewPCG(1, 2))
	var changes []struct {
		sku string
		c   Change
	}
	for v := int64(1); v <= 400; v++ {
		sku := ps[r.IntN(len(ps))].SKU
		var p any
		switch r.IntN(4) {
		case 0:
			p = schemas.PriceChanged{StoreID: "S001", SKU: sku, PriceCents: int64(100 + r.IntN(5))}
		case 1:
			p = schemas.PromoStarted{PromoID: []string{"a", "b"}[r.IntN(2)], StoreID: "S001", SKU: sku, Title: "Deal",
				PromoPriceCents: 50, RegularPriceCents: int64(100 + r.IntN(5)), EndsAt: t0}
		case 2:
			p = schemas.PromoEnded{PromoID: []string{"a", "b"}[r.IntN(2)], StoreID: "S001", SKU: sku}
		default:
			p = schemas.StockBadge{StoreID: "S001", SKU: sku, Badge: []string{BadgeInStock, BadgeLow, BadgeOut}[r.IntN(3)]}
		}
		changes = append(changes, struct {
			sku string
			c   Change
		}{sku, Change{Version: v, Payload: p}})
	}
	once := NewStore(cat, "S001")
	for _, ch := range changes {
		once.Apply(ch.sku, ch.c)
	}
	// A replica that restarts from a saved copy at a random point and replays from further back.
	for trial := range 20 {
		cut := r.IntN(len(changes))
		saved := NewStore(cat, "S001")
		for _, ch := range changes[:cut] {
			saved.Apply(ch.sku, ch.c)
		}
		again := NewStore(cat, "S001")
		for _, p := range ps {
			st, _ := saved.State(p.SKU)
			again.Load(p.SKU, st)
		}
		for _, ch := range changes[max(0, cut-r.IntN(50)):] {
			again.Apply(ch.sku, ch.c)
		}
		for _, p := range ps {
			a, _ := once.State(p.SKU)
			b, _ := again.State(p.SKU)
			if a != b {
				t.Fatalf("trial %d cut %d: %s %+v != %+v", trial, cut, p.SKU, b, a)
			}
		}
		if once.Version() != again.Version() {
			t.Fatalf("versions %d != %d", again.Version(), once.Version())
		}
	}
}

func TestParseAck(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  string
	}{
		{`{"type":"ack","version":5}`, 5, ""},
		{`{"type":"ack","version":0}`, 0, ""},
		{`{"type":"ack","version":6}`, 0, "never sent"},
		{`{"type":"ack","version":-1}`, 0, "never sent"},
		{`{"type":"ack"}`, 0, "without a version"},
		{`{"type":"hello","version":1}`, 0, "want \"ack\""},
		{`not json`, 0, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := ParseAck([]byte(tt.in), 5)
			switch {
			case tt.bad == "" && (err != nil || a.Version != tt.want):
				t.Fatalf("ParseAck = %+v, %v", a, err)
			case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
				t.Fatalf("ParseAck error %v, want %q", err, tt.bad)
			case err != nil && len(err.Error()) > 123:
				t.Fatalf("close reason too long: %q", err)
			}
		})
	}
}

func FuzzParseAck(f *testing.F) {
	f.Add([]byte(`{"type":"ack","version":5}`))
	f.Add([]byte(`{"type":"ack","version":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAck(b, 100)
		if err == nil && (a.Version < 0 || a.Version > 100) {
			t.Fatalf("accepted %d", a.Version)
		}
		if err != nil && len(err.Error()) > 123 {
			t.Fatalf("reason too long: %q", err)
		}
	})
}

func TestSelect(t *testing.T) {
	cat := catalog.MustLoad()
	ps := cat.Products()
	got, err := Select(cat, ps[1].SKU+", "+ps[0].SKU+","+ps[1].SKU, "")
	if err != nil || strings.Join(got, ",") != ps[1].SKU+","+ps[0].SKU {
		t.Fatalf("skus: %v %v", got, err)
	}
	got, err = Select(cat, "", "produce")
	if err != nil || len(got) == 0 {
		t.Fatalf("aisle: %v %v", got, err)
	}
	for _, sku := range got {
		if p, _ := cat.Product(sku); p.Department != "produce" {
			t.Fatalf("aisle produce has %s of %s", sku, p.Department)
		}
	}
	for _, tt := range []struct{ skus, aisle, param string }{
		{"", "", "skus"}, {"PRD-0001", "produce", "aisle"}, {"PRD-9999", "", "skus"}, {"", "toys", "aisle"}, {",", "", "skus"},
	} {
		_, err := Select(cat, tt.skus, tt.aisle)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != tt.param {
			t.Errorf("Select(%q, %q) = %v, want a %s error", tt.skus, tt.aisle, err, tt.param)
		}
	}
}
