package pos

import (
	"errors"
	"strings"
	"testing"

	"github.com/freshmart/platform/internal/httpx"
)

type fakeCatalog struct{}

func (fakeCatalog) HasStore(id string) bool    { return id == "S001" || id == "S002" }
func (fakeCatalog) HasProduct(sku string) bool { return sku == "PRD-0001" || sku == "PRD-0002" }
func (fakeCatalog) HasVendor(id string) bool   { return id == "V001" }

const goodSale = `{"sale_id":"2f1c6a8e-5b7d-4c1e-9a3f-0d2b4e6f8a10","store_id":"S001","register":"R01",
"occurred_at":"2026-11-22T09:30:00-05:00","lines":[{"sku":"PRD-0001","qty":2,"unit_price_cents":199},
{"sku":"PRD-0002","qty":1,"unit_price_cents":350}],"payment":{"method":"card"}}`

func TestDecodeSaleValid(t *testing.T) {
	s, err := DecodeSale([]byte(goodSale), fakeCatalog{})
	if err != nil {
		t.Fatal(err)
	}
	if s.TotalCents != 748 || s.Payment.AmountCents != 748 {
		t.Fatalf("total %d amount %d, want 748 748", s.TotalCents, s.Payment.AmountCents)
	}
	withTotal := strings.Replace(goodSale, `"register":"R01"`, `"register":"R01","total_cents":748`, 1)
	if _, err := DecodeSale([]byte(withTotal), fakeCatalog{}); err != nil {
		t.Fatalf("sale with its correct total_cents: %v", err)
	}
	if s.OccurredAt.Location().String() != "UTC" || s.OccurredAt.Hour() != 14 {
		t.Fatalf("occurred_at not normalised to UTC: %v", s.OccurredAt)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name      string
		decode    func([]byte, Catalog) error
		body      string
		malformed bool
		fields    []string
	}{
		{"sale: empty", sale, ``, true, nil},
		{"sale: syntax", sale, `{"sale_id":`, true, nil},
		{"sale: array", sale, `[]`, true, nil},
		{"sale: trailing", sale, goodSale + `{}`, true, nil},
		{"sale: nothing", sale, `{}`, false, []string{"sale_id", "store_id", "register", "occurred_at", "lines", "payment"}},
		{"sale: bad values", sale, `{"sale_id":"x","store_id":"S999","register":" ","occurred_at":"yesterday",
			"lines":[{"sku":"NOPE","qty":0,"unit_price_cents":-1},{"qty":1}],"payment":{"method":"iou","amount_cents":-5}}`, false,
			[]string{"sale_id", "store_id", "register", "occurred_at", "lines[0].sku", "lines[0].qty", "lines[0].unit_price_cents",
				"lines[1].sku", "lines[1].unit_price_cents", "payment.method", "payment.amount_cents"}},
		{"sale: wrong type", sale, `{"sale_id":"2f1c6a8e-5b7d-4c1e-9a3f-0d2b4e6f8a10","lines":[{"qty":"two"}]}`, false, []string{"lines.qty"}},
		{"sale: unknown field", sale, strings.Replace(goodSale, `"register":"R01"`, `"register":"R01","lane":"R01"`, 1), false, []string{"lane"}},
		{"sale: total disagrees", sale, strings.Replace(goodSale, `"register":"R01"`, `"register":"R01","total_cents":747`, 1), false, []string{"total_cents"}},
		{"sale: no lines", sale, strings.Replace(goodSale, `[{"sku":"PRD-0001","qty":2,"unit_price_cents":199},
{"sku":"PRD-0002","qty":1,"unit_price_cents":350}]`, `[]`, 1), false, []string{"lines"}},
		{"delivery: bad", delivery, `{"delivery_id":"2f1c6a8e-5b7d-4c1e-9a3f-0d2b4e6f8a10","store_id":"S001","vendor_id":"V9",
			"received_at":"2026-11-22T09:30:00Z","lines":[{"sku":"PRD-0001","qty":0}]}`, false, []string{"vendor_id", "lines[0].qty"}},
		{"count: negative", count, `{"count_id":"2f1c6a8e-5b7d-4c1e-9a3f-0d2b4e6f8a10","store_id":"S001",
			"counted_at":"2026-11-22T09:30:00Z","lines":[{"sku":"PRD-0001","qty":-1},{"sku":"PRD-0002","qty":0}]}`, false, []string{"lines[0].qty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode([]byte(tc.body), fakeCatalog{})
			if tc.malformed {
				if !errors.Is(err, httpx.ErrMalformed) {
					t.Fatalf("err = %v, want httpx.ErrMalformed", err)
				}
				return
			}
			var inv *httpx.FieldErrors
			if !errors.As(err, &inv) {
				t.Fatalf("err = %v, want *httpx.FieldErrors", err)
			}
			var got []string
			for _, f := range *inv {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v", got, tc.fields)
			}
		})
	}
}

func sale(b []byte, c Catalog) error     { _, err := DecodeSale(b, c); return err }
func delivery(b []byte, c Catalog) error { _, err := DecodeDelivery(b, c); return err }
func count(b []byte, c Catalog) error    { _, err := DecodeStockCount(b, c); return err }
func void(b []byte, _ Catalog) error     { _, err := DecodeVoid(saleID, b, now); return err }

// FuzzDecode feeds arbitrary bodies to every decoder: each must either succeed or return one of
// the two documented error kinds, never panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(goodSale))
	f.Add([]byte(`{"delivery_id":"2f1c6a8e-5b7d-4c1e-9a3f-0d2b4e6f8a10","lines":[{"sku":"PRD-0001","qty":3}]}`))
	f.Add([]byte(`{"count_id":null,"lines":null}`))
	f.Add([]byte(`[1,2`))
	f.Add([]byte(`{"reason":"x","voided_at":"2026-11-22T09:35:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, d := range []func([]byte, Catalog) error{sale, delivery, count, void} {
			err := d(body, fakeCatalog{})
			var inv *httpx.FieldErrors
			if err != nil && !errors.Is(err, httpx.ErrMalformed) && !errors.As(err, &inv) {
				t.Fatalf("unexpected error kind %T: %v", err, err)
			}
			if inv != nil && len(*inv) == 0 {
				t.Fatal("FieldErrors without fields")
			}
		}
	})
}
