package catalog

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadMeetsContract(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if n := len(c.Departments()); n < 8 {
		t.Errorf("%d departments, want >= 8", n)
	}
	if n := len(c.Stores()); n < 5 {
		t.Errorf("%d stores, want >= 5", n)
	}
	if n := len(c.Vendors()); n < 5 {
		t.Errorf("%d vendors, want >= 5", n)
	}
	products := c.Products()
	if len(products) < 200 {
		t.Errorf("%d products, want >= 200", len(products))
	}
	perDept := map[string]int{}
	zones := map[string]bool{}
	for _, p := range products {
		perDept[p.Department]++
		if p.PriceCents <= 0 || p.LowStockThreshold <= 0 || p.ReorderQty <= p.LowStockThreshold/2 || p.InitialStock <= p.LowStockThreshold {
			t.Errorf("implausible product %+v", p)
		}
	}
	for _, d := range c.Departments() {
		if perDept[d.ID] == 0 {
			t.Errorf("department %s has no products", d.ID)
		}
	}
	for _, s := range c.Stores() {
		loc, err := s.Location()
		if err != nil {
			t.Errorf("store %s: %v", s.StoreID, err)
			continue
		}
		zones[loc.String()] = true
	}
	if len(zones) < 4 {
		t.Errorf("stores span %d time zones, want several: %v", len(zones), zones)
	}
}

func TestLookups(t *testing.T) {
	c := MustLoad()
	tests := []struct {
		name    string
		lookup  func() (string, error)
		want    string
		wantErr error
	}{
		{"store", func() (string, error) { s, err := c.Store("S001"); return s.StoreID, err }, "S001", nil},
		{"unknown store", func() (string, error) { s, err := c.Store("S999"); return s.StoreID, err }, "", ErrNotFound},
		{"product", func() (string, error) { p, err := c.Product("PRD-0001"); return p.SKU, err }, "PRD-0001", nil},
		{"unknown product", func() (string, error) { p, err := c.Product("PRD-9999"); return p.SKU, err }, "", ErrNotFound},
		{"department", func() (string, error) { d, err := c.Department("produce"); return d.ID, err }, "produce", nil},
		{"unknown department", func() (string, error) { d, err := c.Department("toys"); return d.ID, err }, "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCopiesAreIndependent(t *testing.T) {
	c := MustLoad()
	ps := c.Products()
	ps[0].PriceCents = -1
	if p, _ := c.Product(ps[0].SKU); p.PriceCents < 0 {
		t.Fatal("Products returned the catalog's own slice")
	}
}

func TestParseRejects(t *testing.T) {
	base := `{"departments":[{"id":"d","name":"D"}],"vendors":[{"vendor_id":"V001","name":"v","email":"o@v.example","lead_days":2}],"stores":[{"store_id":"S001","name":"s","city":"c","state":"NY","timezone":"America/New_York"}],"products":[%s]}`
	good := `{"sku":"PRD-0001","name":"n","department":"d","unit":"each","price_cents":1,"low_stock_threshold":1,"reorder_qty":1,"vendor_id":"V001","initial_stock":1,"net_qty":1,"net_unit":"ct"}`
	tests := []struct {
		name, products, want string
	}{
		{"bad sku", strings.Replace(good, "PRD-0001", "x", 1), "sku"},
		{"unknown department", strings.Replace(good, `"department":"d"`, `"department":"z"`, 1), "department"},
		{"unknown vendor", strings.Replace(good, "V001", "V002", 1), "vendor"},
		{"negative price", strings.Replace(good, `"price_cents":1`, `"price_cents":-1`, 1), "negative"},
		{"duplicate", good + "," + good, "duplicate"},
		{"no net quantity", strings.Replace(good, `"net_qty":1`, `"net_qty":0`, 1), "net quantity"},
		{"unknown net unit", strings.Replace(good, `"net_unit":"ct"`, `"net_unit":"cubit"`, 1), "net quantity"},
		{"unknown field", strings.Replace(good, `"unit"`, `"colour":"red","unit"`, 1), "unknown field"},
	}
	if _, err := Parse([]byte(strings.Replace(base, "%s", good, 1))); err != nil {
		t.Fatalf("good catalog rejected: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(base, "%s", tt.products, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(raw)
	f.Add([]byte(`{"stores":[{"store_id":"S001","timezone":"Mars/Olympus"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, p := range c.Products() {
			if _, err := c.Product(p.SKU); err != nil {
				t.Fatalf("parsed product %s not found: %v", p.SKU, err)
			}
		}
	})
}

func TestUnitPriceAndOrderQty(t *testing.T) {
	p := Product{NetQty: 16, NetUnit: "oz", PackSize: 12}
	if got := p.UnitPrice(400); got != "$0.25 / oz" {
		t.Errorf("UnitPrice(400) = %q, want $0.25 / oz", got)
	}
	if got := p.UnitPrice(49); got != "$0.031 / oz" {
		t.Errorf("UnitPrice(49) = %q, want $0.031 / oz", got)
	}
	for _, c := range []struct{ in, want int }{{1, 12}, {12, 12}, {13, 24}, {0, 0}} {
		if got := p.OrderQty(c.in); got != c.want {
			t.Errorf("OrderQty(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	if got := (Product{}).OrderQty(7); got != 7 {
		t.Errorf("OrderQty without a pack size = %d, want 7", got)
	}
	cat := MustLoad()
	for _, p := range cat.Products() {
		if p.UnitPrice(p.PriceCents) == "" {
			t.Errorf("%s: no unit price", p.SKU)
		}
	}
	for _, v := range cat.Vendors() {
		if v.Email == "" {
			t.Errorf("vendor %s: no email", v.VendorID)
		}
	}
}

// TestLoadFile: CATALOG_FILE's catalog replaces the embedded one, and a missing or invalid file
// is an error naming the variable.
func TestLoadFile(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(Embedded(), &doc); err != nil {
		t.Fatal(err)
	}
	products := doc["products"].([]any)
	extra := maps.Clone(products[0].(map[string]any))
	extra["sku"], extra["name"] = "PRD-9999", "Own brand oats"
	doc["products"] = append(products, extra)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	own := filepath.Join(dir, "own.json")
	if err := os.WriteFile(own, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadFile(own)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.Product("PRD-9999"); err != nil || p.Name != "Own brand oats" || len(c.Products()) != len(products)+1 {
		t.Fatalf("own catalog: %+v %v, %d products", p, err, len(c.Products()))
	}
	if c, err := loadFile(""); err != nil || len(c.Products()) != len(products) {
		t.Fatalf("embedded: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"products": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.json"), bad} {
		if _, err := loadFile(path); err == nil || !strings.Contains(err.Error(), EnvFile) {
			t.Fatalf("%s: err = %v, want one naming %s", path, err, EnvFile)
		}
	}
}
