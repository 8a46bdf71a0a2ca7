// Package schedule runs FreshMart's clock jobs (a store's nightly analytics ETL, end-of-day
// reports...) on cron schedules in each store's time zone, once per slot across all the
// replicas of a service, and records every run in Postgres.
//
// # Schedules
//
// A Job's Spec is a standard five-field cron expression (minute hour day-of-month month
// day-of-week) or a descriptor (@daily, @hourly, @weekly, @monthly, @yearly), parsed by
// github.com/robfig/cron/v3. It is read on the wall clock of the job's Location: "30 23 * * *"
// in America/Los_Angeles is 23:30 Pacific time, 07:30 UTC in winter and 06:30 UTC in summer.
// Across a daylight-saving change each local reading runs once: a slot in the hour the clocks
// skip (spring forward) runs at the same reading in the offset before the change, an hour later
// on the wall clock (02:30 runs at 03:30), and a slot in the hour the clocks repeat (fall back)
// runs at its first occurrence only. "@every" and CRON_TZ= specs are refused: slots must be the
// same instants on every replica, and the zone is the Location.
//
// # Once per slot
//
// A slot is (job name, scheduled instant). Every replica's scheduler wakes at the slot and
// tries to take it: an INSERT into <schema>.job_runs keyed (job, scheduled_for) with ON
// CONFLICT DO NOTHING, in a transaction that also takes a session advisory lock on the job's
// name. The one replica whose row went in runs the slot; the others see the conflict and do
// nothing (outcome "elsewhere"). The lock is held, on the run's own connection, until the run
// is recorded (the outcome and the unlock are one transaction, so a slot seen finished has
// released the lock): when a run of the same job is still going (a slow ETL), the new slot's
// row is recorded as skipped instead of running the two at once. The row goes from running to ok, or
// to failed with the error text (a returned error, a panic, or the scheduler's context ending
// the run); started_at and finished_at are on the scheduler's Clock.
//
// A slot whose runner died (its connection closed, so its lock is free) stays "running" until a
// scheduler with the job sweeps it, at start and every SweepInterval: it is then recorded as
// failed ("abandoned"), not run again. The same sweep deletes the rows of slots older than Keep
// [30 days], keeping each job's latest. A slot runs at most once; a job that must not miss a day
// makes its Run idempotent and a later slot catches up.
//
// # Missed slots
//
// Slots that came due while no scheduler ran (every replica down, or the clock jumped) are not
// all run: on start, a job that has run before runs its most recent missed slot once (Run has
// CatchUp set), if no replica recorded it; older missed slots are neither run nor recorded. A
// job that has never run starts with its next slot. The same holds while running: if the clock
// passes several slots at once, only the latest runs.
//
// # Metrics
//
// freshmart_job_runs_total{job,outcome}: slots this instance dealt with, by outcome (ok, failed,
// skipped: the previous run still going, elsewhere: another replica took the slot, error: the
// slot could not be taken, Postgres away); freshmart_job_last_success_timestamp_seconds{job}: the
// scheduled time of the job's latest successful run here.
//
// The runs table is created by the migrations (template "job_runs" in migrations/sql/shared,
// platform.job_runs by default).
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/freshmart/platform/internal/clock"
)

// Config configures a Scheduler.
type Config struct {
	// Pool is the Postgres pool holding the runs table. Required.
	Pool *pgxpool.Pool
	// Log receives the scheduler's logs. Default slog.Default().
	Log *slog.Logger
	// Registerer receives the metrics. Default prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	// Clock is the time slots are due by and runs are stamped with. Default clock.Real();
	// tests use a clock.Manual.
	Clock clock.Clock
	// Schema is the Postgres schema of the job_runs table. Default "platform".
	Schema string
	// Instance names this scheduler in job_runs.instance. Default host name "-" process id.
	Instance string
	// SweepInterval is how often, in real time, runs left "running" by a dead instance are
	// recorded as failed and old runs pruned. Default 1m.
	SweepInterval time.Duration
	// Keep is how long a run's row is kept after its slot, by the Clock: older rows are
	// deleted at each sweep, except each job's latest (catching up needs it). Default 30 days
	// (a once-a-minute job leaves 43,200 rows, not a row a minute forever).
	Keep time.Duration
}

// Job is a clock job.
type Job struct {
	// Name identifies the job across replicas and in job_runs ("analytics-etl/S001").
	// Required, unique within a Scheduler.
	Name string
	// Spec is the cron schedule (see the package documentation). Required.
	Spec string
	// Location is the time zone Spec is read in (the store's). Default UTC.
	Location *time.Location
	// Run does the work of one slot. ctx ends when the scheduler stops. An error (or a panic)
	// records the run as failed. Required.
	Run func(ctx context.Context, run Run) error
}

