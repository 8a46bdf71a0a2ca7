// Package pos is the domain of the POS (store edge) service: it turns the bodies posted by the
// checkout lanes, the dock scanner and the warehouse scanner into the events sale.completed,
// sale.voided, delivery.received and stock.counted, checking every field against the reference
// catalog and naming each field that is wrong. A void's id is derived from its sale's (VoidID),
// and its voided_at is bounded by the sale's occurred_at and the POS's clock (DecodeVoid,
// CheckVoidAgainstSale).
//
// The package has no broker or database imports. The Decode functions return the shared event
// payloads of package schemas, and report bad input in the error vocabulary of
// internal/httpx (httpx.ErrMalformed, *httpx.FieldErrors), so the service in
// services/pos/app answers every failure with httpx.Error and produces the resulting events.
package pos

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
)

// Limits on what a single request may contain.
const (
	// MaxLines is the most lines a basket, delivery or count may have.
	MaxLines = 500
	// MaxQty is the largest quantity of one line.
	MaxQty = 100_000
	// MaxUnitPriceCents is the largest unit price accepted (one million dollars).
	MaxUnitPriceCents = 100_000_000
	// maxText is the longest free-text field (register, reason, loyalty id, PO number).
	maxText = 64
)

// Catalog is what validation needs to know about the reference data.
type Catalog interface {
	// HasStore reports whether the store id exists.
	HasStore(id string) bool
	// HasProduct reports whether the SKU exists.
	HasProduct(sku string) bool
	// HasVendor reports whether the vendor id exists.
	HasVendor(id string) bool
}

// The request bodies use pointers so that a missing field can be told from a zero one.
type saleBody struct {
	SaleID     *string `json:"sale_id"`
	StoreID    *string `json:"store_id"`
	Register   *string `json:"register"`
	OccurredAt *string `json:"occurred_at"`
	Lines      *[]struct {
		SKU            *string `json:"sku"`
		Qty            *int64  `json:"qty"`
		UnitPriceCents *int64  `json:"unit_price_cents"`
	} `json:"lines"`
	TotalCents *int64  `json:"total_cents"`
	LoyaltyID  *string `json:"loyalty_id"`
	Payment    *struct {
		Method      *string `json:"method"`
		AmountCents *int64  `json:"amount_cents"`
	} `json:"payment"`
}

type qtyLinesBody = *[]struct {
	SKU *string `json:"sku"`
	Qty *int64  `json:"qty"`
}

type deliveryBody struct {
	DeliveryID *string      `json:"delivery_id"`
	StoreID    *string      `json:"store_id"`
	VendorID   *string      `json:"vendor_id"`
	PONumber   *string      `json:"po_number"`
	ReceivedAt *string      `json:"received_at"`
	Lines      qtyLinesBody `json:"lines"`
}

type countBody struct {
	CountID   *string      `json:"count_id"`
	StoreID   *string      `json:"store_id"`
	CountedAt *string      `json:"counted_at"`
	Lines     qtyLinesBody `json:"lines"`
}

// checker collects field errors.
type checker struct{ errs httpx.FieldErrors }

func (c *checker) add(field, format string, args ...any) { c.errs.Add(field, format, args...) }

func (c *checker) err() error { return c.errs.Err() }

func (c *checker) uuid(field string, v *string) string {
	if v == nil {
		c.add(field, "is required")
		return ""
	}
	u, err := uuid.Parse(*v)
	if err != nil || len(*v) != 36 {
		c.add(field, "must be a UUID like \"2f1c6a8e-5b7d-4c1e-9a3f-0d2b4e6f8a10\"")
		return ""
	}
	return u.String()
}

func (c *checker) store(cat Catalog, v *string) string {
	switch {
	case v == nil:
		c.add("store_id", "is required")
	case !cat.HasStore(*v):
		c.add("store_id", "unknown store %q", *v)
	default:
		return *v
	}
	return ""
}

func (c *checker) time(field string, v *string) time.Time {
	if v == nil {
		c.add(field, "is required")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		c.add(field, "must be an RFC 3339 time like \"2026-11-22T09:30:00Z\"")
		return time.Time{}
	}
	if t.Year() < 2000 || t.Year() > 2100 {
		c.add(field, "year %d is out of range", t.Year())
	}
	return t.UTC()
}

func (c *checker) text(field string, v *string, required bool) string {
	switch {
	case v == nil && required:
		c.add(field, "is required")
	case v == nil:
	case strings.TrimSpace(*v) == "":
		c.add(field, "must not be blank")
	case len(*v) > maxText:
		c.add(field, "must be at most %d bytes", maxText)
	default:
		return *v
	}
	return ""
}

func (c *checker) sku(cat Catalog, field string, v *string) string {
	switch {
	case v == nil:
		c.add(field, "is required")
	case !cat.HasProduct(*v):
		c.add(field, "unknown SKU %q", *v)
	default:
		return *v
	}
	return ""
}

func (c *checker) qty(field string, v *int64, min int64) int64 {
	switch {
	case v == nil:
		c.add(field, "is required")
	case *v < min:
		c.add(field, "must be >= %d", min)
	case *v > MaxQty:
		c.add(field, "must be <= %d", MaxQty)
	default:
		return *v
	}
	return 0
}

func (c *checker) lineCount(n int) {
	switch {
	case n == 0:
		c.add("lines", "must have at least one line")
	case n > MaxLines:
		c.add("lines", "must have at most %d lines", MaxLines)
	}
}

