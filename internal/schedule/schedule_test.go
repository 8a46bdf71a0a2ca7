package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimSpace(p))
	return len(p), nil
}

// newScheduler returns a scheduler on pool with clk and its own registry.
func newScheduler(t *testing.T, pool *pgxpool.Pool, clk clock.Clock, instance string) (*Scheduler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(Config{Pool: pool, Clock: clk, Registerer: reg, Instance: instance,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("instance", instance)})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// start runs s in the background; the returned stop cancels it and waits for it.
func start(t *testing.T, s *Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type runRow struct {
	slot     time.Time
	status   string
	instance string
	errText  string
	started  time.Time
	finished *time.Time
}

func runsOf(t *testing.T, pool *pgxpool.Pool, job string) []runRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT scheduled_for, status, instance, coalesce(error, ''), started_at, finished_at
		FROM platform.job_runs WHERE job = $1 ORDER BY scheduled_for`, job)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		var r runRow
		if err := rows.Scan(&r.slot, &r.status, &r.instance, &r.errText, &r.started, &r.finished); err != nil {
			t.Fatal(err)
		}
		r.slot = r.slot.UTC()
		out = append(out, r)
	}
	return out
}

// hasRun reports whether the job's slot is recorded with a final status.
func hasRun(t *testing.T, pool *pgxpool.Pool, job string, slot time.Time) bool {
	for _, r := range runsOf(t, pool, job) {
		if r.slot.Equal(slot) && r.status != "running" {
			return true
		}
	}
	return false
}

func counter(t *testing.T, reg *prometheus.Registry, job, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "freshmart_job_runs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["job"] == job && l["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// recorder is a job's Run that records what it was given.
type recorder struct {
	mu   sync.Mutex
	runs []Run
}

func (r *recorder) run(_ context.Context, run Run) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, run)
	return nil
}

func (r *recorder) got() []Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Run(nil), r.runs...)
}

// TestFiresAtLocalTime runs a store's 23:30 job in Los Angeles and one in Berlin through March
// 2026, across both zones' change to summer time: each runs once a day at 23:30 local time,
// and every run is recorded.
func TestFiresAtLocalTime(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	la, berlin := mustLoc(t, "America/Los_Angeles"), mustLoc(t, "Europe/Berlin")
	clk := clock.NewManual(utc("2026-03-05T12:00:00Z"))
	s, reg := newScheduler(t, pool, clk, "a")
	stores := map[string]*time.Location{"analytics-etl/S001": la, "analytics-etl/S101": berlin}
	recs := map[string]*recorder{}
	for name, loc := range stores {
		recs[name] = &recorder{}
		if err := s.Add(Job{Name: name, Spec: "30 23 * * *", Location: loc, Run: recs[name].run}); err != nil {
			t.Fatal(err)
		}
	}
	start(t, s)
	end := utc("2026-04-01T12:00:00Z")
	// Every expected slot of both jobs, in time order.
	type slot struct {
		job string
		at  time.Time
	}
	var want []slot
	for name, loc := range stores {
		ss := mustSlots(t, "30 23 * * *", loc)
		for at := ss.after(clk.Now()); at.Before(end); at = ss.after(at) {
			want = append(want, slot{name, at})
		}
	}
	for i := range want {
		for j := i + 1; j < len(want); j++ {
			if want[j].at.Before(want[i].at) {
				want[i], want[j] = want[j], want[i]
			}
		}
	}
	for _, w := range want {
		waitFor(t, "the scheduler to wait for the slot", func() bool { return clk.Waiting(w.at) })
		clk.Set(w.at)
		waitFor(t, fmt.Sprintf("%s at %s", w.job, w.at), func() bool { return hasRun(t, pool, w.job, w.at) })
	}
	for name, loc := range stores {
		runs := recs[name].got()
		rows := runsOf(t, pool, name)
		if len(runs) != 27 || len(rows) != 27 {
			t.Fatalf("%s: %d runs, %d rows, want one a day from Mar 5 to Mar 31", name, len(runs), len(rows))
		}
		utcHours := map[int]int{}
		for i, r := range runs {
			local := r.ScheduledFor
			if local.Location() != loc || local.Hour() != 23 || local.Minute() != 30 || r.CatchUp {
				t.Errorf("%s run %d scheduled for %s (catch-up %v)", name, i, local, r.CatchUp)
			}
			if !rows[i].slot.Equal(local) || rows[i].status != "ok" || rows[i].instance != "a" || rows[i].finished == nil {
				t.Errorf("%s row %d = %+v", name, i, rows[i])
			}
			utcHours[local.UTC().Hour()]++
		}
		// Winter and summer time both happened.
		if len(utcHours) != 2 {
			t.Errorf("%s ran at UTC hours %v, want two (standard and summer time)", name, utcHours)
		}
		if counter(t, reg, name, "ok") != 27 {
			t.Errorf("%s: ok counter %v", name, counter(t, reg, name, "ok"))
		}
	}
}

// TestTwoInstancesRunSlotOnce: two schedulers with the same job on one database run each slot
// once between them.
func TestTwoInstancesRunSlotOnce(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	clk := clock.NewManual(utc("2026-11-21T10:30:00Z"))
	const name = "report/S001"
	rec := &recorder{}
	var regs []*prometheus.Registry
	for _, inst := range []string{"a", "b"} {
		s, reg := newScheduler(t, pool, clk, inst)
		if err := s.Add(Job{Name: name, Spec: "0 * * * *", Run: rec.run}); err != nil {
			t.Fatal(err)
		}
		regs = append(regs, reg)
		start(t, s)
	}
	for i := 1; i <= 5; i++ {
		slot := utc("2026-11-21T10:00:00Z").Add(time.Duration(i) * time.Hour)
		waitFor(t, "both schedulers to wait for the slot", func() bool { return clk.Waiters(slot) >= 2 })
		clk.Set(slot)
		// Both instances have dealt with the slot: one ran it, the other found it taken.
		waitFor(t, fmt.Sprintf("slot %d dealt with", i), func() bool {
			n := 0.0
			for _, reg := range regs {
				n += counter(t, reg, name, "ok") + counter(t, reg, name, "elsewhere")
			}
			return n == float64(2*i)
		})
	}
	if n := len(rec.got()); n != 5 {
		t.Errorf("job ran %d times for 5 slots", n)
	}
	rows := runsOf(t, pool, name)
	if len(rows) != 5 {
		t.Fatalf("%d rows for 5 slots", len(rows))
	}
	for _, r := range rows {
		if r.status != "ok" {
			t.Errorf("row %+v", r)
		}
	}
	var ok, elsewhere float64
	for _, reg := range regs {
		ok += counter(t, reg, name, "ok")
		elsewhere += counter(t, reg, name, "elsewhere")
	}
	if ok != 5 || elsewhere != 5 {
		t.Errorf("ok %v, elsewhere %v; want 5 each", ok, elsewhere)
	}
}

// TestFailedRunRecorded: an error and a panic are recorded as failed runs with their text;
// the next slot runs as usual.
func TestFailedRunRecorded(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	clk := clock.NewManual(utc("2026-11-21T00:00:00Z"))
	s, reg := newScheduler(t, pool, clk, "a")
	var mu sync.Mutex
	n := 0
	if err := s.Add(Job{Name: "etl", Spec: "0 6 * * *", Run: func(context.Context, Run) error {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		switch k {
		case 1:
			return errors.New("warehouse unreachable")
		case 2:
			panic("nil map")
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	start(t, s)
	for day := range 3 {
		slot := utc("2026-11-21T06:00:00Z").AddDate(0, 0, day)
		waitFor(t, "the scheduler to wait for the slot", func() bool { return clk.Waiting(slot) })
		clk.Set(slot)
		waitFor(t, "run recorded", func() bool { return hasRun(t, pool, "etl", slot) })
	}
	rows := runsOf(t, pool, "etl")
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	if rows[0].status != "failed" || rows[0].errText != "warehouse unreachable" {
		t.Errorf("first run %+v", rows[0])
	}
	if rows[1].status != "failed" || !strings.Contains(rows[1].errText, "panic: nil map") {
		t.Errorf("second run %+v", rows[1])
	}
	if rows[2].status != "ok" || rows[2].errText != "" {
		t.Errorf("third run %+v", rows[2])
	}
	if counter(t, reg, "etl", "failed") != 2 || counter(t, reg, "etl", "ok") != 1 {
		t.Errorf("counters failed %v ok %v", counter(t, reg, "etl", "failed"), counter(t, reg, "etl", "ok"))
	}
}

// TestMissedSlotsOnStart: after a down time, a job that has run before runs its most recent
// missed slot once, flagged CatchUp; a job that never ran waits for its next slot.
func TestMissedSlotsOnStart(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	clk := clock.NewManual(utc("2026-11-21T05:00:00Z"))
	daily, fresh := &recorder{}, &recorder{}
	mk := func(inst string) *Scheduler {
		s, _ := newScheduler(t, pool, clk, inst)
		if err := s.Add(Job{Name: "daily", Spec: "0 6 * * *", Run: daily.run}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	stop := start(t, mk("a"))
	waitFor(t, "the scheduler to wait for the slot", func() bool { return clk.Waiting(utc("2026-11-21T06:00:00Z")) })
	clk.Set(utc("2026-11-21T06:00:00Z"))
	waitFor(t, "first run", func() bool { return hasRun(t, pool, "daily", utc("2026-11-21T06:00:00Z")) })
	stop()

	// Down for three days and a bit: Nov 22, 23 and 24 at 06:00 are missed.
	clk.Set(utc("2026-11-24T12:00:00Z"))
	s := mk("b")
	if err := s.Add(Job{Name: "fresh", Spec: "0 6 * * *", Run: fresh.run}); err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "catch-up run", func() bool { return hasRun(t, pool, "daily", utc("2026-11-24T06:00:00Z")) })
	waitFor(t, "the scheduler to wait for the slot", func() bool { return clk.Waiting(utc("2026-11-25T06:00:00Z")) })
	clk.Set(utc("2026-11-25T06:00:00Z"))
	waitFor(t, "next runs", func() bool {
		return hasRun(t, pool, "daily", utc("2026-11-25T06:00:00Z")) && hasRun(t, pool, "fresh", utc("2026-11-25T06:00:00Z"))
	})
	var slots []string
	for _, r := range runsOf(t, pool, "daily") {
		slots = append(slots, r.slot.Format("01-02"))
	}
	if strings.Join(slots, " ") != "11-21 11-24 11-25" {
		t.Errorf("daily ran for %v, want 11-21, the latest missed slot 11-24, then 11-25", slots)
	}
	runs := daily.got()
	if len(runs) != 3 || runs[0].CatchUp || !runs[1].CatchUp || runs[2].CatchUp {
		t.Errorf("runs %+v", runs)
	}
	if got := fresh.got(); len(got) != 1 || !got[0].ScheduledFor.Equal(utc("2026-11-25T06:00:00Z")) {
		t.Errorf("a job that never ran caught up: %+v", got)
	}
}

// TestOverlapSkippedAndAbandonedSwept: a slot that comes while the job's previous run still
// goes is recorded as skipped; a run left "running" by a dead instance is recorded as failed.
func TestOverlapSkippedAndAbandonedSwept(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	ctx := context.Background()
	// A dead instance's run: its row says running, nobody holds the lock.
	if _, err := pool.Exec(ctx, `INSERT INTO platform.job_runs (job, scheduled_for, instance, status, started_at)
		VALUES ('slow', '2026-11-20T00:00:00Z', 'dead', 'running', '2026-11-20T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(utc("2026-11-21T00:30:00Z"))
	s, reg := newScheduler(t, pool, clk, "a")
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // never leave the job blocked
	started := make(chan Run, 4)
	next := func(what string) Run {
		t.Helper()
		select {
		case r := <-started:
			return r
		case <-time.After(time.Minute):
			t.Fatalf("%s did not start within a minute", what)
			return Run{}
		}
	}
	if err := s.Add(Job{Name: "slow", Spec: "0 * * * *", Run: func(ctx context.Context, r Run) error {
		started <- r
		if r.ScheduledFor.Hour() == 1 {
			<-release
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	start(t, s)
	// The 2026-11-20 row is the latest: the scheduler catches up the 00:00 slot.
	if r := next("the catch-up"); !r.CatchUp || !r.ScheduledFor.Equal(utc("2026-11-21T00:00:00Z")) {
		t.Fatalf("first run %+v, want the catch-up of 00:00", r)
	}
	waitFor(t, "abandoned run swept", func() bool {
		rows := runsOf(t, pool, "slow")
		return len(rows) > 0 && rows[0].status == "failed"
	})
	if r := runsOf(t, pool, "slow")[0]; !strings.Contains(r.errText, "abandoned") || r.finished == nil {
		t.Errorf("abandoned run recorded as %+v", r)
	}
	// The catch-up must have finished (its row and lock released) before 01:00 comes, or 01:00
	// is rightly skipped as overlapping it.
	waitFor(t, "00:00 finished and its lock released", func() bool {
		var held int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'`).Scan(&held); err != nil {
			t.Fatal(err)
		}
		return held == 0 && hasRun(t, pool, "slow", utc("2026-11-21T00:00:00Z"))
	})
	waitFor(t, "the scheduler to wait for 01:00", func() bool { return clk.Waiting(utc("2026-11-21T01:00:00Z")) })
	clk.Set(utc("2026-11-21T01:00:00Z"))
	next("01:00") // runs and blocks
	waitFor(t, "the scheduler to wait for 02:00", func() bool { return clk.Waiting(utc("2026-11-21T02:00:00Z")) })
	clk.Set(utc("2026-11-21T02:00:00Z"))
	waitFor(t, "02:00 skipped", func() bool { return counter(t, reg, "slow", "skipped") == 1 })
	once.Do(func() { close(release) })
	waitFor(t, "01:00 finished", func() bool { return hasRun(t, pool, "slow", utc("2026-11-21T01:00:00Z")) })
	want := map[string]string{"00:00": "ok", "01:00": "ok", "02:00": "skipped"}
	for _, r := range runsOf(t, pool, "slow")[1:] {
		if want[r.slot.Format("15:04")] != r.status {
			t.Errorf("slot %s: %s (%s)", r.slot.Format("15:04"), r.status, r.errText)
		}
	}
	select {
	case r := <-started:
		t.Errorf("the skipped slot ran: %+v", r)
	default:
	}
}

func TestAddChecks(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/unused") // connects lazily
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, _ := newScheduler(t, pool, clock.NewManual(time.Now()), "a")
	run := func(context.Context, Run) error { return nil }
	if err := s.Add(Job{Name: "ok", Spec: "30 23 * * *", Run: run}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Job{
		{Name: "ok", Spec: "0 * * * *", Run: run},
		{Spec: "0 * * * *", Run: run},
		{Name: "x", Spec: "0 * * * *"},
		{Name: "x", Spec: "61 * * * *", Run: run},
		{Name: "x", Spec: "@every 1h", Run: run},
		{Name: "x", Spec: "CRON_TZ=Europe/Berlin 0 * * * *", Run: run},
		{Name: "x", Spec: "0 0 * * * *", Run: run}, // six fields: seconds are not supported
	} {
		if err := s.Add(bad); err == nil {
			t.Errorf("Add(%+v) accepted", bad)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without a pool accepted")
	}
	if _, err := New(Config{Pool: pool, Schema: "Bad-Schema"}); err == nil {
		t.Error("bad schema accepted")
	}
}

// TestOldRunsPruned: the sweep deletes a job's runs older than Keep by the Clock, but keeps
// each job's latest row (catching up reads it) and other schedulers' jobs.
func TestOldRunsPruned(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	ctx := context.Background()
	for _, r := range []struct{ job, at string }{
		{"busy", "2026-09-01T00:00:00Z"}, {"busy", "2026-10-01T00:00:00Z"}, {"busy", "2026-11-20T00:00:00Z"},
		{"idle", "2026-01-01T00:00:00Z"}, {"someone-else", "2026-09-01T00:00:00Z"},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO platform.job_runs (job, scheduled_for, instance, status, started_at, finished_at)
			VALUES ($1, $2, 'a', 'ok', $2, $2)`, r.job, utc(r.at)); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := newScheduler(t, pool, clock.NewManual(utc("2026-11-21T00:30:00Z")), "a")
	for _, name := range []string{"busy", "idle"} {
		if err := s.Add(Job{Name: name, Spec: "0 0 1 1 *", Run: func(context.Context, Run) error { return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	start(t, s)
	slots := func(job string) string {
		var out []string
		for _, r := range runsOf(t, pool, job) {
			out = append(out, r.slot.UTC().Format("2006-01-02"))
		}
		return strings.Join(out, " ")
	}
	waitFor(t, "busy's old runs pruned", func() bool { return slots("busy") == "2026-11-20" })
	if got := slots("idle"); got != "2026-01-01" {
		t.Errorf("idle's runs %q, want its latest kept", got)
	}
	if got := slots("someone-else"); got != "2026-09-01" {
		t.Errorf("another scheduler's job's runs %q, want them untouched", got)
	}
}

// TestFinishedSlotHasReleasedItsLock: once a slot's row says it finished, the job's lock is
// free, so a clock moved on at that moment (a test's, or a replica's next slot) runs the next
// slot instead of skipping it as overlapping. Until the outcome and the unlock were one
// transaction, the row said ok a round trip before the lock was released.
func TestFinishedSlotHasReleasedItsLock(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	ctx := context.Background()
	base := utc("2026-11-21T10:00:00Z")
	clk := clock.NewManual(base.Add(30 * time.Second))
	s, reg := newScheduler(t, pool, clk, "a")
	if err := s.Add(Job{Name: "quick", Spec: "* * * * *", Run: func(context.Context, Run) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	start(t, s)
	for i := 1; i <= 40; i++ {
		slot := base.Add(time.Duration(i) * time.Minute)
		waitFor(t, "the scheduler to wait for "+slot.Format("15:04"), func() bool { return clk.Waiting(slot) })
		clk.Set(slot)
		// One statement reads the slot's row and the locks at one moment, as fast as it can
		// be repeated, until the row says finished.
		for {
			var status string
			var held int
			err := pool.QueryRow(ctx, `SELECT coalesce((SELECT status FROM platform.job_runs WHERE job = 'quick' AND scheduled_for = $1), ''),
				(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted)`, slot).Scan(&status, &held)
			if err != nil {
				t.Fatal(err)
			}
			if status == "" || status == "running" {
				continue
			}
			if held != 0 {
				t.Fatalf("slot %s recorded %s with the job's lock still held", slot.Format("15:04"), status)
			}
			break
		}
	}
	waitFor(t, "40 slots counted ok", func() bool { return counter(t, reg, "quick", "ok") == 40 })
	if n := counter(t, reg, "quick", "skipped"); n != 0 {
		t.Fatalf("%v slots skipped", n)
	}
}
