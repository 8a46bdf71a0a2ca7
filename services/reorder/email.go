package reorder

import (
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/freshmart/platform/services/catalog"
)

// MailDomain is the domain of the orders' sender address and Message-IDs.
const MailDomain = "freshmart.example"

// Sender is the From address of every order email.
const Sender = "FreshMart Purchasing <purchasing@" + MailDomain + ">"

// Order is what an order email says.
type Order struct {
	Number    string
	Store     catalog.Store
	Vendor    catalog.Vendor
	OpenedAt  time.Time // the order's date, shown in the store's zone
	SentAt    time.Time // the Date header (when the order was sealed)
	Requested time.Time // the requested delivery date (a date; its zone is ignored)
	Lines     []EmailLine
}

// EmailLine is one ordered SKU.
type EmailLine struct {
	SKU           string
	Name          string
	Unit          string
	Qty           int64
	PackSize      int
	UnitCostCents int64
}

// MessageID is the Message-ID of an order's email (without angle brackets): the same for
// every attempt to send it, so a vendor can drop a copy.
func MessageID(po string) string { return strings.ToLower(po) + "@reorder." + MailDomain }

// Message returns o as an RFC 5322 message (CRLF line ends, UTF-8 text body in 8bit): From,
// To (the vendor's address), Date, Message-ID, Subject with the PO number, and a body with the
// lines, the store's delivery address and the requested delivery date.
func Message(o Order) ([]byte, error) {
	if o.Vendor.Email == "" {
		return nil, fmt.Errorf("order %s: vendor %s has no email address", o.Number, o.Vendor.VendorID)
	}
	if len(o.Lines) == 0 {
		return nil, fmt.Errorf("order %s: no lines", o.Number)
	}
	loc, err := o.Store.Location()
	if err != nil {
		return nil, fmt.Errorf("order %s: %w", o.Number, err)
	}
	var b strings.Builder
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", Sender)
	h("To", mime.QEncoding.Encode("utf-8", o.Vendor.Name)+" <"+o.Vendor.Email+">")
	h("Date", o.SentAt.In(loc).Format(time.RFC1123Z))
	h("Message-ID", "<"+MessageID(o.Number)+">")
	h("Subject", mime.QEncoding.Encode("utf-8", fmt.Sprintf("Purchase order %s from %s", o.Number, o.Store.Name)))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	line("Purchase order %s", o.Number)
	line("")
	line("To:       %s (%s)", o.Vendor.Name, o.Vendor.VendorID)
	line("From:     %s (%s)", o.Store.Name, o.Store.StoreID)
	line("Ordered:  %s", o.OpenedAt.In(loc).Format("Monday 2 January 2006, 15:04 MST"))
	line("Deliver by: %s", o.Requested.Format("Monday 2 January 2006"))
	line("")
	line("Deliver to:")
	line("  %s", o.Store.Name)
	line("  %s", o.Store.Address)
	line("  %s, %s %s", o.Store.City, o.Store.State, o.Store.PostalCode)
	line("")
	line("%-10s  %-36s  %8s  %10s  %12s", "SKU", "Product", "Qty", "Unit cost", "Line total")
	var total int64
	for _, l := range o.Lines {
		name := l.Name
		if l.Unit != "" {
			name += " (" + l.Unit + ")"
		}
		if l.PackSize > 1 {
			name += fmt.Sprintf(", %d packs of %d", l.Qty/int64(l.PackSize), l.PackSize)
		}
		line("%-10s  %-36s  %8d  %10s  %12s", l.SKU, name, l.Qty, cents(l.UnitCostCents), cents(l.UnitCostCents*l.Qty))
		total += l.UnitCostCents * l.Qty
	}
	line("%-10s  %-36s  %8s  %10s  %12s", "", "Total", "", "", cents(total))
	line("")
	line("Please quote %s on the delivery note and the invoice.", o.Number)
	line("Questions: purchasing@%s", MailDomain)
	return []byte(b.String()), nil
}

// Recipient is the bare address of the order's vendor (the SMTP envelope's RCPT TO).
func (o Order) Recipient() string { return o.Vendor.Email }

func cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s$%d.%02d", sign, c/100, c%100)
}
