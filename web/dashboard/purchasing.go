package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// The reorder service's API (REORDER_URL): the purchasing page (/purchasing?store_id=) shows,
// per store, the open and partly received purchase orders, the deliveries of known orders that
// no invoice names yet, and the held invoices with their reason. When the reorder service does
// not answer, the page says so in each section and shows the rest.

// DefaultReorderURL is where the reorder service answers unless REORDER_URL says otherwise.
const DefaultReorderURL = "http://127.0.0.1:8087"

// reorderClient reads the reorder service's API.
type reorderClient struct {
	base   string
	client *http.Client
}

// newReorderClient reads the reorder service at base.
func newReorderClient(base string) *reorderClient {
	return &reorderClient{base: base, client: &http.Client{Timeout: 5 * time.Second}}
}

// PurchaseOrder is one row of GET /v1/purchase-orders (the fields shown).
type PurchaseOrder struct {
	PONumber              string     `json:"po_number"`
	StoreID               string     `json:"store_id"`
	VendorID              string     `json:"vendor_id"`
	VendorName            string     `json:"vendor_name"`
	Status                string     `json:"status"`
	OpenedAt              time.Time  `json:"opened_at"`
	RequestedDeliveryDate string     `json:"requested_delivery_date"`
	EmailSentAt           *time.Time `json:"email_sent_at"`
	TotalCents            int64      `json:"total_cents"`
	Lines                 []struct {
		SKU      string `json:"sku"`
		Qty      int64  `json:"qty"`
		Received int64  `json:"received"`
	} `json:"lines"`
}

// HeldInvoice is one row of GET /v1/invoices?status=held (the fields shown).
type HeldInvoice struct {
	InvoiceID  string    `json:"invoice_id"`
	StoreID    string    `json:"store_id"`
	VendorID   string    `json:"vendor_id"`
	PONumber   string    `json:"po_number"`
	Reason     string    `json:"reason"`
	TotalCents int64     `json:"total_cents"`
	ReceivedAt time.Time `json:"received_at"`
	Diffs      []struct {
		SKU      string `json:"sku"`
		Ordered  int64  `json:"ordered"`
		Received int64  `json:"received"`
		Reason   string `json:"reason"`
	} `json:"diffs"`
}

// AwaitingDelivery is one row of GET /v1/deliveries?awaiting_invoice=true (the fields shown).
type AwaitingDelivery struct {
	DeliveryID string    `json:"delivery_id"`
	StoreID    string    `json:"store_id"`
	VendorID   string    `json:"vendor_id"`
	PONumber   string    `json:"po_number"`
	ReceivedAt time.Time `json:"received_at"`
	Lines      []struct {
		SKU string `json:"sku"`
		Qty int64  `json:"qty"`
	} `json:"lines"`
}

// purchasingView is the purchasing page's body.
type purchasingView struct {
	StoreID                  string
	Stores                   []purchasingStore
	OrdersErr, InvoicesErr   string
	DeliveriesErr            string
	Orders, Held, Deliveries int
}

// purchasingStore is one store's section of the page.
type purchasingStore struct {
	ID, Name   string
	Orders     []purchasingOrderRow
	Held       []purchasingInvoiceRow
	Deliveries []purchasingDeliveryRow
}

type purchasingOrderRow struct {
	PONumber, Vendor, Status, Opened, Requested, Lines, Total, Email string
}

type purchasingInvoiceRow struct {
	InvoiceID, PONumber, Vendor, Reason, Lines, Total, Received string
}

type purchasingDeliveryRow struct {
	DeliveryID, PONumber, Vendor, Received, Lines string
}

// reasonText is what a held invoice's reason says to a person.
var reasonText = map[string]string{
	"short_delivery":         "Short delivery",
	"over_delivery":          "Over delivery",
	"not_ordered":            "Not on the order",
	"invoice_above_received": "Invoiced above received",
	"price_mismatch":         "Price outside tolerance",
	"unknown_po":             "Unknown purchase order",
	"no_po":                  "No purchase order",
	"po_cancelled":           "Order cancelled",
}

