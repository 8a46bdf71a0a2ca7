package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/reorder"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// t0 is the services' clock at the start of every test; tests move it forward.
var t0 = time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)

type env struct {
	broker *brokertest.Broker
	dsn    string
	clk    *clock.Manual
	spool  string
	prod   *events.Producer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{broker: brokertest.Start(t), dsn: pgtest.New(t), clk: clock.NewManual(t0), spool: t.TempDir()}
	p, err := events.NewProducer(events.ProducerConfig{Brokers: []string{e.broker.Addr}, Source: "freshmart/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	e.prod = p
	return e
}

func (e *env) vars() map[string]string {
	return map[string]string{"KAFKA_BROKERS": e.broker.Addr, "DATABASE_URL": e.dsn}
}

func (e *env) config() Config {
	return Config{Clock: e.clk, SpoolDir: e.spool, SendEvery: 20 * time.Millisecond}
}

// start runs a reorder service on e until the test ends and returns its base URL.
func (e *env) start(t *testing.T, cfg Config) string {
	t.Helper()
	s := kittest.Start(t, Options, e.vars(), func(_ context.Context, s *kit.Service) error {
		_, err := New(s, cfg)
		return err
	})
	return kittest.URL(s)
}

// produce writes an event to the broker as another service would.
func (e *env) produce(t *testing.T, topic, key, typ, id string, payload any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := e.prod.Produce(ctx, events.Out{Topic: topic, Key: key, Type: typ, ID: id, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

// lowStock produces alert.low_stock for store and SKU at `at` (as inventory does) and returns it.
func (e *env) lowStock(t *testing.T, store, sku string, at time.Time) schemas.StockAlert {
	t.Helper()
	a := schemas.StockAlert{AlertID: uuid.NewString(), StoreID: store, SKU: sku, OnHand: 3, Threshold: 10, At: at}
	e.produce(t, schemas.TopicStoreAlerts, store, schemas.TypeAlertLowStock, a.AlertID, a)
	return a
}

// deliver produces delivery.received (as the POS dock API does).
func (e *env) deliver(t *testing.T, store, vendor, po string, at time.Time, lines ...schemas.QtyLine) string {
	t.Helper()
	d := schemas.DeliveryReceived{DeliveryID: uuid.NewString(), StoreID: store, VendorID: vendor, PONumber: po, ReceivedAt: at, Lines: lines}
	e.produce(t, schemas.TopicVendorDeliveries, store, schemas.TypeDeliveryReceived, d.DeliveryID, d)
	return d.DeliveryID
}

func line(sku string, qty int64) schemas.QtyLine { return schemas.QtyLine{SKU: sku, Qty: qty} }

// until polls check until it returns nil, for at most 20 seconds.
func until(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode
}

func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	resp, err := http.Post(url, "application/json", r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func orders(t *testing.T, base, query string) []PO {
	t.Helper()
	var out struct {
		PurchaseOrders []PO `json:"purchase_orders"`
	}
	if code := get(t, base+"/v1/purchase-orders?"+query, &out); code != http.StatusOK {
		t.Fatalf("list orders: %d", code)
	}
	return out.PurchaseOrders
}

func getPO(t *testing.T, base, po string) PO {
	t.Helper()
	var p PO
	if code := get(t, base+"/v1/purchase-orders/"+po, &p); code != http.StatusOK {
		t.Fatalf("GET %s: %d", po, code)
	}
	return p
}

func invoice(t *testing.T, base, id string) (Invoice, bool) {
	t.Helper()
	var i Invoice
	return i, get(t, base+"/v1/invoices/"+id, &i) == http.StatusOK
}

// waitOrders waits until the orders of a query are n.
func waitOrders(t *testing.T, base, query string, n int) []PO {
	t.Helper()
	var got []PO
	until(t, fmt.Sprintf("%d orders for %q", n, query), func() error {
		if got = orders(t, base, query); len(got) != n {
			return fmt.Errorf("%d orders: %+v", len(got), got)
		}
		return nil
	})
	return got
}

// emailFile reads a spooled email once it is there.
func (e *env) emailFile(t *testing.T, po string) []byte {
	t.Helper()
	var b []byte
	until(t, "spooled email of "+po, func() error {
		var err error
		b, err = os.ReadFile(filepath.Join(e.spool, po+".eml"))
		return err
	})
	return b
}

// mismatchReader collects the alert.delivery_mismatch events on store-alerts.
type mismatchReader struct {
	mu  sync.Mutex
	all []schemas.DeliveryMismatchAlert
	ids map[string]int
}

func readMismatches(t *testing.T, e *env) *mismatchReader {
	t.Helper()
	cl := e.broker.Client(t, kgo.ConsumeTopics(schemas.TopicStoreAlerts), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	m := &mismatchReader{ids: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				ev, err := events.Parse(r)
				if err != nil || ev.Type != schemas.TypeAlertDeliveryMismatch {
					return
				}
				var a schemas.DeliveryMismatchAlert
				if json.Unmarshal(ev.Data, &a) != nil {
					return
				}
				m.mu.Lock()
				m.ids[ev.ID]++
				m.all = append(m.all, a)
				m.mu.Unlock()
			})
		}
	}()
	return m
}

// find returns the alerts for a PO (or delivery) with a reason.
func (m *mismatchReader) find(po, reason string) []schemas.DeliveryMismatchAlert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []schemas.DeliveryMismatchAlert
	for _, a := range m.all {
		if a.PONumber == po && a.Reason == reason {
			out = append(out, a)
		}
	}
	return out
}

func (m *mismatchReader) wait(t *testing.T, po, reason string) schemas.DeliveryMismatchAlert {
	t.Helper()
	var got []schemas.DeliveryMismatchAlert
	until(t, fmt.Sprintf("%s alert for %q", reason, po), func() error {
		if got = m.find(po, reason); len(got) == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	return got[0]
}

func product(t *testing.T, sku string) catalog.Product {
	t.Helper()
	p, err := catalog.MustLoad().Product(sku)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLowStockMakesOneOrderAndOneEmail: an alert orders the SKU's reorder quantity in whole
// packs from its vendor; a copy of the alert and a second crossing while the order is open
// order nothing; the email is composed when the window closes (by a timer on the Manual
// clock), spooled once, shown by the API; a restart and a replay change nothing.
func TestLowStockMakesOneOrderAndOneEmail(t *testing.T) {
	e := newEnv(t)
	base := e.start(t, e.config())
	a := e.lowStock(t, "S001", "PRD-0106", t0) // reorder 60, packs of 24: 72
	e.produce(t, schemas.TopicStoreAlerts, "S001", schemas.TypeAlertLowStock, a.AlertID, a)
	e.lowStock(t, "S001", "PRD-0106", t0.Add(time.Minute))
	e.lowStock(t, "S002", "PRD-0107", t0) // another store, to know the first three were consumed
	waitOrders(t, base, "store_id=S002", 1)
	got := waitOrders(t, base, "store_id=S001", 1)
	po := got[0]
	p := product(t, "PRD-0106")
	if po.PONumber != "PO-S001-V006-00001" || po.VendorID != p.VendorID || po.Status != reorder.StatusOpen || len(po.Lines) != 1 ||
		po.Lines[0].SKU != "PRD-0106" || po.Lines[0].Qty != 72 || po.Lines[0].UnitCostCents != reorder.UnitCost(p) {
		t.Fatalf("order %+v", po)
	}
	if !po.OpenedAt.Equal(t0) || po.RequestedDeliveryDate == "" {
		t.Fatalf("order times %+v", po)
	}
	resp, err := http.Get(base + "/v1/purchase-orders/" + po.PONumber + "/email")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("email before the window closed: %d", resp.StatusCode)
	}
	e.clk.Set(t0.Add(reorder.DefaultWindow))
	file := e.emailFile(t, po.PONumber)
	resp, err = http.Get(base + "/v1/purchase-orders/" + po.PONumber + "/email")
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "message/rfc822" || !bytes.Equal(shown, file) {
		t.Fatalf("GET email: %d %s, equal to the file: %v", resp.StatusCode, resp.Header.Get("Content-Type"), bytes.Equal(shown, file))
	}
	m, err := mail.ReadMessage(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	vendor, _ := newFolder("reorder", catalog.MustLoad(), Config{}, nil, nil).vendor(p.VendorID)
	body, _ := io.ReadAll(m.Body)
	if !strings.Contains(m.Header.Get("To"), vendor.Email) || !strings.Contains(m.Header.Get("Subject"), po.PONumber) ||
		!strings.Contains(string(body), "148 Montague St") || !strings.Contains(string(body), " 72 ") {
		t.Fatalf("email %v\n%s", m.Header, body)
	}
	until(t, "email marked sent", func() error {
		if got := getPO(t, base, po.PONumber); got.EmailSentVia != "spool" || got.EmailSentAt == nil {
			return fmt.Errorf("%+v", got)
		}
		return nil
	})
	entries, _ := os.ReadDir(e.spool)
	if len(entries) != 2 { // S001's and S002's orders, no temporary files
		t.Fatalf("spool holds %d files", len(entries))
	}
	// A replay of the alert after a restart orders nothing either.
	e.produce(t, schemas.TopicStoreAlerts, "S001", schemas.TypeAlertLowStock, a.AlertID, a)
	base2 := e.start(t, e.config())
	e.lowStock(t, "S003", "PRD-0106", t0.Add(2*time.Minute))
	waitOrders(t, base2, "store_id=S003", 1)
	if got := orders(t, base2, "store_id=S001"); len(got) != 1 || len(got[0].Lines) != 1 {
		t.Fatalf("after a restart and a replay: %+v", got)
	}
	checkRebuild(t, e, 3)
}

// TestGroupingWindow: two SKUs of one vendor and store within the window are one order with
// two lines; an alert after the window opens the next order and seals the first; another
// vendor's SKU is an order of its own; the last order is sealed by its timer.
func TestGroupingWindow(t *testing.T) {
	e := newEnv(t)
	base := e.start(t, e.config())
	// PRD-0001 and PRD-0003 are both Valley Fresh Farms (V001); PRD-0002 is V012.
	e.lowStock(t, "S004", "PRD-0001", t0)
	e.lowStock(t, "S004", "PRD-0003", t0.Add(4*time.Minute))
	e.lowStock(t, "S004", "PRD-0002", t0.Add(4*time.Minute))
	got := waitOrders(t, base, "store_id=S004&vendor_id=V001", 1)
	if len(got[0].Lines) != 2 || got[0].Lines[0].SKU != "PRD-0001" || got[0].Lines[1].SKU != "PRD-0003" {
		t.Fatalf("grouped order %+v", got[0])
	}
	waitOrders(t, base, "store_id=S004&vendor_id=V012", 1)
	// 5 minutes after the first alert, by the alerts' time: a new order, and the first sealed
	// although the clock has not moved.
	e.lowStock(t, "S004", "PRD-0004", t0.Add(5*time.Minute))
	got = waitOrders(t, base, "store_id=S004&vendor_id=V001", 2)
	first, second := got[1], got[0]
	if first.PONumber != "PO-S004-V001-00001" || second.PONumber != "PO-S004-V001-00002" || len(second.Lines) != 1 || second.Lines[0].SKU != "PRD-0004" {
		t.Fatalf("orders after the window: %+v", got)
	}
	if first.SealedAt == nil || !first.SealedAt.Equal(t0.Add(reorder.DefaultWindow)) || second.SealedAt != nil {
		t.Fatalf("sealing: first %v, second %v", first.SealedAt, second.SealedAt)
	}
	raw := e.emailFile(t, first.PONumber)
	if !strings.Contains(string(raw), "PRD-0001") || !strings.Contains(string(raw), "PRD-0003") {
		t.Fatalf("grouped email lacks a line:\n%s", raw)
	}
	// The second order and the other vendor's are sealed by their timers.
	e.clk.Set(t0.Add(10 * time.Minute))
	e.emailFile(t, second.PONumber)
	e.emailFile(t, "PO-S004-V012-00001")
	checkRebuild(t, e, 3)
}

// TestCancel: cancelling an open order is an event the consumer folds (202, then cancelled);
// again is 200; a received order is 409; unknown is 404; a bad body names the field; a new
// crossing after the cancellation orders again; a cancelled order's window closing composes no
// email.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	base := e.start(t, e.config())
	e.lowStock(t, "S005", "PRD-0001", t0)
	e.lowStock(t, "S005", "PRD-0002", t0)
	po := waitOrders(t, base, "store_id=S005&vendor_id=V001", 1)[0].PONumber
	other := waitOrders(t, base, "store_id=S005&vendor_id=V012", 1)[0]
	if code, body := post(t, base+"/v1/purchase-orders/"+po+"/cancel", `{"reason": 5}`); code != http.StatusUnprocessableEntity ||
		!strings.Contains(fmt.Sprint(body["errors"]), "reason") {
		t.Fatalf("bad reason: %d %v", code, body)
	}
	if code, _ := post(t, base+"/v1/purchase-orders/PO-NONE/cancel", nil); code != http.StatusNotFound {
		t.Fatalf("unknown order: %d", code)
	}
	if code, body := post(t, base+"/v1/purchase-orders/"+po+"/cancel", map[string]any{"reason": "ordered by mistake"}); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %v", code, body)
	}
	until(t, "cancelled", func() error {
		if p := getPO(t, base, po); p.Status != reorder.StatusCancelled || p.CancelReason != "ordered by mistake" {
			return fmt.Errorf("%+v", p)
		}
		return nil
	})
	if code, body := post(t, base+"/v1/purchase-orders/"+po+"/cancel", nil); code != http.StatusOK || body["status"] != "cancelled" {
		t.Fatalf("cancel again: %d %v", code, body)
	}
	e.lowStock(t, "S005", "PRD-0001", t0.Add(10*time.Minute))
	waitOrders(t, base, "store_id=S005&vendor_id=V001&status=open", 1)
	// Receive the other order in full: it closes and cannot be cancelled.
	e.deliver(t, "S005", "V012", other.PONumber, t0.Add(time.Hour), line("PRD-0002", other.Lines[0].Qty))
	until(t, "received", func() error {
		if p := getPO(t, base, other.PONumber); p.Status != reorder.StatusReceived || p.ReceivedAt == nil {
			return fmt.Errorf("%+v", p)
		}
		return nil
	})
	if code, body := post(t, base+"/v1/purchase-orders/"+other.PONumber+"/cancel", nil); code != http.StatusConflict {
		t.Fatalf("cancel a received order: %d %v", code, body)
	}
	e.clk.Set(t0.Add(2 * time.Hour))
	e.emailFile(t, other.PONumber)
	e.emailFile(t, "PO-S005-V001-00002")
	if _, err := os.Stat(filepath.Join(e.spool, po+".eml")); !os.IsNotExist(err) {
		t.Fatalf("the cancelled order's email was written: %v", err)
	}
	if code := get(t, base+"/v1/purchase-orders?status=bogus", nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad status: %d", code)
	}
	checkRebuild(t, e, 3)
}

// TestThreeWayMatch: full, partial (two deliveries), short, over and mispriced deliveries and
// invoices, an invoice before its delivery, deliveries without a known order, bad invoices.
func TestThreeWayMatch(t *testing.T) {
	e := newEnv(t)
	al := readMismatches(t, e)
	base := e.start(t, e.config())
	// One order per store, each for PRD-0001 (V001, 96 units at UnitCost).
	stores := []string{"S001", "S002", "S003", "S004", "S005", "S006"}
	for _, s := range stores {
		e.lowStock(t, s, "PRD-0001", t0)
	}
	cost := reorder.UnitCost(product(t, "PRD-0001"))
	pos := map[string]PO{}
	for _, s := range stores {
		pos[s] = waitOrders(t, base, "store_id="+s, 1)[0]
	}
	inv := func(id, po string, qty, unit int64) map[string]any {
		return map[string]any{"invoice_id": id, "vendor_id": "V001", "po_number": po,
			"lines": []map[string]any{{"sku": "PRD-0001", "qty": qty, "unit_cost_cents": unit}}}
	}
	postInv := func(body map[string]any) {
		t.Helper()
		if code, resp := post(t, base+"/v1/invoices", body); code != http.StatusAccepted && code != http.StatusOK {
			t.Fatalf("invoice: %d %v", code, resp)
		}
	}
	waitInv := func(id, status, reason string) Invoice {
		t.Helper()
		var i Invoice
		until(t, "invoice "+id+" "+status, func() error {
			var ok bool
			if i, ok = invoice(t, base, id); !ok || i.Status != status || i.Reason != reason {
				return fmt.Errorf("%+v", i)
			}
			return nil
		})
		return i
	}
	day := t0.Add(72 * time.Hour)
	// Full: one delivery, invoice at the order's cost.
	full := pos["S001"].PONumber
	e.deliver(t, "S001", "V001", full, day, line("PRD-0001", 96))
	postInv(inv("INV-FULL", full, 96, cost))
	waitInv("INV-FULL", reorder.InvoiceApproved, "")
	if p := getPO(t, base, full); p.Status != reorder.StatusReceived || p.Lines[0].Received != 96 || p.Lines[0].Invoiced != 96 {
		t.Fatalf("full: %+v", p)
	}
	postInv(inv("INV-FULL", full, 96, cost)) // a retry
	// Partial: the invoice comes first (pending), then two deliveries.
	part := pos["S002"].PONumber
	postInv(inv("INV-PART", part, 96, cost+1)) // within 2%
	waitInv("INV-PART", reorder.InvoicePending, "")
	e.deliver(t, "S002", "V001", part, day, line("PRD-0001", 48))
	until(t, "partly received", func() error {
		if p := getPO(t, base, part); p.Status != reorder.StatusPartlyReceived || p.Lines[0].Received != 48 {
			return fmt.Errorf("%+v", p)
		}
		return nil
	})
	waitInv("INV-PART", reorder.InvoiceHeld, reorder.ReasonShort)
	e.deliver(t, "S002", "V001", part, day.Add(24*time.Hour), line("PRD-0001", 48))
	waitInv("INV-PART", reorder.InvoiceApproved, "")
	if p := getPO(t, base, part); p.Status != reorder.StatusReceived {
		t.Fatalf("partial: %+v", p)
	}
	// Short: 90 of 96 delivered and invoiced.
	short := pos["S003"].PONumber
	e.deliver(t, "S003", "V001", short, day, line("PRD-0001", 90))
	postInv(inv("INV-SHORT", short, 90, cost))
	i := waitInv("INV-SHORT", reorder.InvoiceHeld, reorder.ReasonShort)
	if len(i.Diffs) != 1 || i.Diffs[0].Ordered != 96 || i.Diffs[0].Received != 90 {
		t.Fatalf("short: %+v", i)
	}
	a := al.wait(t, short, reorder.ReasonShort)
	if a.InvoiceID != "INV-SHORT" || a.StoreID != "S003" || len(a.Lines) != 1 || a.Lines[0].Received != 90 || a.Lines[0].Ordered != 96 {
		t.Fatalf("short alert %+v", a)
	}
	// Over: 108 delivered: alerted at the dock, and the invoice held.
	over := pos["S004"].PONumber
	e.deliver(t, "S004", "V001", over, day, line("PRD-0001", 108))
	a = al.wait(t, over, reorder.ReasonOver)
	if a.InvoiceID != "" || a.Lines[0].Received != 108 {
		t.Fatalf("over alert %+v", a)
	}
	postInv(inv("INV-OVER", over, 108, cost))
	waitInv("INV-OVER", reorder.InvoiceHeld, reorder.ReasonOver)
	// Mispriced: 5% above the order's cost.
	mis := pos["S005"].PONumber
	e.deliver(t, "S005", "V001", mis, day, line("PRD-0001", 96))
	postInv(inv("INV-MIS", mis, 96, cost*105/100))
	waitInv("INV-MIS", reorder.InvoiceHeld, reorder.ReasonPrice)
	a = al.wait(t, mis, reorder.ReasonPrice)
	if *a.Lines[0].POUnitCostCents != cost || *a.Lines[0].InvoicedUnitCostCents != cost*105/100 {
		t.Fatalf("price alert %+v", a)
	}
	// Invoiced above received: 96 ordered and received, 100 invoiced.
	above := pos["S006"].PONumber
	e.deliver(t, "S006", "V001", above, day, line("PRD-0001", 96))
	postInv(inv("INV-ABOVE", above, 100, cost))
	waitInv("INV-ABOVE", reorder.InvoiceHeld, reorder.ReasonAboveReceived)
	// Deliveries without a known order.
	unknown := e.deliver(t, "S001", "V001", "PO-S001-V001-99999", day, line("PRD-0001", 12))
	if a := al.wait(t, "PO-S001-V001-99999", reorder.ReasonUnknownPO); a.DeliveryID != unknown || a.Lines[0].Received != 12 {
		t.Fatalf("unknown order alert %+v", a)
	}
	none := e.deliver(t, "S002", "V002", "", day, line("PRD-0009", 6))
	if a := al.wait(t, "", reorder.ReasonNoPO); a.DeliveryID != none {
		t.Fatalf("no order alert %+v", a)
	}
	// Bad invoices name their fields.
	code, body := post(t, base+"/v1/invoices", map[string]any{"invoice_id": "bad id!", "vendor_id": "V002", "po_number": full,
		"lines": []map[string]any{{"sku": "NOPE", "qty": 0}}})
	errs := fmt.Sprint(body["errors"])
	for _, f := range []string{"invoice_id", "vendor_id", "lines[0].sku", "lines[0].qty", "lines[0].unit_cost_cents"} {
		if !strings.Contains(errs, "field:"+f+" ") {
			t.Errorf("bad invoice: %d, %s not named in %s", code, f, errs)
		}
	}
	if code, body := post(t, base+"/v1/invoices", inv("INV-X", "PO-NONE", 1, 1)); code != http.StatusUnprocessableEntity ||
		!strings.Contains(fmt.Sprint(body["errors"]), "po_number") {
		t.Fatalf("unknown order: %d %v", code, body)
	}
	if code, _ := post(t, base+"/v1/invoices", "{"); code != http.StatusBadRequest {
		t.Fatalf("malformed: %d", code)
	}
	var held struct {
		Invoices []Invoice `json:"invoices"`
	}
	get(t, base+"/v1/invoices?status=held", &held)
	var ids []string
	for _, i := range held.Invoices {
		ids = append(ids, i.InvoiceID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"INV-ABOVE", "INV-MIS", "INV-OVER", "INV-SHORT"}) {
		t.Fatalf("held invoices %v", ids)
	}
	var dl struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	get(t, base+"/v1/deliveries?awaiting_invoice=true", &dl)
	if len(dl.Deliveries) != 0 {
		t.Fatalf("deliveries awaiting an invoice: %+v", dl.Deliveries)
	}
	al.mu.Lock()
	for id, n := range al.ids {
		if n != 1 {
			t.Errorf("alert %s seen %d times", id, n)
		}
	}
	al.mu.Unlock()
	checkRebuild(t, e, 6)
}

// TestRestartMidStream: alerts, deliveries and invoices across a restart of the service (one
// instance stopped after part of the stream, another started on the same database) make the
// same orders as one uninterrupted run would: no order lost, none twice, every number in
// sequence; the rebuild equals the live view.
func TestRestartMidStream(t *testing.T) {
	e := newEnv(t)
	first := kittest.Build(t, Options, e.vars())
	if _, err := New(first, e.config()); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	<-first.Listening()
	skus := []string{"PRD-0001", "PRD-0003", "PRD-0004", "PRD-0005", "PRD-0006", "PRD-0007"} // all V001
	at := t0
	for i, sku := range skus[:3] {
		e.lowStock(t, "S006", sku, at.Add(time.Duration(i)*3*time.Minute))
	}
	// 0 and 3 minutes are one order; 6 opens the second.
	waitOrders(t, kittest.URL(first), "store_id=S006", 2)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// While it is down: more alerts (9 joins the second order, 12 opens a third, 15 joins it)
	// and a copy of an alert already consumed.
	var last schemas.StockAlert
	for i, sku := range skus[3:] {
		last = e.lowStock(t, "S006", sku, at.Add(time.Duration(9+i*3)*time.Minute))
	}
	e.produce(t, schemas.TopicStoreAlerts, "S006", schemas.TypeAlertLowStock, last.AlertID, last)
	base := e.start(t, e.config())
	got := waitOrders(t, base, "store_id=S006", 3)
	lines := map[string]int{}
	for _, p := range got {
		for _, l := range p.Lines {
			lines[l.SKU]++
		}
	}
	if len(lines) != 6 {
		t.Fatalf("lines %v in %+v", lines, got)
	}
	for sku, n := range lines {
		if n != 1 {
			t.Fatalf("%s ordered %d times", sku, n)
		}
	}
	for i, p := range got {
		if want := fmt.Sprintf("PO-S006-V001-%05d", 3-i); p.PONumber != want || len(p.Lines) != 2 {
			t.Fatalf("order %d: %+v, want %s with 2 lines", i, p, want)
		}
	}
	e.clk.Set(t0.Add(time.Hour))
	for _, p := range got {
		e.emailFile(t, p.PONumber)
	}
	checkRebuild(t, e, 3)
}

// TestSMTP: with SMTP_URL the email goes to an SMTP server (a listener in the test on a real
// loopback socket), once, to the vendor's address, and is marked sent by smtp.
func TestSMTP(t *testing.T) {
	e := newEnv(t)
	srv := startSMTP(t)
	cfg, err := ConfigFromEnv(kit.Map(map[string]string{"SMTP_URL": "smtp://" + srv.addr}))
	if err != nil {
		t.Fatal(err)
	}
	c := e.config()
	c.SMTP = cfg.SMTP
	base := e.start(t, c)
	e.lowStock(t, "S002", "PRD-0001", t0)
	po := waitOrders(t, base, "store_id=S002", 1)[0].PONumber
	e.clk.Set(t0.Add(reorder.DefaultWindow))
	until(t, "email sent by smtp", func() error {
		if p := getPO(t, base, po); p.EmailSentVia != "smtp" {
			return fmt.Errorf("%+v", p)
		}
		return nil
	})
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	vendor, _ := newFolder("reorder", catalog.MustLoad(), Config{}, nil, nil).vendor("V001")
	if msgs[0].from != "purchasing@"+reorder.MailDomain || !slices.Equal(msgs[0].rcpt, []string{vendor.Email}) {
		t.Fatalf("envelope %+v", msgs[0])
	}
	m, err := mail.ReadMessage(strings.NewReader(msgs[0].data))
	if err != nil || !strings.Contains(m.Header.Get("Subject"), po) {
		t.Fatalf("message: %v %v", err, m)
	}
	if entries, _ := os.ReadDir(e.spool); len(entries) != 0 {
		t.Fatalf("spooled %d files with SMTP set", len(entries))
	}
	for _, bad := range []string{"http://x:25", "smtp://nohost", "::"} {
		if _, err := ConfigFromEnv(kit.Map(map[string]string{"SMTP_URL": bad})); err == nil {
			t.Errorf("SMTP_URL=%q accepted", bad)
		}
	}
}

// checkRebuild replays the topics into a fresh schema and compares with the live view.
func checkRebuild(t *testing.T, e *env, minOrders int) {
	t.Helper()
	rb := kittest.Build(t, RebuildOptions, e.vars())
	rep, err := Rebuild(context.Background(), rb, e.config())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() || rep.LiveOrders < minOrders || rep.LiveOrders != rep.RebuiltOrders {
		t.Fatalf("rebuild: %d records, %d live orders, %d rebuilt:\n%s", rep.Records, rep.LiveOrders, rep.RebuiltOrders, strings.Join(rep.Shown, "\n"))
	}
}

// smtpServer is a minimal SMTP server on loopback: enough of RFC 5321 for net/smtp.SendMail.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs []smtpMessage
}

type smtpMessage struct {
	from string
	rcpt []string
	data string
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck // a test server
	r := bufio.NewReader(c)
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 test ESMTP")
	var m smtpMessage
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(l, "\r\n")
		up := strings.ToUpper(cmd)
		switch {
		case strings.HasPrefix(up, "EHLO"), strings.HasPrefix(up, "HELO"):
			say("250-test")
			say("250 8BITMIME")
		case strings.HasPrefix(up, "MAIL FROM:"):
			m = smtpMessage{from: strings.Trim(strings.Fields(cmd[10:])[0], "<>")}
			say("250 ok")
		case strings.HasPrefix(up, "RCPT TO:"):
			m.rcpt = append(m.rcpt, strings.Trim(cmd[8:], "<> "))
			say("250 ok")
		case up == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.data = b.String()
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			say("250 queued")
		case up == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}
