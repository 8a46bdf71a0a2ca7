package pos

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
)

// Limits of a void.
const (
	// MaxVoidAhead is how far past the POS's clock a void's voided_at may be (a register's
	// clock running a little fast).
	MaxVoidAhead = 5 * time.Minute
	// MaxReasonChars is the longest void reason, in characters (the schema's maxLength).
	MaxReasonChars = 500
)

// voidSpace namespaces the void ids derived from sale ids (uuid v5).
var voidSpace = uuid.MustParse("9b3e6f1c-2d47-4a8e-b5c0-71e4d2a9f603")

// VoidID is the id (ce_id) of the void of sale saleID: derived from the sale id, so a retried
// void, on any POS instance, is the same event, and a sale has exactly one void. (sale.voided
// has no void id of its own: a sale is voided at most once.)
func VoidID(saleID string) string {
	return uuid.NewSHA1(voidSpace, []byte(saleID)).String()
}

type voidBody struct {
	Reason   *string `json:"reason"`
	VoidedAt *string `json:"voided_at"`
}

// DecodeVoid decodes and validates a POST /v1/sales/{sale_id}/void body for the sale in the
// path (errors as DecodeSale; the path's sale_id is reported as the field "sale_id"). now is
// the POS's clock: voided_at may be at most MaxVoidAhead past it. The store is not in the body:
// the caller fills in StoreID from the accepted sale and checks the void against it
// (CheckVoidAgainstSale).
func DecodeVoid(saleID string, body []byte, now time.Time) (schemas.SaleVoided, error) {
	var b voidBody
	if err := httpx.Decode(body, &b); err != nil {
		return schemas.SaleVoided{}, err
	}
	var c checker
	v := schemas.SaleVoided{SaleID: c.uuid("sale_id", &saleID), VoidedAt: c.time("voided_at", b.VoidedAt)}
	switch r := b.Reason; {
	case r == nil:
		c.add("reason", "is required")
	case strings.TrimSpace(*r) == "":
		c.add("reason", "must not be blank")
	case utf8.RuneCountInString(*r) > MaxReasonChars:
		c.add("reason", "must be at most %d characters", MaxReasonChars)
	default:
		v.Reason = *r
	}
	if !v.VoidedAt.IsZero() && v.VoidedAt.After(now.Add(MaxVoidAhead)) {
		c.add("voided_at", "is more than %s in the future (%s)", MaxVoidAhead, v.VoidedAt.Format(time.RFC3339))
	}
	if err := c.err(); err != nil {
		return schemas.SaleVoided{}, err
	}
	return v, nil
}

// CheckVoidAgainstSale checks a decoded void against the sale it voids, which completed at
// occurredAt (zero when the POS does not know it): a sale cannot be voided before it happened.
func CheckVoidAgainstSale(v schemas.SaleVoided, occurredAt time.Time) error {
	var c checker
	if !occurredAt.IsZero() && v.VoidedAt.Before(occurredAt) {
		c.add("voided_at", "is before the sale's occurred_at (%s)", occurredAt.UTC().Format(time.RFC3339Nano))
	}
	return c.err()
}
