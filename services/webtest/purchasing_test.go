package webtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/services/catalog"
)

// postJSON posts body to url and fails the test unless the answer is want.
func postJSON(t *testing.T, url string, body any, want int) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("post %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		t.Fatalf("post %s: %s: %s", url, resp.Status, msg.String())
	}
}

// TestPurchasing follows a low-stock crossing through the platform's processes to the
// purchasing page in a real browser: a sale at the POS takes a SKU below its threshold, the
// inventory alerts, the reorder service orders it in whole packs and spools the vendor email;
// a short delivery at the POS dock and the vendor's invoice make the invoice held, and the
// page shows the partly received order and the held invoice with its reason.
func TestPurchasing(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	p := startPlatform(t, dsn)
	ctx, problems := browser(t)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	prod, err := cat.Product("PRD-0001") // Bananas from V001: 144 to start, low below 28, reorder 96 in packs of 12
	if err != nil {
		t.Fatal(err)
	}
	postSale(t, p.POS, prod, prod.InitialStock-prod.LowStockThreshold+4)

	type order struct {
		PONumber    string     `json:"po_number"`
		VendorID    string     `json:"vendor_id"`
		Status      string     `json:"status"`
		EmailSentAt *time.Time `json:"email_sent_at"`
		Lines       []struct {
			SKU           string `json:"sku"`
			Qty           int64  `json:"qty"`
			UnitCostCents int64  `json:"unit_cost_cents"`
		} `json:"lines"`
	}
	var po order
	deadline := time.Now().Add(30 * time.Second)
	for {
		var body struct {
			PurchaseOrders []order `json:"purchase_orders"`
		}
		if resp, err := http.Get(p.Reorder + "/v1/purchase-orders?store_id=S001"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
		}
		if len(body.PurchaseOrders) == 1 && body.PurchaseOrders[0].EmailSentAt != nil {
			po = body.PurchaseOrders[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sent purchase order for S001: %+v", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if po.VendorID != prod.VendorID || len(po.Lines) != 1 || po.Lines[0].SKU != prod.SKU || po.Lines[0].Qty != int64(prod.OrderQty(prod.ReorderQty)) {
		t.Fatalf("order %+v", po)
	}
	eml, err := os.ReadFile(filepath.Join(p.MailDir, po.PONumber+".eml"))
	if err != nil || !bytes.Contains(eml, []byte("Subject: Purchase order "+po.PONumber)) {
		t.Fatalf("spooled email: %v\n%s", err, eml)
	}
	// The truck brings a pack short; the vendor invoices what it brought.
	got := po.Lines[0].Qty - 12
	postJSON(t, p.POS+"/v1/deliveries", map[string]any{"delivery_id": uuid.NewString(), "store_id": "S001", "vendor_id": po.VendorID,
		"po_number": po.PONumber, "received_at": time.Now().UTC().Format(time.RFC3339),
		"lines": []map[string]any{{"sku": prod.SKU, "qty": got}}}, http.StatusAccepted)
	postJSON(t, p.Reorder+"/v1/invoices", map[string]any{"invoice_id": "INV-WEBTEST-1", "vendor_id": po.VendorID, "po_number": po.PONumber,
		"lines": []map[string]any{{"sku": prod.SKU, "qty": got, "unit_cost_cents": po.Lines[0].UnitCostCents}}}, http.StatusAccepted)

	row := `document.querySelector('tr[data-invoice="INV-WEBTEST-1"]')`
	deadline = time.Now().Add(30 * time.Second)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(p.Web+"/purchasing?store_id=S001")); err != nil {
			t.Fatal(err)
		}
		// The invoice and the order's receipt are folded by one consumer but may land in
		// different batches: wait for both on the page.
		found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
			`!!%s && (document.querySelector('tr[data-po=%q]')?.innerText || '').includes('partly received')`, row, po.PONumber)))
		if err != nil {
			t.Fatal(err)
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the held invoice is not on the page: %s", text(t, ctx, "main"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	held := text(t, ctx, `tr[data-invoice="INV-WEBTEST-1"]`)
	if !strings.Contains(held, "Short delivery") || !strings.Contains(held, po.PONumber) ||
		!strings.Contains(held, fmt.Sprintf("ordered %d, received %d", po.Lines[0].Qty, got)) {
		t.Errorf("the held invoice reads %q", held)
	}
	open := text(t, ctx, fmt.Sprintf(`tr[data-po=%q]`, po.PONumber))
	if !strings.Contains(open, "partly received") || !strings.Contains(open, fmt.Sprintf("%s × %d (%d received)", prod.SKU, po.Lines[0].Qty, got)) ||
		!strings.Contains(open, "sent ") {
		t.Errorf("the order reads %q", open)
	}
	if s := text(t, ctx, "main"); strings.Contains(s, "unavailable") {
		t.Errorf("the page says a service is unavailable: %s", s)
	}
	screenshot(t, ctx, "purchasing")
	if ps := problems(); len(ps) > 0 {
		t.Errorf("browser problems: %v", ps)
	}
}