// Run is one slot being run.
type Run struct {
	// Job is the job's name.
	Job string
	// ScheduledFor is the slot, in the job's Location.
	ScheduledFor time.Time
	// CatchUp is set when the slot came due while no scheduler ran it (see "Missed slots").
	CatchUp bool
}

// Scheduler runs jobs; see the package documentation.
type Scheduler struct {
	cfg     Config
	runs    string // sanitized <schema>.job_runs
	metrics *metrics

	mu      sync.Mutex
	jobs    []*job
	names   map[string]bool
	running bool
}

type job struct {
	Job
	slots slots
	next  time.Time // the next slot to run
}

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New checks cfg and returns a Scheduler; Add jobs, then Run it.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Pool == nil {
		return nil, errors.New("schedule: no pool")
	}
	if cfg.Schema == "" {
		cfg.Schema = "platform"
	}
	if !identRe.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("schedule: schema %q is not a lower-case SQL identifier", cfg.Schema)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.DefaultRegisterer
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Instance == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		cfg.Instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 30 * 24 * time.Hour
	}
	return &Scheduler{
		cfg:     cfg,
		runs:    pgx.Identifier{cfg.Schema, "job_runs"}.Sanitize(),
		metrics: newMetrics(cfg.Registerer),
		names:   map[string]bool{},
	}, nil
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Add adds j. It fails on a bad or duplicate name, a Spec that does not parse or is refused
// (see the package documentation), a nil Run, or a Scheduler already running.
func (s *Scheduler) Add(j Job) error {
	switch {
	case j.Name == "":
		return errors.New("schedule: job without a name")
	case j.Run == nil:
		return fmt.Errorf("schedule: job %s: no Run", j.Name)
	case strings.HasPrefix(j.Spec, "TZ=") || strings.HasPrefix(j.Spec, "CRON_TZ="):
		return fmt.Errorf("schedule: job %s: spec %q: set the zone with Location", j.Name, j.Spec)
	case strings.HasPrefix(j.Spec, "@every"):
		return fmt.Errorf("schedule: job %s: spec %q: @every is not supported (its slots would depend on when each replica started)", j.Name, j.Spec)
	}
	parsed, err := parser.Parse(j.Spec)
	if err != nil {
		return fmt.Errorf("schedule: job %s: %w", j.Name, err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return fmt.Errorf("schedule: job %s: spec %q is not a calendar schedule", j.Name, j.Spec)
	}
	spec.Location = time.UTC // evaluated on wall-clock readings, see slots
	if j.Location == nil {
		j.Location = time.UTC
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("schedule: job %s: Add after Run", j.Name)
	}
	if s.names[j.Name] {
		return fmt.Errorf("schedule: job %s added twice", j.Name)
	}
	s.names[j.Name] = true
	s.jobs = append(s.jobs, &job{Job: j, slots: slots{spec: spec, loc: j.Location}})
	return nil
}

// Run runs the jobs' slots until ctx ends, then waits for the runs in progress (their ctx has
// ended too) and returns nil. Postgres failures are logged and counted; they never stop it.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("schedule: Run called twice")
	}
	s.running = true
	jobs := s.jobs
	s.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(j *job, slot time.Time, catchUp bool) {
		wg.Go(func() { s.runSlot(ctx, j, slot, catchUp) })
	}

	s.sweep(ctx, jobs)
	now := s.cfg.Clock.Now()
	last, err := s.lastSlots(ctx, jobs)
	if err != nil && ctx.Err() == nil {
		s.cfg.Log.Warn("read the last runs: not catching up missed slots", "err", err)
	}
	for _, j := range jobs {
		if l, ok := last[j.Name]; ok {
			if slot, ok := j.slots.latestSince(l, now); ok {
				s.cfg.Log.Info("running a missed slot", "job", j.Name, "slot", slot)
				start(j, slot, true)
			}
		}
		j.next = j.slots.after(now)
	}

	lastSweep := time.Now()
	for {
		var earliest time.Time
		for _, j := range jobs {
			if !j.next.IsZero() && (earliest.IsZero() || j.next.Before(earliest)) {
				earliest = j.next
			}
		}
		var due <-chan time.Time
		if !earliest.IsZero() {
			due = clock.Until(s.cfg.Clock, earliest)
		}
		sweep := time.NewTimer(max(0, s.cfg.SweepInterval-time.Since(lastSweep)))
		select {
		case <-ctx.Done():
			sweep.Stop()
			return nil
		case <-sweep.C:
			s.sweep(ctx, jobs)
			lastSweep = time.Now()
			continue
		case <-due:
		}
		sweep.Stop()
		now := s.cfg.Clock.Now()
		for _, j := range jobs {
			if j.next.IsZero() || j.next.After(now) {
				continue
			}
			// Only the latest of the slots the clock passed runs.
			slot, _ := j.slots.latestSince(j.next.Add(-time.Nanosecond), now)
			start(j, slot, !slot.Equal(j.next))
			j.next = j.slots.after(now)
		}
	}
}

