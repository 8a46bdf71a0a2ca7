package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/reorder"
	reorderapp "github.com/freshmart/platform/services/reorder/app"
)

// fakeReorder answers the reorder API's three lists with rows encoded by the reorder
// service's own types, and records the queries it was asked.
func fakeReorder(t *testing.T, asked *[]string) *httptest.Server {
	t.Helper()
	opened := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	var mu sync.Mutex // the page asks for its lists concurrently
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*asked = append(*asked, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/purchase-orders":
			_ = json.NewEncoder(w).Encode(map[string]any{"purchase_orders": []reorderapp.PO{
				{PONumber: "PO-S001-V001-00001", StoreID: "S001", VendorID: "V001", VendorName: "Valley Fresh Farms", Status: reorder.StatusPartlyReceived,
					OpenedAt: opened, RequestedDeliveryDate: "2026-12-04", TotalCents: 12384,
					Lines: []reorder.Line{{SKU: "PRD-0001", Qty: 96, UnitCostCents: 129, Received: 48}}},
				{PONumber: "PO-S002-V012-00003", StoreID: "S002", VendorID: "V012", Status: reorder.StatusOpen, OpenedAt: opened,
					RequestedDeliveryDate: "2026-12-03", Lines: []reorder.Line{{SKU: "PRD-0002", Qty: 60, UnitCostCents: 227}}},
			}})
		case "/v1/invoices":
			_ = json.NewEncoder(w).Encode(map[string]any{"invoices": []reorderapp.Invoice{
				{InvoiceID: "INV-77", VendorID: "V001", PONumber: "PO-S001-V001-00001", StoreID: "S001", Status: reorder.InvoiceHeld,
					Reason: reorder.ReasonShort, ReceivedAt: opened.Add(72 * time.Hour), Lines: []schemas.InvoiceLine{{SKU: "PRD-0001", Qty: 48, UnitCostCents: 129}},
					Diffs: []schemas.MismatchLine{{SKU: "PRD-0001", Ordered: 96, Received: 48, Reason: reorder.ReasonShort}}},
			}})
		case "/v1/deliveries":
			_ = json.NewEncoder(w).Encode(map[string]any{"deliveries": []reorderapp.Delivery{
				{DeliveryID: "3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41", StoreID: "S002", VendorID: "V012", PONumber: "PO-S002-V012-00002",
					Matched: true, AwaitingInvoice: true, ReceivedAt: opened, Lines: []schemas.QtyLine{{SKU: "PRD-0002", Qty: 60}}},
			}})
		case "/healthz":
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPurchasingPage renders /purchasing against a reorder API: every store's open orders,
// deliveries awaiting invoice and held invoices with their reason; a store's page asks for that
// store only; with the reorder service down the page says so.
func TestPurchasingPage(t *testing.T) {
	var asked []string
	api := fakeReorder(t, &asked)
	down := closedAddr(t)
	vars := map[string]string{"KAFKA_BROKERS": down, "INVENTORY_URL": "http://" + down, "POS_URL": "http://" + down,
		"BROKER_HTTP_URL": "http://" + down, "COMPLAINTS_URL": "http://" + down, "ANALYTICS_URL": "http://" + down, "REORDER_URL": api.URL}
	svc := kittest.Build(t, Options, vars)
	if _, err := New(svc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Router)
	t.Cleanup(srv.Close)
	page := get(t, srv.URL+"/purchasing")
	for _, want := range []string{`data-store="S001"`, `data-store="S002"`, `data-po="PO-S001-V001-00001"`, "V001 · Valley Fresh Farms",
		"partly received", "PRD-0001 × 96 (48 received)", "$123.84", "Dec 1, 10:00 AM", "2026-12-04", `data-po="PO-S002-V012-00003"`,
		`data-invoice="INV-77"`, "Short delivery", "PRD-0001: ordered 96, received 48",
		`data-delivery="3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41"`, "PRD-0002 × 60", "2 open orders · 1 awaiting invoice · 1 held",
		`href="/purchasing" class="active"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the purchasing page lacks %q", want)
		}
	}
	if strings.Contains(page, "unavailable") {
		t.Error("the page says the reorder service is unavailable")
	}
	asked = nil
	get(t, srv.URL+"/purchasing?store_id=S002")
	for _, q := range asked {
		if !strings.Contains(q, "store_id=S002") {
			t.Errorf("S002's page asked %s", q)
		}
	}
	if resp, err := http.Get(srv.URL + "/purchasing?store_id=S999"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown store: %v %v", resp, err)
	}

	vars["REORDER_URL"] = "http://" + down
	svc2 := kittest.Build(t, Options, vars)
	if _, err := New(svc2); err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(svc2.Router)
	t.Cleanup(srv2.Close)
	page = get(t, srv2.URL+"/purchasing")
	for _, want := range []string{`id="orders-unavailable"`, `id="invoices-unavailable"`, `id="deliveries-unavailable"`,
		"The reorder service is unavailable right now"} {
		if !strings.Contains(page, want) {
			t.Errorf("with reorder down the page lacks %q", want)
		}
	}
	if strings.Contains(page, "Nothing to show") {
		t.Error("with reorder down the page claims there is nothing to show")
	}
}