// purchasing reads the page's three lists for store ("" for every store).
func (s *Server) purchasing(ctx context.Context, store string) purchasingView {
	v := purchasingView{StoreID: store}
	q := func(kv ...string) url.Values {
		u := url.Values{"limit": {"500"}}
		if store != "" {
			u.Set("store_id", store)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			u.Set(kv[i], kv[i+1])
		}
		return u
	}
	var orders struct {
		PurchaseOrders []PurchaseOrder `json:"purchase_orders"`
	}
	var held struct {
		Invoices []HeldInvoice `json:"invoices"`
	}
	var deliveries struct {
		Deliveries []AwaitingDelivery `json:"deliveries"`
	}
	unavailable := func(err error) string {
		return fmt.Sprintf("The reorder service is unavailable right now (reorder at %s): %v", s.buy.base, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := getJSON(ctx, s.buy.client, "reorder", s.buy.base, "/v1/purchase-orders", q("status", "open,partly_received"), &orders); err != nil {
			v.OrdersErr = unavailable(err)
		}
	})
	wg.Go(func() {
		if err := getJSON(ctx, s.buy.client, "reorder", s.buy.base, "/v1/invoices", q("status", "held"), &held); err != nil {
			v.InvoicesErr = unavailable(err)
		}
	})
	wg.Go(func() {
		if err := getJSON(ctx, s.buy.client, "reorder", s.buy.base, "/v1/deliveries", q("awaiting_invoice", "true"), &deliveries); err != nil {
			v.DeliveriesErr = unavailable(err)
		}
	})
	wg.Wait()
	byStore := map[string]*purchasingStore{}
	section := func(id string) *purchasingStore {
		if p, ok := byStore[id]; ok {
			return p
		}
		p := &purchasingStore{ID: id, Name: id}
		if st, err := s.cat.Store(id); err == nil {
			p.Name = st.Name
		}
		byStore[id] = p
		return p
	}
	local := func(store string, t time.Time) string {
		if st, err := s.cat.Store(store); err == nil {
			if loc, err := st.Location(); err == nil {
				return t.In(loc).Format("Jan 2, 3:04 PM")
			}
		}
		return t.UTC().Format("Jan 2, 15:04 UTC")
	}
	for _, o := range orders.PurchaseOrders {
		var lines []string
		for _, l := range o.Lines {
			if l.Received > 0 {
				lines = append(lines, fmt.Sprintf("%s × %d (%d received)", l.SKU, l.Qty, l.Received))
			} else {
				lines = append(lines, fmt.Sprintf("%s × %d", l.SKU, l.Qty))
			}
		}
		email := "composing"
		if o.EmailSentAt != nil {
			email = "sent " + local(o.StoreID, *o.EmailSentAt)
		}
		vendor := o.VendorID
		if o.VendorName != "" {
			vendor += " · " + o.VendorName
		}
		p := section(o.StoreID)
		p.Orders = append(p.Orders, purchasingOrderRow{PONumber: o.PONumber, Vendor: vendor, Status: strings.ReplaceAll(o.Status, "_", " "),
			Opened: local(o.StoreID, o.OpenedAt), Requested: o.RequestedDeliveryDate, Lines: strings.Join(lines, ", "),
			Total: money(o.TotalCents), Email: email})
		v.Orders++
	}
	for _, i := range held.Invoices {
		reason := reasonText[i.Reason]
		if reason == "" {
			reason = i.Reason
		}
		var lines []string
		for _, d := range i.Diffs {
			lines = append(lines, fmt.Sprintf("%s: ordered %d, received %d", d.SKU, d.Ordered, d.Received))
		}
		p := section(i.StoreID)
		p.Held = append(p.Held, purchasingInvoiceRow{InvoiceID: i.InvoiceID, PONumber: i.PONumber, Vendor: i.VendorID, Reason: reason,
			Lines: strings.Join(lines, "; "), Total: money(i.TotalCents), Received: local(i.StoreID, i.ReceivedAt)})
		v.Held++
	}
	for _, d := range deliveries.Deliveries {
		var lines []string
		for _, l := range d.Lines {
			lines = append(lines, fmt.Sprintf("%s × %d", l.SKU, l.Qty))
		}
		p := section(d.StoreID)
		p.Deliveries = append(p.Deliveries, purchasingDeliveryRow{DeliveryID: d.DeliveryID, PONumber: d.PONumber, Vendor: d.VendorID,
			Received: local(d.StoreID, d.ReceivedAt), Lines: strings.Join(lines, ", ")})
		v.Deliveries++
	}
	for _, p := range byStore {
		v.Stores = append(v.Stores, *p)
	}
	sort.Slice(v.Stores, func(a, b int) bool { return v.Stores[a].ID < v.Stores[b].ID })
	return v
}

// purchasingPageData is the purchasing page: the layout's fields and the body.
type purchasingPageData struct {
	page
	Purchasing purchasingView
}

// purchasingPage answers GET /purchasing?store_id=: the purchasing page of one store, or of
// every store.
func (s *Server) purchasingPage(w http.ResponseWriter, r *http.Request) {
	store := r.URL.Query().Get("store_id")
	if store != "" {
		if _, err := s.cat.Store(store); err != nil {
			s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", store))
			return
		}
	}
	p := purchasingPageData{page: page{Title: "Purchasing", Active: "purchasing", Stores: s.stores()}, Purchasing: s.purchasing(r.Context(), store)}
	s.render(w, "purchasing", p)
}