// lastSlots returns the latest recorded slot of each job that has one.
func (s *Scheduler) lastSlots(ctx context.Context, jobs []*job) (map[string]time.Time, error) {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	rows, err := s.cfg.Pool.Query(ctx, `SELECT job, max(scheduled_for) FROM `+s.runs+` WHERE job = ANY($1) GROUP BY job`, names)
	if err != nil {
		return nil, fmt.Errorf("schedule: read runs: %w", err)
	}
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		var at time.Time
		if err := rows.Scan(&name, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("schedule: read runs: %w", err)
		}
		out[name] = at
	}
	rows.Close()
	return out, rows.Err()
}

// lockName is the advisory lock held while a run of the job is in progress.
func lockName(jobName string) string { return "freshmart_job/" + jobName }

const lockSQL = `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`
const unlockSQL = `SELECT pg_advisory_unlock(hashtextextended($1, 0))`

// runSlot takes the slot (or finds it taken), runs it and records the outcome.
func (s *Scheduler) runSlot(ctx context.Context, j *job, slot time.Time, catchUp bool) {
	log := s.cfg.Log.With("job", j.Name, "slot", slot.In(j.Location))
	var conn *pgxpool.Conn
	var taken bool
	var err error
	for attempt, backoff := 0, time.Second; ; attempt, backoff = attempt+1, 2*backoff {
		conn, taken, err = s.take(ctx, j, slot, log)
		if err == nil || ctx.Err() != nil || attempt == 4 {
			break
		}
		log.Warn("could not take the slot; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Error("could not take the slot; it is not run", "err", err)
			s.metrics.runs.WithLabelValues(j.Name, "error").Inc()
		}
		return
	}
	if !taken {
		return
	}
	// The lock is ours (session-level, on conn) until released with the outcome below or conn
	// closes.
	clean := false
	defer func() {
		if !clean {
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			conn.Conn().Close(bg) //nolint:errcheck // closing releases the lock; the pool drops the connection
			cancel()
		}
		conn.Release()
	}()
	runErr := s.call(ctx, j, Run{Job: j.Name, ScheduledFor: slot.In(j.Location), CatchUp: catchUp})
	status, errText := "ok", ""
	if runErr != nil {
		status, errText = "failed", runErr.Error()
		log.Warn("job failed", "err", runErr)
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// The outcome and the unlock in one transaction: the unlock takes effect at once and the
	// outcome at commit, so whoever sees the slot finished (the next slot, a test's clock) finds
	// the job's lock free; a sweep that sees the row running in between waits for its row lock
	// and then finds it finished.
	err = pgx.BeginFunc(bg, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(bg, `UPDATE `+s.runs+` SET status = $3, finished_at = $4, error = nullif($5, '')
			WHERE job = $1 AND scheduled_for = $2`, j.Name, slot, status, s.cfg.Clock.Now(), errText); err != nil {
			return err
		}
		_, err := tx.Exec(bg, unlockSQL, lockName(j.Name))
		return err
	})
	if err != nil {
		// The row stays "running"; once conn is closed the sweep records it as abandoned.
		log.Error("could not record the run", "status", status, "err", err)
		return
	}
	clean = true
	s.metrics.runs.WithLabelValues(j.Name, status).Inc()
	if status == "ok" {
		s.metrics.lastSuccess.WithLabelValues(j.Name).Set(float64(slot.Unix()))
	}
}

