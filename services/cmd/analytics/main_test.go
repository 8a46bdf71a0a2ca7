package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics/app"
	"github.com/freshmart/platform/services/catalog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// TestETLCommand stages two sales and runs `analytics etl` for a date, for a range and with a
// store, as the operator would.
func TestETLCommand(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("LOG_LEVEL", "warn")
	pool := pgtest.Pool(t, dsn)
	cat := catalog.MustLoad()
	st, err := app.NewStager(cat, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var evs []events.Event
	for i, store := range []string{"S001", "S004"} {
		s := schemas.SaleCompleted{SaleID: []string{"0b6f3a52-3f5e-4a8e-9c1d-6f1e2a3b4c5d", "1c7a4b63-4a6f-4b9f-8d2e-7a2f3b4c5d6e"}[i],
			StoreID: store, Register: "R01", OccurredAt: time.Date(2026, 12, 2, 4, 30, 0, 0, time.UTC), // the evening of the 1st
			Lines: []schemas.SaleLine{{SKU: "PRD-0001", Qty: 2, UnitPriceCents: 199}}, TotalCents: 398, Payment: schemas.Payment{Method: "card", AmountCents: 398}}
		data, _ := json.Marshal(s)
		evs = append(evs, events.Event{Envelope: events.Envelope{ID: s.SaleID, Type: schemas.TypeSaleCompleted, Source: "freshmart/test", Time: s.OccurredAt},
			Key: store, Data: data, Topic: schemas.TopicPOSSales, Offset: int64(i)})
	}
	if err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error { return st.Apply(context.Background(), tx, evs) }); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := etl(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("--date", "2026-12-01")
	if code != 0 || !strings.Contains(out, "2026-12-01  S001         1         1      0        0  1") ||
		!strings.Contains(out, "report version 1") || !strings.Contains(out, "complete") {
		t.Fatalf("etl --date: %d\n%s%s", code, out, errs)
	}
	code, out, errs = run("--from", "2026-11-30", "--to", "2026-12-01", "--store", "S004")
	if code != 0 || !strings.Contains(out, "2 dates: 1 lines staged, 0 fact rows inserted (0 late), 0 updated") {
		t.Fatalf("etl --from --to --store: %d\n%s%s", code, out, errs)
	}
	if code, _, errs = run("--date", "2026-12-01", "--store", "S999"); code != 2 || !strings.Contains(errs, "unknown store") {
		t.Fatalf("etl --store S999: %d %s", code, errs)
	}
	for _, bad := range [][]string{{}, {"--date", "2026-12-01", "--from", "2026-12-01"}, {"--from", "2026-12-02", "--to", "2026-12-01"}, {"--date", "tomorrow"}, {"extra"}} {
		if code, _, _ := run(bad...); code != 2 {
			t.Errorf("etl %q: exit %d, want 2", bad, code)
		}
	}
}
