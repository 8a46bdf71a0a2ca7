package pos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
)

const saleID = "2f1c6a8e-5b7d-4c1e-9a3f-0d2b4e6f8a10"

var now = time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)

func TestDecodeVoid(t *testing.T) {
	v, err := DecodeVoid(saleID, []byte(`{"reason":"customer changed mind","voided_at":"2026-11-22T09:35:00-05:00"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if v.SaleID != saleID || v.Reason != "customer changed mind" || !v.VoidedAt.Equal(now.Add(-25*time.Minute)) || v.VoidedAt.Location() != time.UTC {
		t.Fatalf("decoded %+v", v)
	}
	// Exactly at the bound, and a reason of 500 characters (not bytes) are accepted.
	at := now.Add(MaxVoidAhead).Format(time.RFC3339Nano)
	if _, err := DecodeVoid(saleID, []byte(`{"reason":"`+strings.Repeat("é", MaxReasonChars)+`","voided_at":"`+at+`"}`), now); err != nil {
		t.Fatalf("void at now+%s with a %d-character reason: %v", MaxVoidAhead, MaxReasonChars, err)
	}
	// What is accepted is a valid sale.voided once the store is filled in.
	v.StoreID = "S001"
	b, _ := json.Marshal(v)
	if err := schemas.Validate(schemas.TypeSaleVoided, b); err != nil {
		t.Fatalf("decoded void is not a valid sale.voided: %v", err)
	}
}

func TestDecodeVoidErrors(t *testing.T) {
	ahead := now.Add(MaxVoidAhead + time.Second).Format(time.RFC3339)
	tests := []struct {
		name, sale, body string
		malformed        bool
		fields           []string
	}{
		{"empty", saleID, ``, true, nil},
		{"array", saleID, `[]`, true, nil},
		{"nothing", saleID, `{}`, false, []string{"voided_at", "reason"}},
		{"bad sale id", "sale-1", `{"reason":"x","voided_at":"2026-11-22T09:35:00Z"}`, false, []string{"sale_id"}},
		{"blank reason, bad time", saleID, `{"reason":"  ","voided_at":"yesterday"}`, false, []string{"voided_at", "reason"}},
		{"long reason", saleID, `{"reason":"` + strings.Repeat("x", MaxReasonChars+1) + `","voided_at":"2026-11-22T09:35:00Z"}`, false, []string{"reason"}},
		{"in the future", saleID, `{"reason":"x","voided_at":"` + ahead + `"}`, false, []string{"voided_at"}},
		{"unknown field", saleID, `{"reason":"x","voided_at":"2026-11-22T09:35:00Z","void_id":"` + uuid.NewString() + `"}`, false, []string{"void_id"}},
		{"wrong type", saleID, `{"reason":7,"voided_at":"2026-11-22T09:35:00Z"}`, false, []string{"reason"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeVoid(tc.sale, []byte(tc.body), now)
			checkErr(t, err, tc.malformed, tc.fields)
		})
	}
}

func TestCheckVoidAgainstSale(t *testing.T) {
	v := schemas.SaleVoided{SaleID: saleID, StoreID: "S001", VoidedAt: now, Reason: "x"}
	for _, tc := range []struct {
		name     string
		occurred time.Time
		ok       bool
	}{
		{"after the sale", now.Add(-time.Hour), true},
		{"at the sale's time", now, true},
		{"sale time unknown", time.Time{}, true},
		{"before the sale", now.Add(time.Second), false},
	} {
		err := CheckVoidAgainstSale(v, tc.occurred)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok {
			checkErr(t, err, false, []string{"voided_at"})
		}
	}
}

func TestVoidID(t *testing.T) {
	a, b := VoidID(saleID), VoidID(uuid.NewString())
	if a != VoidID(saleID) || a == b || a == saleID {
		t.Fatalf("VoidID: %s, %s", a, b)
	}
	if u, err := uuid.Parse(a); err != nil || u.Version() != 5 {
		t.Fatalf("VoidID %s is not a v5 UUID: %v", a, err)
	}
}

func checkErr(t *testing.T, err error, malformed bool, fields []string) {
	t.Helper()
	if malformed {
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
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Fatalf("fields %v, want %v", got, fields)
	}
}
