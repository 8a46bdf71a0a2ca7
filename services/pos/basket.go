// Package pos is the domain of the POS (store edge) service: it turns the bodies posted by the
// checkout lanes, the dock scanner and the warehouse scanner into the events sale.completed,
// delivery.received and stock.counted, checking every field against the reference catalog and
// naming each field that is wrong.
//
// The package is pure: no broker, database or HTTP imports. The service in services/pos/app
// decodes requests with the Decode functions, answers problem+json with the returned field
// errors, and produces the resulting events.
package pos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
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

// FieldError names one invalid field with a JSON-path-like location ("lines[2].sku").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ErrMalformed is returned (wrapped) when a body is not one JSON object: syntax errors, trailing
// data, an empty body. The caller answers 400.
var ErrMalformed = errors.New("malformed JSON")

// InvalidError is returned when a body is well-formed JSON but some fields are wrong. The caller
// answers 422 listing Fields.
type InvalidError struct {
	Fields []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid fields: " + strings.Join(parts, "; ")
}

// Line is one line of a basket.
type Line struct {
	SKU            string `json:"sku"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// Payment is how a basket was paid.
type Payment struct {
	Method      string `json:"method"`
	AmountCents int64  `json:"amount_cents"`
}

// Sale is the sale.completed event.
type Sale struct {
	SaleID     string    `json:"sale_id"`
	StoreID    string    `json:"store_id"`
	Register   string    `json:"register"`
	OccurredAt time.Time `json:"occurred_at"`
	Lines      []Line    `json:"lines"`
	TotalCents int64     `json:"total_cents"`
	LoyaltyID  string    `json:"loyalty_id,omitempty"`
	Payment    Payment   `json:"payment"`
}

// QtyLine is one line of a delivery or a count.
type QtyLine struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// Delivery is the delivery.received event.
type Delivery struct {
	DeliveryID string    `json:"delivery_id"`
	StoreID    string    `json:"store_id"`
	VendorID   string    `json:"vendor_id"`
	PONumber   string    `json:"po_number,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	Lines      []QtyLine `json:"lines"`
}

// StockCount is the stock.counted event.
type StockCount struct {
	CountID   string    `json:"count_id"`
	StoreID   string    `json:"store_id"`
	CountedAt time.Time `json:"counted_at"`
	Lines     []QtyLine `json:"lines"`
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
	LoyaltyID *string `json:"loyalty_id"`
	Payment   *struct {
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
type checker struct{ errs []FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &InvalidError{Fields: c.errs}
}

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

func (c *checker) qtyLines(cat Catalog, lines qtyLinesBody, minQty int64) []QtyLine {
	if lines == nil {
		c.add("lines", "is required")
		return nil
	}
	c.lineCount(len(*lines))
	out := make([]QtyLine, 0, len(*lines))
	for i, l := range *lines {
		p := fmt.Sprintf("lines[%d]", i)
		out = append(out, QtyLine{
			SKU: c.sku(cat, p+".sku", l.SKU),
			Qty: c.qty(p+".qty", l.Qty, minQty),
		})
	}
	return out
}

// decode reads exactly one JSON object into v. Syntax errors are ErrMalformed; a value of the
// wrong type is a field error.
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				return fmt.Errorf("%w: body must be a JSON object, not %s", ErrMalformed, te.Value)
			}
			return &InvalidError{Fields: []FieldError{{Field: field, Message: "must be " + jsonKind(te.Type.Kind().String()) + ", not " + te.Value}}}
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body", ErrMalformed)
		}
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: unexpected data after the JSON object", ErrMalformed)
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int64", "int", "float64":
		return "an integer"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	}
	return "a " + goKind
}

// DecodeSale decodes and validates a POST /v1/sales body. It returns ErrMalformed (wrapped) or
// an *InvalidError listing every bad field. The total is computed from the lines; a missing
// payment amount defaults to the total.
func DecodeSale(body []byte, cat Catalog) (Sale, error) {
	var b saleBody
	if err := decode(body, &b); err != nil {
		return Sale{}, err
	}
	var c checker
	s := Sale{
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
			line := Line{SKU: c.sku(cat, p+".sku", l.SKU), Qty: c.qty(p+".qty", l.Qty, 1)}
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
		return Sale{}, err
	}
	return s, nil
}

// DecodeDelivery decodes and validates a POST /v1/deliveries body (errors as DecodeSale).
func DecodeDelivery(body []byte, cat Catalog) (Delivery, error) {
	var b deliveryBody
	if err := decode(body, &b); err != nil {
		return Delivery{}, err
	}
	var c checker
	d := Delivery{
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
		return Delivery{}, err
	}
	return d, nil
}

// DecodeStockCount decodes and validates a POST /v1/stock-counts body (errors as DecodeSale).
// Counted quantities may be zero.
func DecodeStockCount(body []byte, cat Catalog) (StockCount, error) {
	var b countBody
	if err := decode(body, &b); err != nil {
		return StockCount{}, err
	}
	var c checker
	s := StockCount{
		CountID:   c.uuid("count_id", b.CountID),
		StoreID:   c.store(cat, b.StoreID),
		CountedAt: c.time("counted_at", b.CountedAt),
	}
	s.Lines = c.qtyLines(cat, b.Lines, 0)
	if err := c.err(); err != nil {
		return StockCount{}, err
	}
	return s, nil
}
