// Package catalog is FreshMart's reference data: departments, vendors, stores (with their time
// zones) and the products sold, with prices, low-stock thresholds and reorder quantities.
//
// The data is embedded (catalog.json) and read-only; every service and the web server load the
// same copy with Load. A chain runs on its own catalog by naming a file of the same format in
// CATALOG_FILE (every process of it the same file: Load reads it instead of the embedded
// one, and migrations.Apply seeds Postgres from it). Prices are integer cents. Stock of a store/SKU that has never been
// counted starts at the product's InitialStock.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed catalog.json
var raw []byte

// ErrNotFound is returned by Store and Product for an id that is not in the catalog.
var ErrNotFound = errors.New("not in catalog")

// Department groups products on the shelves.
type Department struct {
	ID   string `json:"id"`   // e.g. "produce"
	Name string `json:"name"` // e.g. "Produce"
}

// Vendor supplies products.
type Vendor struct {
	VendorID string `json:"vendor_id"` // e.g. "V001"
	Name     string `json:"name"`
	Email    string `json:"email"`     // where purchase orders are sent
	LeadDays int    `json:"lead_days"` // days from an order to its requested delivery
}

// Store is one FreshMart store.
type Store struct {
	StoreID    string `json:"store_id"` // e.g. "S001"
	Name       string `json:"name"`
	City       string `json:"city"`
	State      string `json:"state"`
	Timezone   string `json:"timezone"` // IANA name, e.g. "America/New_York"
	Address    string `json:"address"`  // street address, for delivery
	PostalCode string `json:"postal_code"`
}

// Location returns the store's time zone (business days are counted in it).
func (s Store) Location() (*time.Location, error) {
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, fmt.Errorf("catalog: store %s: time zone %q: %w", s.StoreID, s.Timezone, err)
	}
	return loc, nil
}

// Product is one SKU.
type Product struct {
	SKU               string `json:"sku"`        // e.g. "PRD-0001"
	Name              string `json:"name"`       // e.g. "Bananas"
	Department        string `json:"department"` // Department.ID
	Unit              string `json:"unit"`       // what one unit is: "each", "kg pack", "l", "box"...
	PriceCents        int64  `json:"price_cents"`
	LowStockThreshold int    `json:"low_stock_threshold"` // on-hand below this is "low"
	ReorderQty        int    `json:"reorder_qty"`         // units ordered when restocking
	VendorID          string `json:"vendor_id"`
	InitialStock      int    `json:"initial_stock"` // on-hand of a store that has never counted it
	// PackSize is how many units the vendor ships per case; orders are rounded up to whole
	// cases. 0 means the vendor ships single units.
	PackSize int `json:"pack_size"`
	// NetQty and NetUnit are what one unit holds (16 "oz", 1 "kg", 12 "ct"), for the unit
	// price a shelf sign shows ("$0.25 / oz"). See UnitPrice.
	NetQty  float64 `json:"net_qty"`
	NetUnit string  `json:"net_unit"`
}

// netUnits are the units of measure NetUnit may name.
var netUnits = map[string]bool{"oz": true, "fl oz": true, "lb": true, "kg": true, "g": true, "l": true, "ml": true, "m": true, "ct": true}

// UnitPrice is the unit price of priceCents for p, as a shelf sign prints it: "$0.25 / oz",
// "$1.99 / kg", "$0.29 / ct". Below a dollar per unit it keeps one more digit ("$0.031 / oz")
// so that cheap units still compare.
func (p Product) UnitPrice(priceCents int64) string {
	if p.NetQty <= 0 || p.NetUnit == "" {
		return ""
	}
	per := float64(priceCents) / 100 / p.NetQty
	if per < 0.1 {
		return fmt.Sprintf("$%.3f / %s", per, p.NetUnit)
	}
	return fmt.Sprintf("$%.2f / %s", per, p.NetUnit)
}

// OrderQty is qty rounded up to the vendor's whole cases (qty itself when PackSize is 0).
func (p Product) OrderQty(qty int) int {
	if p.PackSize <= 1 || qty <= 0 {
		return qty
	}
	return (qty + p.PackSize - 1) / p.PackSize * p.PackSize
}

// Catalog is the loaded reference data. Its methods are safe for concurrent use; returned
// slices are copies.
type Catalog struct {
	departments []Department
	vendors     []Vendor
	stores      []Store
	products    []Product
	storeIdx    map[string]int
	productIdx  map[string]int
	deptIdx     map[string]int
}

// EnvFile is the environment variable naming a catalog file to load instead of the embedded
// one.
const EnvFile = "CATALOG_FILE"

var loadOnce = sync.OnceValues(func() (*Catalog, error) { return loadFile(os.Getenv(EnvFile)) })

// Load returns the catalog, parsed and checked once per process: the file named by
// CATALOG_FILE when it is set, else the embedded one.
func Load() (*Catalog, error) { return loadOnce() }

// loadFile parses the catalog file at path, or the embedded catalog when path is "".
func loadFile(path string) (*Catalog, error) {
	if path == "" {
		return Parse(raw)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", EnvFile, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s=%s: %w", EnvFile, path, err)
	}
	return c, nil
}

// Embedded returns the embedded catalog's JSON (a copy), the starting point of a chain's own.
func Embedded() []byte { return bytes.Clone(raw) }

