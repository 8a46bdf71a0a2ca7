package simulator

import (
	"fmt"
	"maps"
	"strings"

	"github.com/freshmart/platform/services/catalog"
)

// FromCatalog returns the stores (all of them when ids is empty) and products of the chain's
// catalog in the simulator's terms.
func FromCatalog(c *catalog.Catalog, ids []string) ([]Store, []Product, error) {
	var stores []Store
	want := map[string]bool{}
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	missing := maps.Clone(want)
	for _, s := range c.Stores() {
		if len(want) > 0 && !want[s.StoreID] {
			continue
		}
		delete(missing, s.StoreID)
		loc, err := s.Location()
		if err != nil {
			return nil, nil, fmt.Errorf("simulator: %w", err)
		}
		stores = append(stores, Store{ID: s.StoreID, Location: loc})
	}
	for id := range missing {
		return nil, nil, fmt.Errorf("simulator: store %q is not in the catalog", id)
	}
	var products []Product
	for _, p := range c.Products() {
		products = append(products, Product{
			SKU: p.SKU, Name: p.Name, Department: p.Department, PriceCents: p.PriceCents,
			Threshold: p.LowStockThreshold, ReorderQty: p.ReorderQty, VendorID: p.VendorID,
			InitialStock: p.InitialStock,
		})
	}
	return stores, products, nil
}
