package events

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/schemas"
)

func validSale(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../schemas/testdata/valid/sale.completed.json")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestEnvelopeRoundTrip(t *testing.T) {
	env := Envelope{ID: "3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41", Type: schemas.TypeSaleCompleted, Source: "freshmart/pos",
		Time: time.Date(2026, 11, 21, 14, 3, 7, 500, time.FixedZone("x", 3600))}
	rec := NewRecord(schemas.TopicPOSSales, "S001", env, []byte(`{}`))
	rec.Partition, rec.Offset = 3, 42
	ev, err := Parse(rec)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if ev.ID != env.ID || ev.Type != env.Type || ev.Source != env.Source || !ev.Time.Equal(env.Time) ||
		ev.Time.Location() != time.UTC || ev.Key != "S001" || ev.Partition != 3 || ev.Offset != 42 || ev.Topic != schemas.TopicPOSSales {
		t.Fatalf("round trip: got %+v want %+v", ev, env)
	}
}

func TestParseRejects(t *testing.T) {
	good := Envelope{ID: "id", Type: "sale.completed", Source: "s", Time: time.Now()}.Headers()
	with := func(key, val string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for _, h := range good {
			if h.Key == key {
				if val == "<drop>" {
					continue
				}
				h.Value = []byte(val)
			}
			hs = append(hs, h)
		}
		return hs
	}
	tests := []struct {
		name    string
		headers []kgo.RecordHeader
		wantErr bool
	}{
		{"good", good, false},
		{"no headers", nil, true},
		{"old spec", with(HeaderSpecVersion, "0.3"), true},
		{"no id", with(HeaderID, "<drop>"), true},
		{"empty type", with(HeaderType, ""), true},
		{"no source", with(HeaderSource, "<drop>"), true},
		{"bad time", with(HeaderTime, "yesterday"), true},
		{"no time", with(HeaderTime, "<drop>"), false},
		{"xml", with(HeaderContentType, "application/xml"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(&kgo.Record{Headers: tt.headers})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrEnvelope) {
				t.Fatalf("error %v does not wrap ErrEnvelope", err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	sale := validSale(t)
	tests := []struct {
		name    string
		env     Envelope
		payload []byte
		wantErr error
	}{
		{"valid", Envelope{ID: "a", Type: schemas.TypeSaleCompleted, Source: "s"}, sale, nil},
		{"no id", Envelope{Type: schemas.TypeSaleCompleted, Source: "s"}, sale, ErrEnvelope},
		{"unknown type", Envelope{ID: "a", Type: "sale.lost", Source: "s"}, sale, schemas.ErrUnknownType},
		{"not json", Envelope{ID: "a", Type: schemas.TypeSaleCompleted, Source: "s"}, []byte("{"), schemas.ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(tt.env, tt.payload); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check = %v, want %v", err, tt.wantErr)
			}
		})
	}
	var ve *schemas.ValidationError
	if err := Check(Envelope{ID: "a", Type: schemas.TypeSaleCompleted, Source: "s"}, []byte(`{"sale_id":1}`)); !errors.As(err, &ve) {
		t.Fatalf("invalid payload: %v, want *schemas.ValidationError", err)
	}
}

// muxCtx is a handler context that is a Skipper.
type muxCtx struct {
	got     []string
	skipped []string
}

func (c *muxCtx) Skip(ev Event, reason string) { c.skipped = append(c.skipped, ev.Type+"/"+reason) }

func TestMux(t *testing.T) {
	m := NewMux[*muxCtx]()
	On(m, schemas.TypeSaleCompleted, func(_ context.Context, c *muxCtx, ev Event, s schemas.SaleCompleted) error {
		c.got = append(c.got, s.SaleID+"/"+s.Lines[0].SKU)
		return nil
	})
	boom := errors.New("boom")
	On(m, schemas.TypeSaleVoided, func(context.Context, *muxCtx, Event, schemas.SaleVoided) error { return boom })
	c := &muxCtx{}
	ctx := context.Background()
	topic := "mux-test"
	if err := m.Dispatch(ctx, c, Event{Envelope: Envelope{Type: schemas.TypeSaleCompleted}, Topic: topic, Data: validSale(t)}); err != nil {
		t.Fatal(err)
	}
	if len(c.got) != 1 || c.got[0] != "3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41/PRD-0001" {
		t.Fatalf("handler saw %v", c.got)
	}
	if err := m.Dispatch(ctx, c, Event{Envelope: Envelope{Type: schemas.TypeSaleVoided}, Topic: topic, Data: []byte(`{}`)}); !errors.Is(err, boom) {
		t.Fatalf("handler error not returned: %v", err)
	}
	if err := m.Dispatch(ctx, c, Event{Envelope: Envelope{Type: "sale.teleported"}, Topic: topic}); err != nil {
		t.Fatal(err)
	}
	if err := m.Dispatch(ctx, c, Event{Envelope: Envelope{Type: schemas.TypeSaleCompleted}, Topic: topic, Data: []byte(`[1]`)}); err != nil {
		t.Fatal(err)
	}
	// The context is a Skipper: it is told about both skips, with their reasons.
	want := []string{"sale.teleported/" + SkipUnknownType, schemas.TypeSaleCompleted + "/" + SkipPayload}
	if len(c.skipped) != 2 || c.skipped[0] != want[0] || c.skipped[1] != want[1] {
		t.Errorf("skips reported %v, want %v", c.skipped, want)
	}
	if !m.Handles(schemas.TypeSaleVoided) || m.Handles("x") {
		t.Error("Handles wrong")
	}

	// OnSkip replaces the Skipper; a context that is no Skipper is fine without one.
	var viaCallback []string
	m.OnSkip(func(_ context.Context, _ *muxCtx, ev Event, reason string) { viaCallback = append(viaCallback, reason) })
	if err := m.Dispatch(ctx, c, Event{Envelope: Envelope{Type: "sale.teleported"}, Topic: topic}); err != nil {
		t.Fatal(err)
	}
	if len(viaCallback) != 1 || viaCallback[0] != SkipUnknownType || len(c.skipped) != 2 {
		t.Errorf("OnSkip saw %v, Skipper %v", viaCallback, c.skipped)
	}
	plain := NewMux[int]()
	if err := plain.Dispatch(ctx, 0, Event{Envelope: Envelope{Type: "x"}}); err != nil {
		t.Fatal(err)
	}
}

func TestDerivedID(t *testing.T) {
	a := DerivedID("pos-sales", 1, 7, 0)
	if a != DerivedID("pos-sales", 1, 7, 0) {
		t.Fatal("not deterministic")
	}
	seen := map[string]bool{a: true}
	for _, id := range []string{DerivedID("pos-sales", 1, 7, 1), DerivedID("pos-sales", 1, 8, 0), DerivedID("pos-sales", 2, 7, 0), DerivedID("x", 1, 7, 0)} {
		if seen[id] {
			t.Fatalf("collision: %s", id)
		}
		seen[id] = true
	}
	if err := schemas.Validate(schemas.TypeAlertLowStock, []byte(`{"alert_id":"`+a+`","store_id":"S001","sku":"PRD-0001","on_hand":1,"threshold":2,"at":"2026-11-21T00:00:00Z"}`)); err != nil {
		t.Fatalf("derived id is not a schema uuid: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("1.0"), []byte("id"), []byte("sale.completed"), []byte("s"), []byte("2026-11-21T14:03:07Z"), []byte("application/json"))
	f.Add([]byte(""), []byte(""), []byte(""), []byte(""), []byte("\xff"), []byte(""))
	f.Fuzz(func(t *testing.T, spec, id, typ, src, ts, ct []byte) {
		rec := &kgo.Record{Headers: []kgo.RecordHeader{
			{Key: HeaderSpecVersion, Value: spec}, {Key: HeaderID, Value: id}, {Key: HeaderType, Value: typ},
			{Key: HeaderSource, Value: src}, {Key: HeaderTime, Value: ts}, {Key: HeaderContentType, Value: ct},
		}}
		ev, err := Parse(rec)
		if err != nil {
			if !errors.Is(err, ErrEnvelope) {
				t.Fatalf("error does not wrap ErrEnvelope: %v", err)
			}
			return
		}
		if ev.ID == "" || ev.Type == "" || ev.Source == "" {
			t.Fatalf("accepted incomplete envelope %+v", ev)
		}
		again, err := Parse(NewRecord("t", "k", ev.Envelope, nil))
		if err != nil || again.ID != ev.ID || !again.Time.Equal(ev.Time) {
			t.Fatalf("re-encoded envelope differs: %+v %v", again, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	env := Envelope{ID: "3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41", Type: schemas.TypeSaleCompleted, Source: "freshmart/pos", Time: time.Now()}
	rec := NewRecord(schemas.TopicPOSSales, "S001", env, []byte(`{}`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
}