// MustLoad is Load for program start-up: it panics if the catalog is invalid (the package
// tests rule that out for the embedded one; CATALOG_FILE's is the operator's).
func MustLoad() *Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

var (
	skuRe   = regexp.MustCompile(`^[A-Z]{3}-[0-9]{4,6}$`)
	storeRe = regexp.MustCompile(`^S[0-9]{3,4}$`)
)

// Parse reads catalog JSON (the format of the embedded catalog.json) and checks it: unique ids,
// ids in the event-schema formats, products referring to known departments and vendors,
// non-negative prices and quantities, loadable time zones.
func Parse(data []byte) (*Catalog, error) {
	var doc struct {
		Departments []Department `json:"departments"`
		Vendors     []Vendor     `json:"vendors"`
		Stores      []Store      `json:"stores"`
		Products    []Product    `json:"products"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("catalog: decode: %w", err)
	}
	c := &Catalog{
		departments: doc.Departments, vendors: doc.Vendors, stores: doc.Stores, products: doc.Products,
		storeIdx: map[string]int{}, productIdx: map[string]int{}, deptIdx: map[string]int{},
	}
	vendorIdx := map[string]bool{}
	for i, d := range c.departments {
		if d.ID == "" || d.Name == "" {
			return nil, fmt.Errorf("catalog: department %d: id and name are required", i)
		}
		if _, dup := c.deptIdx[d.ID]; dup {
			return nil, fmt.Errorf("catalog: duplicate department %q", d.ID)
		}
		c.deptIdx[d.ID] = i
	}
	for _, v := range c.vendors {
		if v.VendorID == "" || vendorIdx[v.VendorID] {
			return nil, fmt.Errorf("catalog: vendor %q: empty or duplicate id", v.VendorID)
		}
		if !strings.Contains(v.Email, "@") || v.LeadDays < 0 {
			return nil, fmt.Errorf("catalog: vendor %s: an email address and a non-negative lead time are required", v.VendorID)
		}
		vendorIdx[v.VendorID] = true
	}
	for i, s := range c.stores {
		if !storeRe.MatchString(s.StoreID) {
			return nil, fmt.Errorf("catalog: store %q: id must look like S001", s.StoreID)
		}
		if _, dup := c.storeIdx[s.StoreID]; dup {
			return nil, fmt.Errorf("catalog: duplicate store %q", s.StoreID)
		}
		if _, err := s.Location(); err != nil {
			return nil, err
		}
		c.storeIdx[s.StoreID] = i
	}
	for i, p := range c.products {
		switch {
		case !skuRe.MatchString(p.SKU):
			return nil, fmt.Errorf("catalog: product %q: sku must look like PRD-0001", p.SKU)
		case p.Name == "" || p.Unit == "":
			return nil, fmt.Errorf("catalog: product %s: name and unit are required", p.SKU)
		case p.PriceCents < 0 || p.LowStockThreshold < 0 || p.ReorderQty < 0 || p.InitialStock < 0 || p.PackSize < 0:
			return nil, fmt.Errorf("catalog: product %s: negative price or quantity", p.SKU)
		case p.NetQty <= 0 || !netUnits[p.NetUnit]:
			return nil, fmt.Errorf("catalog: product %s: net quantity must be positive and its unit one of oz, fl oz, lb, kg, g, l, ml, m, ct", p.SKU)
		}
		if _, ok := c.deptIdx[p.Department]; !ok {
			return nil, fmt.Errorf("catalog: product %s: unknown department %q", p.SKU, p.Department)
		}
		if !vendorIdx[p.VendorID] {
			return nil, fmt.Errorf("catalog: product %s: unknown vendor %q", p.SKU, p.VendorID)
		}
		if _, dup := c.productIdx[p.SKU]; dup {
			return nil, fmt.Errorf("catalog: duplicate sku %q", p.SKU)
		}
		c.productIdx[p.SKU] = i
	}
	return c, nil
}

// Departments returns every department in shelf order.
func (c *Catalog) Departments() []Department { return slices.Clone(c.departments) }

// Department returns the department with the given id, or an error wrapping ErrNotFound.
func (c *Catalog) Department(id string) (Department, error) {
	i, ok := c.deptIdx[id]
	if !ok {
		return Department{}, fmt.Errorf("catalog: department %q: %w", id, ErrNotFound)
	}
	return c.departments[i], nil
}

// Vendors returns every vendor.
func (c *Catalog) Vendors() []Vendor { return slices.Clone(c.vendors) }

// Stores returns every store, ordered by id.
func (c *Catalog) Stores() []Store { return slices.Clone(c.stores) }

// Store returns the store with the given id, or an error wrapping ErrNotFound.
func (c *Catalog) Store(id string) (Store, error) {
	i, ok := c.storeIdx[id]
	if !ok {
		return Store{}, fmt.Errorf("catalog: store %q: %w", id, ErrNotFound)
	}
	return c.stores[i], nil
}

// Products returns every product, ordered by SKU.
func (c *Catalog) Products() []Product { return slices.Clone(c.products) }

// Product returns the product with the given SKU, or an error wrapping ErrNotFound.
func (c *Catalog) Product(sku string) (Product, error) {
	i, ok := c.productIdx[sku]
	if !ok {
		return Product{}, fmt.Errorf("catalog: sku %q: %w", sku, ErrNotFound)
	}
	return c.products[i], nil
}