func (c *checker) qtyLines(cat Catalog, lines qtyLinesBody, minQty int64) []schemas.QtyLine {
	if lines == nil {
		c.add("lines", "is required")
		return nil
	}
	c.lineCount(len(*lines))
	out := make([]schemas.QtyLine, 0, len(*lines))
	for i, l := range *lines {
		p := fmt.Sprintf("lines[%d]", i)
		out = append(out, schemas.QtyLine{
			SKU: c.sku(cat, p+".sku", l.SKU),
			Qty: c.qty(p+".qty", l.Qty, minQty),
		})
	}
	return out
}

// DecodeSale decodes and validates a POST /v1/sales body. It returns httpx.ErrMalformed
// (wrapped) or an *httpx.FieldErrors listing every bad field. The total is computed from the lines; a
// total_cents sent along must equal it (so a sale.completed payload can be posted as it is). A
// missing payment amount defaults to the total.
func DecodeSale(body []byte, cat Catalog) (schemas.SaleCompleted, error) {
	var b saleBody
	if err := httpx.Decode(body, &b); err != nil {
		return schemas.SaleCompleted{}, err
	}
	var c checker
	s := schemas.SaleCompleted{
		SaleID:     c.uuid("sale_id", b.SaleID),
		StoreID:    c.store(cat, b.StoreID),
		Register:   c.text("register", b.Register, true),
		OccurredAt: c.time("occurred_at", b.OccurredAt),
		LoyaltyID:  c.text("loyalty_id", b.LoyaltyID, false),
	}
	if b.Lines == nil {
		c.add("lines", "is required")
	} else {
		c.lineCount(len(*b.Lines))
		for i, l := range *b.Lines {
			p := fmt.Sprintf("lines[%d]", i)
			line := schemas.SaleLine{SKU: c.sku(cat, p+".sku", l.SKU), Qty: c.qty(p+".qty", l.Qty, 1)}
			switch {
			case l.UnitPriceCents == nil:
				c.add(p+".unit_price_cents", "is required")
			case *l.UnitPriceCents < 0:
				c.add(p+".unit_price_cents", "must be >= 0")
			case *l.UnitPriceCents > MaxUnitPriceCents:
				c.add(p+".unit_price_cents", "must be <= %d", MaxUnitPriceCents)
			default:
				line.UnitPriceCents = *l.UnitPriceCents
			}
			s.Lines = append(s.Lines, line)
			s.TotalCents += line.Qty * line.UnitPriceCents
		}
	}
	if b.TotalCents != nil && len(c.errs) == 0 && *b.TotalCents != s.TotalCents {
		c.add("total_cents", "is %d but the lines add up to %d", *b.TotalCents, s.TotalCents)
	}
	if b.Payment == nil {
		c.add("payment", "is required")
	} else {
		switch m := b.Payment.Method; {
		case m == nil:
			c.add("payment.method", "is required")
		case *m != "card" && *m != "cash" && *m != "mobile":
			c.add("payment.method", "must be one of card, cash, mobile; got %q", *m)
		default:
			s.Payment.Method = *m
		}
		switch a := b.Payment.AmountCents; {
		case a == nil:
			s.Payment.AmountCents = s.TotalCents
		case *a < 0:
			c.add("payment.amount_cents", "must be >= 0")
		default:
			s.Payment.AmountCents = *a
		}
	}
	if err := c.err(); err != nil {
		return schemas.SaleCompleted{}, err
	}
	return s, nil
}

// DecodeDelivery decodes and validates a POST /v1/deliveries body (errors as DecodeSale).
func DecodeDelivery(body []byte, cat Catalog) (schemas.DeliveryReceived, error) {
	var b deliveryBody
	if err := httpx.Decode(body, &b); err != nil {
		return schemas.DeliveryReceived{}, err
	}
	var c checker
	d := schemas.DeliveryReceived{
		DeliveryID: c.uuid("delivery_id", b.DeliveryID),
		StoreID:    c.store(cat, b.StoreID),
		PONumber:   c.text("po_number", b.PONumber, false),
		ReceivedAt: c.time("received_at", b.ReceivedAt),
	}
	switch {
	case b.VendorID == nil:
		c.add("vendor_id", "is required")
	case !cat.HasVendor(*b.VendorID):
		c.add("vendor_id", "unknown vendor %q", *b.VendorID)
	default:
		d.VendorID = *b.VendorID
	}
	d.Lines = c.qtyLines(cat, b.Lines, 1)
	if err := c.err(); err != nil {
		return schemas.DeliveryReceived{}, err
	}
	return d, nil
}

// DecodeStockCount decodes and validates a POST /v1/stock-counts body (errors as DecodeSale).
// Counted quantities may be zero.
func DecodeStockCount(body []byte, cat Catalog) (schemas.StockCounted, error) {
	var b countBody
	if err := httpx.Decode(body, &b); err != nil {
		return schemas.StockCounted{}, err
	}
	var c checker
	s := schemas.StockCounted{
		CountID:   c.uuid("count_id", b.CountID),
		StoreID:   c.store(cat, b.StoreID),
		CountedAt: c.time("counted_at", b.CountedAt),
	}
	s.Lines = c.qtyLines(cat, b.Lines, 0)
	if err := c.err(); err != nil {
		return schemas.StockCounted{}, err
	}
	return s, nil
}
