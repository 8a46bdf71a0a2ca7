package app

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/kit/kittest"

	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/services/pos"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// TestAcceptedSharedAcrossInstances: what one POS instance recorded in pos.accepted is seen by
// another with an empty cache, and a second recording of the same id keeps the first position.
func TestAcceptedSharedAcrossInstances(t *testing.T) {
	dsn := pgtest.New(t)
	newApp := func() *App {
		t.Helper()
		// The broker is never contacted: the producer connects lazily.
		s := kittest.Build(t, Options, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "DATABASE_URL": dsn})
		a, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b := newApp(), newApp()
	ctx := context.Background()
	id := uuid.NewString()
	total := int64(748)
	s := submission{kind: "sale", id: id, store: "S001", totalCents: &total}
	if _, ok := b.seen(ctx, "sale", id); ok {
		t.Fatal("an id never accepted is seen")
	}
	first := accepted{Partition: 4, Offset: 17}
	if got := a.remember(ctx, s, first); got != first {
		t.Fatalf("remember = %+v, want %+v", got, first)
	}
	if got, ok := b.seen(ctx, "sale", id); !ok || got != first {
		t.Fatalf("other instance sees %+v, %v; want %+v", got, ok, first)
	}
	if got := b.remember(ctx, s, accepted{Partition: 4, Offset: 18}); got != first {
		t.Fatalf("a second acceptance answered %+v, want the first %+v", got, first)
	}
	if _, ok := b.seen(ctx, "delivery", id); ok {
		t.Fatal("a sale id is seen as a delivery")
	}
	// Concurrent first acceptances of the same id (both produced) get the same answer, the
	// recorded position, which the other instance reads back.
	const n = 300
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	answers := make([][2]accepted, n)
	var wg sync.WaitGroup
	for i := range n {
		for j := range 2 {
			wg.Go(func() {
				sub := submission{kind: "count", id: ids[i], store: "S002"}
				answers[i][j] = a.remember(ctx, sub, accepted{Partition: int32(i % 12), Offset: int64(2*i + j)})
			})
		}
	}
	wg.Wait()
	for i := range n {
		if answers[i][0] != answers[i][1] {
			t.Fatalf("id %d answered %+v and %+v", i, answers[i][0], answers[i][1])
		}
		got, ok := b.seen(ctx, "count", ids[i])
		if !ok || got != answers[i][0] {
			t.Fatalf("id %d: other instance sees %+v, %v; want %+v", i, got, ok, answers[i][0])
		}
	}
	if got := countAccepted(t, a, "count"); got != n {
		t.Fatalf("pos.accepted holds %d counts, want %d", got, n)
	}

	var stored int64
	if err := a.pool.QueryRow(ctx, `SELECT total_cents FROM pos.accepted WHERE kind = 'sale' AND id = $1`, id).Scan(&stored); err != nil || stored != total {
		t.Fatalf("stored total %d, %v; want %d", stored, err, total)
	}
}

func countAccepted(t *testing.T, a *App, kind string) int {
	t.Helper()
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM pos.accepted WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSaleLookup: a sale recorded by one instance is found by another with its store and time
// (what a void is checked against); a void is recorded like any other kind; an unknown sale, a
// void's id or a delivery's id is not a sale, and a sale recorded without a time (before
// pos.accepted kept it) is found with a zero time.
func TestSaleLookup(t *testing.T) {
	dsn := pgtest.New(t)
	newApp := func() *App {
		t.Helper()
		s := kittest.Build(t, Options, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "DATABASE_URL": dsn})
		a, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b := newApp(), newApp()
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 14, 30, 0, 0, time.FixedZone("EST", -5*3600))
	id, delivery, old := uuid.NewString(), uuid.NewString(), uuid.NewString()
	total := int64(748)
	a.remember(ctx, submission{kind: "sale", id: id, store: "S002", at: at, totalCents: &total}, accepted{Partition: 3, Offset: 9})
	a.remember(ctx, submission{kind: "delivery", id: delivery, store: "S002", at: at}, accepted{Partition: 3, Offset: 10})
	a.remember(ctx, submission{kind: "sale", id: old, store: "S001"}, accepted{Partition: 1, Offset: 1})
	void := submission{kind: "void", id: pos.VoidID(id), store: "S002", at: at.Add(time.Minute)}
	if got := a.remember(ctx, void, accepted{Partition: 3, Offset: 11}); got != (accepted{Partition: 3, Offset: 11}) {
		t.Fatalf("void recorded at %+v", got)
	}
	if got, ok := b.seen(ctx, "void", pos.VoidID(id)); !ok || got.Offset != 11 {
		t.Fatalf("other instance sees the void at %+v, %v", got, ok)
	}
	s, ok, err := b.sale(ctx, id)
	if err != nil || !ok || s.store != "S002" || !s.occurredAt.Equal(at) {
		t.Fatalf("sale lookup: %+v %v %v; want S002 at %s", s, ok, err, at)
	}
	for _, other := range []string{uuid.NewString(), delivery, pos.VoidID(id)} {
		if _, ok, err := b.sale(ctx, other); ok || err != nil {
			t.Fatalf("%s is found as a sale (%v)", other, err)
		}
	}
	if s, ok, err := b.sale(ctx, old); err != nil || !ok || !s.occurredAt.IsZero() {
		t.Fatalf("sale without a time: %+v %v %v", s, ok, err)
	}
}
