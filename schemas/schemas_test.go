package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTypesCompile(t *testing.T) {
	if err := Err(); err != nil {
		t.Fatalf("schemas do not compile: %v", err)
	}
	types := Types()
	for _, want := range []string{
		"sale.completed", "sale.voided", "delivery.received", "stock.counted", "stock.adjusted",
		"stock.level", "alert.low_stock", "alert.restocked", "alert.complaint_spike",
		"alert.delivery_mismatch", "stock.badge", "price.changed", "promo.started", "promo.ended",
		"complaint.filed", "report.daily_sales", "alert.complaint_spike_updated",
		"alert.complaint_spike_resolved", "alert.complaint_chain_spike",
		"po.cancelled", "invoice.received",
		"loyalty.redeemed",
	} {
		if !Known(want) {
			t.Errorf("no schema for %s (have %v)", want, types)
		}
		raw, err := Raw(want)
		if err != nil || !json.Valid(raw) {
			t.Errorf("Raw(%s) = %d bytes, %v", want, len(raw), err)
		}
	}
}

func TestValidExamples(t *testing.T) {
	for _, typ := range Types() {
		t.Run(typ, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "valid", typ+".json"))
			if err != nil {
				t.Fatalf("every type needs a valid example: %v", err)
			}
			if err := Validate(typ, raw); err != nil {
				t.Fatalf("valid example rejected: %v", err)
			}
		})
	}
}

func TestInvalidExamples(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no invalid examples: %v", err)
	}
	covered := map[string]bool{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		typ := name[:strings.LastIndexByte(name, '.')]
		covered[typ] = true
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var tc struct {
				Field   string          `json:"field"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(raw, &tc); err != nil {
				t.Fatalf("bad test file: %v", err)
			}
			err = Validate(typ, tc.Payload)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want *ValidationError", err)
			}
			found := false
			for _, f := range ve.Fields {
				if f.Field == tc.Field {
					found = true
					if f.Message == "" {
						t.Errorf("field %s has no message", f.Field)
					}
				}
			}
			if !found {
				t.Fatalf("want an error on %q, got %v", tc.Field, ve.Fields)
			}
		})
	}
	for _, typ := range Types() {
		if !covered[typ] {
			t.Errorf("no invalid example for %s", typ)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		value   string
		wantErr error
	}{
		{name: "unknown type", typ: "sale.teleported", value: `{}`, wantErr: ErrUnknownType},
		{name: "not json", typ: "sale.completed", value: `{"sale_id":`, wantErr: ErrSyntax},
		{name: "empty", typ: "sale.completed", value: ``, wantErr: ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.typ, []byte(tt.value))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Validate = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestValidationErrorListsAllFields(t *testing.T) {
	err := Validate("sale.completed", []byte(`{"sale_id":"x","store_id":"S001","lines":[{"sku":"PRD-0001","qty":0}]}`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v", err)
	}
	got := map[string]bool{}
	for _, f := range ve.Fields {
		got[f.Field] = true
	}
	for _, want := range []string{"sale_id", "register", "occurred_at", "total_cents", "payment", "lines[0].qty", "lines[0].unit_price_cents"} {
		if !got[want] {
			t.Errorf("missing error for %s in %v", want, ve.Fields)
		}
	}
	if !strings.Contains(ve.Error(), "lines[0].qty") {
		t.Errorf("Error() = %q does not name the field", ve.Error())
	}
}

func TestFieldPath(t *testing.T) {
	tests := []struct {
		tokens []string
		want   string
	}{
		{nil, ""},
		{[]string{"sale_id"}, "sale_id"},
		{[]string{"lines", "2", "sku"}, "lines[2].sku"},
		{[]string{"payment", "method"}, "payment.method"},
	}
	for _, tt := range tests {
		if got := FieldPath(tt.tokens); got != tt.want {
			t.Errorf("FieldPath(%q) = %q, want %q", tt.tokens, got, tt.want)
		}
	}
}

func FuzzValidate(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.json"))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSuffix(filepath.Base(p), ".json"), raw)
	}
	f.Add("sale.completed", []byte(`{"lines":[{"qty":1e400}]}`))
	f.Add("nope", []byte(`[]`))
	f.Fuzz(func(t *testing.T, typ string, value []byte) {
		err := Validate(typ, value)
		if err == nil {
			if !Known(typ) || !json.Valid(value) {
				t.Fatalf("accepted %q for type %q", value, typ)
			}
			return
		}
		var ve *ValidationError
		if errors.As(err, &ve) && len(ve.Fields) == 0 {
			t.Fatalf("validation error without fields: %v", err)
		}
	})
}

func BenchmarkValidateSale(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "valid", "sale.completed.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := Validate("sale.completed", raw); err != nil {
			b.Fatal(err)
		}
	}
}
