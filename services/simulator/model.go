package simulator

import (
	"time"

	"github.com/freshmart/platform/schemas"
)

// Store is what the simulator needs to know about a store.
type Store struct {
	ID       string         // "S001"
	Location *time.Location // the store's time zone; nil means UTC
}

// Product is what the simulator needs to know about a SKU.
type Product struct {
	SKU          string
	Name         string // what customers call it ("Strawberries"), for complaint texts; may be empty
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
// Sales, counts and deliveries go to the POS; complaints to the complaints service.
const (
	KindSale Kind = iota
	KindCount
	KindDelivery
	KindComplaint
)

// kinds is how many kinds there are.
const kinds = 4

// String names the kind as the POS API's resource does.
func (k Kind) String() string {
	switch k {
	case KindSale:
		return "sale"
	case KindCount:
		return "stock-count"
	case KindDelivery:
		return "delivery"
	case KindComplaint:
		return "complaint"
	}
	return "unknown"
}

// Event is one thing that happens in a store. Exactly one of Sale, Count, Delivery and
// Complaint is set, according to Kind.
type Event struct {
	At        time.Time
	Kind      Kind
	StoreID   string
	Sale      *schemas.SaleCompleted
	Count     *schemas.StockCounted
	Delivery  *schemas.DeliveryReceived
	Complaint *schemas.ComplaintFiled
	// BadBatch numbers the bad batch a complaint is about (1 for the stream's first), 0 for
	// none: what the complaints service should see as a spike.
	BadBatch int
}

// ID returns the event's own id (sale_id, count_id, delivery_id or complaint_id).
func (e Event) ID() string {
	switch e.Kind {
	case KindSale:
		return e.Sale.SaleID
	case KindCount:
		return e.Count.CountID
	case KindDelivery:
		return e.Delivery.DeliveryID
	case KindComplaint:
		return e.Complaint.ComplaintID
	}
	return ""
}

// Body returns the value posted for the event (to the POS API, or the complaints intake for a
// complaint): the event's payload as the service will produce it (package schemas).
func (e Event) Body() any {
	switch e.Kind {
	case KindSale:
		return e.Sale
	case KindCount:
		return e.Count
	case KindDelivery:
		return e.Delivery
	case KindComplaint:
		return e.Complaint
	}
	return nil
}
