package schemas

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/freshmart/platform/broker"
)

// TestTypesRoundTrip decodes every valid example into its Go type without unknown fields,
// encodes it again and checks the result is still valid and carries the same JSON.
func TestTypesRoundTrip(t *testing.T) {
	types := Payloads()
	for _, typ := range Types() {
		t.Run(typ, func(t *testing.T) {
			mk, ok := types[typ]
			if !ok {
				t.Fatalf("no Go type for event type %q", typ)
			}
			raw, err := os.ReadFile(filepath.Join("testdata", "valid", typ+".json"))
			if err != nil {
				t.Fatalf("read example: %v", err)
			}
			v := mk()
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("decode example into %T: %v", v, err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("encode %T: %v", v, err)
			}
			if err := Validate(typ, out); err != nil {
				t.Fatalf("re-encoded %T is invalid: %v\n%s", v, err, out)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("round trip changed the payload:\nwant %s\ngot  %s", raw, out)
			}
		})
	}
}

// TestContract checks that the event type constants, the schema files and the payload types
// name the same set of types.
func TestContract(t *testing.T) {
	consts := []string{TypeSaleCompleted, TypeSaleVoided, TypeDeliveryReceived, TypeStockCounted,
		TypeStockAdjusted, TypeStockLevel, TypeAlertLowStock, TypeAlertRestocked, TypeAlertComplaintSpike, TypeAlertComplaintSpikeUpdated, TypeAlertComplaintSpikeResolved, TypeAlertComplaintChainSpike,
		TypeAlertDeliveryMismatch, TypeStockBadge, TypePriceChanged, TypePromoStarted, TypePromoEnded,
		TypeComplaintFiled, TypeReportDailySales, TypePOCancelled, TypeInvoiceReceived, TypeLoyaltyRedeemed}
	payloads := Payloads()
	if len(consts) != len(Types()) || len(payloads) != len(Types()) {
		t.Fatalf("%d type constants, %d payload types, %d schema files", len(consts), len(payloads), len(Types()))
	}
	for _, c := range consts {
		if !Known(c) {
			t.Errorf("type constant %q has no schema file", c)
		}
		if _, ok := payloads[c]; !ok {
			t.Errorf("type constant %q has no payload type", c)
		}
	}
}

// TestTopicsMatchBroker checks that the topic constants are exactly the topics the broker
// creates from broker/topics.json.
func TestTopicsMatchBroker(t *testing.T) {
	defs, err := broker.DefaultTopics()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
	}
	want := Topics()
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("broker/topics.json defines %v, package schemas names %v", names, want)
	}
}