// take inserts the slot's row and takes the job's lock in one transaction. It returns the
// connection holding the lock when this instance is to run the slot; taken is false when
// another instance has the slot or the previous run still goes (the slot is recorded skipped).
func (s *Scheduler) take(ctx context.Context, j *job, slot time.Time, log *slog.Logger) (_ *pgxpool.Conn, taken bool, err error) {
	conn, err := s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("schedule: acquire: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			// A failed transaction may have left the session lock behind: drop the connection.
			if err != nil {
				conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck
			}
			conn.Release()
		}
	}()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("schedule: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	var inserted bool
	err = tx.QueryRow(ctx, `INSERT INTO `+s.runs+` (job, scheduled_for, instance, status, started_at)
		VALUES ($1, $2, $3, 'running', $4) ON CONFLICT DO NOTHING RETURNING true`,
		j.Name, slot, s.cfg.Instance, s.cfg.Clock.Now()).Scan(&inserted)
	if errors.Is(err, pgx.ErrNoRows) {
		s.metrics.runs.WithLabelValues(j.Name, "elsewhere").Inc()
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("schedule: take slot: %w", err)
	}
	var locked bool
	if err := tx.QueryRow(ctx, lockSQL, lockName(j.Name)).Scan(&locked); err != nil {
		return nil, false, fmt.Errorf("schedule: lock job: %w", err)
	}
	if !locked {
		if _, err := tx.Exec(ctx, `UPDATE `+s.runs+` SET status = 'skipped', finished_at = started_at,
			error = 'the previous run of the job was still going' WHERE job = $1 AND scheduled_for = $2`, j.Name, slot); err != nil {
			return nil, false, fmt.Errorf("schedule: record skipped slot: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, false, fmt.Errorf("schedule: commit: %w", err)
		}
		log.Warn("slot skipped: the previous run of the job is still going")
		s.metrics.runs.WithLabelValues(j.Name, "skipped").Inc()
		return nil, false, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("schedule: commit: %w", err)
	}
	keep = true
	return conn, true, nil
}

// call runs the job, turning a panic into an error.
func (s *Scheduler) call(ctx context.Context, j *job, r Run) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return j.Run(ctx, r)
}

// sweep records as failed the runs left "running" by an instance that is gone (those whose
// job's lock nobody holds) and prunes the rows older than Keep.
func (s *Scheduler) sweep(ctx context.Context, jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	if err := s.sweepOnce(ctx, names); err != nil && ctx.Err() == nil {
		s.cfg.Log.Warn("sweep abandoned runs", "err", err)
	}
	if err := s.prune(ctx, names); err != nil && ctx.Err() == nil {
		s.cfg.Log.Warn("prune old runs", "err", err)
	}
}

// prune deletes the finished runs of names whose slot is older than Keep, keeping each job's
// latest row.
func (s *Scheduler) prune(ctx context.Context, names []string) error {
	_, err := s.cfg.Pool.Exec(ctx, `DELETE FROM `+s.runs+` r WHERE r.job = ANY($1) AND r.scheduled_for < $2
		AND r.status <> 'running'
		AND r.scheduled_for < (SELECT max(l.scheduled_for) FROM `+s.runs+` l WHERE l.job = r.job)`,
		names, s.cfg.Clock.Now().Add(-s.cfg.Keep))
	return err
}

func (s *Scheduler) sweepOnce(ctx context.Context, names []string) error {
	conn, err := s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `SELECT DISTINCT job FROM `+s.runs+` WHERE status = 'running' AND job = ANY($1)`, names)
	if err != nil {
		return err
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range stale {
		var locked bool
		if err := conn.QueryRow(ctx, lockSQL, lockName(name)).Scan(&locked); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // do not pool a connection that may hold the lock
			return err
		}
		if !locked {
			continue // a run of the job is in progress somewhere
		}
		tag, err := conn.Exec(ctx, `UPDATE `+s.runs+` SET status = 'failed', finished_at = $2,
			error = 'abandoned: the instance running it stopped before it finished' WHERE job = $1 AND status = 'running'`,
			name, s.cfg.Clock.Now())
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), unlockSQL, lockName(name)); uerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck
			return errors.Join(err, uerr)
		}
		if err != nil {
			return err
		}
		if n := tag.RowsAffected(); n > 0 {
			s.cfg.Log.Warn("recorded abandoned runs as failed", "job", name, "runs", n)
			s.metrics.runs.WithLabelValues(name, "failed").Add(float64(n))
		}
	}
	return nil
}

type metrics struct {
	runs        *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		runs: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshmart_job_runs_total",
			Help: "Slots of clock jobs this instance dealt with, by outcome: ok, failed, skipped (previous run still going), elsewhere (another replica took the slot), error (the slot could not be taken).",
		}, []string{"job", "outcome"})),
		lastSuccess: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "freshmart_job_last_success_timestamp_seconds",
			Help: "Scheduled time (Unix seconds) of the latest slot of the job that ran successfully on this instance.",
		}, []string{"job"})),
	}
}

// register registers c with reg, or returns the collector already registered under the same
// description, so several schedulers of one process share the metric families.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
