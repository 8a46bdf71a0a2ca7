package simulator

import (
	"net/url"
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
// Sales, counts, deliveries and voids go to the POS; complaints to the complaints service.
const (
	KindSale Kind = iota
	KindCount
	KindDelivery
	KindComplaint
	KindVoid // a sale voided at the register, minutes after it (Config.Voids)
)

// kinds is how many kinds there are.
const kinds = 5

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
	case KindVoid:
		return "void"
	}
	return "unknown"
}

// Event is one thing that happens in a store. Exactly one of Sale, Count, Delivery, Complaint
// and Void is set, according to Kind.
type Event struct {
	At        time.Time
	Kind      Kind
	StoreID   string
	Sale      *schemas.SaleCompleted
	Count     *schemas.StockCounted
	Delivery  *schemas.DeliveryReceived
	Complaint *schemas.ComplaintFiled
	// Void is the sale.voided the POS will produce for a void (its StoreID and SaleID are the
	// sale's, VoidedAt is At); what is posted is only its reason and voided_at (Body).
	Void *schemas.SaleVoided
	// BadBatch numbers the bad batch a complaint is about (1 for the stream's first), 0 for
	// none: what the complaints service should see as a spike.
	BadBatch int
	// VoidAt is, for a sale the stream voids later, the time of its void (a KindVoid event with
	// its sale_id); zero for the others.
	VoidAt time.Time
}

// ID returns the event's own id (sale_id, count_id, delivery_id or complaint_id; for a void,
// which has no id of its own, the voided sale's sale_id).
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
	case KindVoid:
		return e.Void.SaleID
	}
	return ""
}

// Body returns the value posted for the event (to the POS API, or the complaints intake for a
// complaint): the event's payload as the service will produce it (package schemas), except for
// a void, whose body is {"reason", "voided_at"} (the sale is in the path, its store is the
// sale's).
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
	case KindVoid:
		return voidRequest{Reason: e.Void.Reason, VoidedAt: e.Void.VoidedAt}
	}
	return nil
}

// path is where the event is posted, under its service's base URL.
func (e Event) path() string {
	switch e.Kind {
	case KindSale:
		return "/v1/sales"
	case KindCount:
		return "/v1/stock-counts"
	case KindDelivery:
		return "/v1/deliveries"
	case KindComplaint:
		return "/v1/complaints"
	case KindVoid:
		return "/v1/sales/" + url.PathEscape(e.Void.SaleID) + "/void"
	}
	return ""
}
