package simulator

import "time"

// Store is what the simulator needs to know about a store.
type Store struct {
	ID       string         // "S001"
	Location *time.Location // the store's time zone; nil means UTC
}

// Product is what the simulator needs to know about a SKU.
type Product struct {
	SKU          string
	Department   string
	PriceCents   int64
	Threshold    int // low-stock threshold
	ReorderQty   int // the vendor's pack size for a delivery; values below 1 count as 1
	VendorID     string
	InitialStock int
}

// Kind says which API an Event goes to.
type Kind int

// The kinds of events, in the order the generator breaks ties between events due at the same time.
const (
	KindSale Kind = iota
	KindCount
	KindDelivery
)

// String names the kind as the POS API's resource does.
func (k Kind) String() string {
	switch k {
	case KindSale:
		return "sale"
	case KindCount:
		return "stock-count"
	case KindDelivery:
		return "delivery"
	}
	return "unknown"
}

// Event is one thing that happens in a store. Exactly one of Sale, Count and Delivery is set,
// according to Kind.
type Event struct {
	At       time.Time
	Kind     Kind
	StoreID  string
	Sale     *Sale
	Count    *Count
	Delivery *Delivery
}

// ID returns the event's own id (sale_id, count_id or delivery_id).
func (e Event) ID() string {
	switch e.Kind {
	case KindSale:
		return e.Sale.SaleID
	case KindCount:
		return e.Count.CountID
	case KindDelivery:
		return e.Delivery.DeliveryID
	}
	return ""
}

// Body returns the value posted to the POS API for the event.
func (e Event) Body() any {
	switch e.Kind {
	case KindSale:
		return e.Sale
	case KindCount:
		return e.Count
	case KindDelivery:
		return e.Delivery
	}
	return nil
}

// Sale is the body of POST /v1/sales.
type Sale struct {
	SaleID     string     `json:"sale_id"`
	StoreID    string     `json:"store_id"`
	Register   string     `json:"register"`
	OccurredAt string     `json:"occurred_at"`
	Lines      []SaleLine `json:"lines"`
	LoyaltyID  string     `json:"loyalty_id,omitempty"`
	Payment    Payment    `json:"payment"`
}

// SaleLine is one line of a basket.
type SaleLine struct {
	SKU            string `json:"sku"`
	Qty            int    `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// Payment says how a basket was paid.
type Payment struct {
	Method      string `json:"method"` // card, cash or mobile
	AmountCents int64  `json:"amount_cents"`
}

// TotalCents is the basket's total.
func (s *Sale) TotalCents() int64 {
	var t int64
	for _, l := range s.Lines {
		t += int64(l.Qty) * l.UnitPriceCents
	}
	return t
}

// Count is the body of POST /v1/stock-counts: absolute on-hand figures from a warehouse scanner.
type Count struct {
	CountID   string      `json:"count_id"`
	StoreID   string      `json:"store_id"`
	CountedAt string      `json:"counted_at"`
	Lines     []CountLine `json:"lines"`
}

// CountLine is one counted SKU.
type CountLine struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// Delivery is the body of POST /v1/deliveries.
type Delivery struct {
	DeliveryID string         `json:"delivery_id"`
	StoreID    string         `json:"store_id"`
	VendorID   string         `json:"vendor_id"`
	PONumber   string         `json:"po_number,omitempty"`
	ReceivedAt string         `json:"received_at"`
	Lines      []DeliveryLine `json:"lines"`
}

// DeliveryLine is one delivered SKU.
type DeliveryLine struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}
