package reorder

import (
	"bytes"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/freshmart/platform/services/catalog"
)

func TestOrderQtyRoundsUpToPacks(t *testing.T) {
	for _, tc := range []struct {
		name          string
		reorder, pack int
		want          int
	}{
		{"whole packs", 96, 12, 96},
		{"rounded up", 100, 12, 108},
		{"no pack size", 7, 0, 7},
		{"pack of one", 7, 1, 7},
		{"no reorder qty: one pack", 0, 6, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OrderQty(catalog.Product{ReorderQty: tc.reorder, PackSize: tc.pack}); got != tc.want {
				t.Fatalf("OrderQty = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestUnitCostAndNumbers(t *testing.T) {
	if got := UnitCost(catalog.Product{PriceCents: 199}); got != 129 { // 129.35
		t.Fatalf("UnitCost(199) = %d", got)
	}
	if got := PONumber("S001", "V003", 7); got != "PO-S001-V003-00007" {
		t.Fatalf("PONumber = %s", got)
	}
	ny, _ := time.LoadLocation("America/New_York")
	// 02:30 UTC on the 2nd is still the 1st in New York: 3 lead days make the 4th.
	got := RequestedDelivery(time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC), ny, 3)
	if got.Format(time.DateOnly) != "2026-12-04" {
		t.Fatalf("RequestedDelivery = %s", got.Format(time.DateOnly))
	}
	open := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if !InWindow(open, open.Add(4*time.Minute+59*time.Second), DefaultWindow) || InWindow(open, open.Add(5*time.Minute), DefaultWindow) {
		t.Fatal("the window is [opened, opened+5m)")
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []Line
		want  string
	}{
		{"nothing", []Line{{Qty: 12}, {Qty: 6}}, StatusOpen},
		{"some", []Line{{Qty: 12, Received: 12}, {Qty: 6}}, StatusPartlyReceived},
		{"all", []Line{{Qty: 12, Received: 12}, {Qty: 6, Received: 7}}, StatusReceived},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Status(tc.lines); got != tc.want {
				t.Fatalf("Status = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestReceive(t *testing.T) {
	lines := []Line{{SKU: "PRD-0001", Qty: 24}, {SKU: "PRD-0002", Qty: 12}}
	got, diffs := Receive(lines, []Qty{{"PRD-0001", 12}}, DefaultTolerance)
	if len(diffs) != 0 || got[0].Received != 12 || lines[0].Received != 0 {
		t.Fatalf("partial delivery: %+v %+v (input changed: %v)", got, diffs, lines[0].Received != 0)
	}
	got, diffs = Receive(got, []Qty{{"PRD-0001", 24}, {"PRD-0009", 3}}, DefaultTolerance)
	if len(diffs) != 2 || diffs[0].Reason != ReasonNotOrdered || diffs[1].Reason != ReasonOver || diffs[1].Received != 36 || got[0].Received != 36 {
		t.Fatalf("over and not ordered: %+v", diffs)
	}
	if _, diffs := Receive(lines, []Qty{{"PRD-0001", 25}}, Tolerance{Qty: 1}); len(diffs) != 0 {
		t.Fatalf("one over with a tolerance of one: %+v", diffs)
	}
}

func TestMatch(t *testing.T) {
	po := func(recv1, recv2 int64) []Line {
		return []Line{{SKU: "PRD-0001", Qty: 24, UnitCostCents: 100, Received: recv1}, {SKU: "PRD-0002", Qty: 12, UnitCostCents: 250, Received: recv2}}
	}
	inv := func(q1 int64, c1 int64) Invoice {
		return Invoice{Lines: []InvoiceLine{{"PRD-0001", q1, c1}, {"PRD-0002", 12, 250}}}
	}
	for _, tc := range []struct {
		name   string
		lines  []Line
		inv    Invoice
		tol    Tolerance
		reason string
	}{
		{"full", po(24, 12), inv(24, 100), DefaultTolerance, ""},
		{"price within 2%", po(24, 12), inv(24, 102), DefaultTolerance, ""},
		{"price above 2%", po(24, 12), inv(24, 103), DefaultTolerance, ReasonPrice},
		{"price below 2%", po(24, 12), inv(24, 97), DefaultTolerance, ReasonPrice},
		{"short", po(20, 12), inv(20, 100), DefaultTolerance, ReasonShort},
		{"short within tolerance", po(23, 12), inv(23, 100), Tolerance{Price: 0.02, Qty: 1}, ""},
		{"over", po(30, 12), inv(24, 100), DefaultTolerance, ReasonOver},
		{"invoice above received", po(24, 12), inv(25, 100), DefaultTolerance, ReasonAboveReceived},
		{"not ordered", po(24, 12), Invoice{Lines: []InvoiceLine{{"PRD-0001", 24, 100}, {"PRD-0002", 12, 250}, {"PRD-0003", 1, 5}}}, DefaultTolerance, ReasonNotOrdered},
		{"invoiced before", []Line{{SKU: "PRD-0001", Qty: 24, UnitCostCents: 100, Received: 24, Invoiced: 24}}, Invoice{Lines: []InvoiceLine{{"PRD-0001", 1, 100}}}, DefaultTolerance, ReasonAboveReceived},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diffs := Match(tc.lines, tc.inv, tc.tol)
			if got := Reason(diffs); got != tc.reason {
				t.Fatalf("Match = %+v (reason %q), want reason %q", diffs, got, tc.reason)
			}
		})
	}
	d := Match(po(24, 12), inv(24, 110), DefaultTolerance)
	if len(d) != 1 || d[0].SKU != "PRD-0001" || *d[0].POUnitCost != 100 || *d[0].InvCost != 110 || *d[0].Invoiced != 24 {
		t.Fatalf("mispriced line: %+v", d)
	}
	if got := Apply(po(24, 12), inv(24, 100)); got[0].Invoiced != 24 || got[1].Invoiced != 12 {
		t.Fatalf("Apply = %+v", got)
	}
}

func TestMessageIsRFC5322(t *testing.T) {
	cat := catalog.MustLoad()
	st, _ := cat.Store("S001")
	var vendor catalog.Vendor
	for _, v := range cat.Vendors() {
		if v.VendorID == "V001" {
			vendor = v
		}
	}
	opened := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	loc, _ := st.Location()
	o := Order{Number: "PO-S001-V001-00001", Store: st, Vendor: vendor, OpenedAt: opened, SentAt: opened.Add(DefaultWindow),
		Requested: RequestedDelivery(opened, loc, vendor.LeadDays),
		Lines:     []EmailLine{{SKU: "PRD-0001", Name: "Bananas", Unit: "kg pack", Qty: 96, PackSize: 12, UnitCostCents: 129}}}
	raw, err := Message(o)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("a bare LF in the message")
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != vendor.Email {
		t.Fatalf("To = %v, %v", to, err)
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(opened.Add(DefaultWindow)) {
		t.Fatalf("Date = %v, %v", d, err)
	}
	if m.Header.Get("Message-ID") != "<po-s001-v001-00001@reorder.freshmart.example>" || !strings.Contains(m.Header.Get("Subject"), o.Number) {
		t.Fatalf("headers %v", m.Header)
	}
	body, _ := io.ReadAll(m.Body)
	for _, want := range []string{"PRD-0001", "Bananas", " 96 ", "8 packs of 12", st.Address, st.PostalCode, st.City,
		"Deliver by: Friday 4 December 2026", "$123.84"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}
