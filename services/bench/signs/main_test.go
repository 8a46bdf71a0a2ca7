package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/signs"
)

// TestCentrifugeOnlyInTheBench checks that github.com/centrifugal/centrifuge, the peer of this
// benchmark, is linked by no package of the platform outside services/bench.
func TestCentrifugeOnlyInTheBench(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`,
		"github.com/freshmart/platform/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	pkgs, err := exec.Command("go", "list", "github.com/freshmart/platform/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	ours := map[string]bool{}
	for _, p := range strings.Fields(string(pkgs)) {
		ours[p] = true
	}
	// Walk the import graph from every platform package outside services/bench.
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			imports[f[0]] = f[1:]
		}
	}
	seen := map[string]bool{}
	var walk func(p, from string)
	walk = func(p, from string) {
		if seen[p] {
			return
		}
		seen[p] = true
		if strings.HasPrefix(p, "github.com/centrifugal/") {
			t.Errorf("%s links %s", from, p)
			return
		}
		for _, i := range imports[p] {
			walk(i, from)
		}
	}
	n := 0
	for p := range ours {
		if !strings.Contains(p, "/services/bench") {
			walk(p, p)
			n++
		}
	}
	if n < 20 || !seen["github.com/freshmart/platform/services/signs/signsapp"] {
		t.Fatalf("walked %d packages, not the platform's", n)
	}
}

// TestScanItems: the bench's scan finds the items encoding/json finds in our update frames
// and in centrifuge's pushes wrapping them, and its matches agree with their decoded fields.
func TestScanItems(t *testing.T) {
	cat := catalog.MustLoad()
	st := signs.NewStore(cat, "S001")
	ps := cat.Products()
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	st.Apply(ps[0].SKU, signs.Change{Version: 5, Payload: schemas.PromoStarted{PromoID: "p1", SKU: ps[0].SKU,
		Title: "Bench deal 1", PromoPriceCents: 99, RegularPriceCents: 100001, StartsAt: now, EndsAt: now.Add(time.Hour)}})
	st.Apply(ps[1].SKU, signs.Change{Version: 6, Payload: schemas.PriceChanged{SKU: ps[1].SKU, PriceCents: 100001}})
	frame, v := st.AppendUpdates(nil, []string{ps[0].SKU, ps[1].SKU, ps[2].SKU}, 0)
	var want struct {
		Version int64 `json:"version"`
		Items   []struct {
			SKU               string `json:"sku"`
			PriceCents        int64  `json:"price_cents"`
			RegularPriceCents int64  `json:"regular_price_cents"`
			PromoTitle        string `json:"promo_title"`
		} `json:"items"`
	}
	if err := json.Unmarshal(frame, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Items) != 2 {
		t.Fatalf("the frame has %d items, want 2: %s", len(want.Items), frame)
	}
	push := append(append([]byte(`{"push":{"channel":"S001/x","pub":{"data":`), frame...), `,"offset":3}}}`...)
	price, regular := matchInt(`"price_cents":`, 100001), matchInt(`"regular_price_cents":`, 100001)
	for name, b := range map[string][]byte{"ours": frame, "centrifuge": push} {
		got := scanItems(b, nil)
		if len(got) != len(want.Items) {
			t.Fatalf("%s: scanItems found %d items, encoding/json %d", name, len(got), len(want.Items))
		}
		for i, w := range want.Items {
			g := got[i]
			checks := map[string][2]bool{
				"sku":                    {g.SKU == w.SKU, true},
				"price 100001":           {price(g.raw), w.PriceCents == 100001},
				"regular price 100001":   {regular(g.raw), w.RegularPriceCents == 100001},
				"title Bench deal 1":     {matchTitle("Bench deal 1")(g.raw), w.PromoTitle == "Bench deal 1"},
				"title Bench deal 10":    {matchTitle("Bench deal 10")(g.raw), false},
				"no title":               {matchTitle("")(g.raw), w.PromoTitle == ""},
				"price 10000 (a prefix)": {matchInt(`"price_cents":`, 10000)(g.raw), false},
			}
			for what, c := range checks {
				if c[0] != c[1] {
					t.Fatalf("%s: item %d (%s): %s is %v, encoding/json says %v: %s", name, i, w.SKU, what, c[0], c[1], g.raw)
				}
			}
		}
	}
	if got, ok := frameVersion(frame); !ok || got != v || v != 6 {
		t.Fatalf("frameVersion = %d %v, want %d", got, ok, v)
	}
}

// TestWriteCatalog: the bench's catalog is the chain's products, then copies under new SKUs, and
// it parses as a catalog.
func TestWriteCatalog(t *testing.T) {
	own := catalog.MustLoad().Products()
	for _, n := range []int{500, 10} {
		path := filepath.Join(t.TempDir(), "catalog.json")
		if err := writeCatalog(path, n); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := catalog.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		ps := c.Products()
		if len(ps) != n || ps[0] != own[0] || ps[min(n, len(own))-1].SKU != own[min(n, len(own))-1].SKU {
			t.Fatalf("-skus %d: %d products, first %+v", n, len(ps), ps[0])
		}
		if n > len(own) {
			if last := ps[n-1]; last.SKU != fmt.Sprintf("BEN-%04d", n) || last.PriceCents != own[(n-1)%len(own)].PriceCents {
				t.Fatalf("-skus %d: last %+v", n, last)
			}
		}
	}
}
