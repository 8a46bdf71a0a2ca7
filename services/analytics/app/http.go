package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics"
)

func (a *App) routes(r chi.Router) {
	r.Get("/v1/reports/daily", a.getDailyReport)
	r.Get("/v1/etl-runs", a.listETLRuns)
}

// unavailable answers 503 (with Retry-After) when the warehouse cannot be read; the cause is
// logged, not shown.
func (a *App) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	httpx.Unavailable(w, r, a.log, "Warehouse unavailable", what, err)
}

// getDailyReport answers GET /v1/reports/daily?date=YYYY-MM-DD[&version=n][&format=json|csv]:
// the newest version of the date's report.daily_sales (or the version asked for), as the event
// carried it, or as CSV (format=csv, or Accept: text/csv without a format): a header row, then
// one row per store and department, money in dollars with two decimals.
func (a *App) getDailyReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad httpx.FieldErrors
	var date analytics.Date
	if v := q.Get("date"); v == "" {
		bad.Add("date", "is required (YYYY-MM-DD)")
	} else if d, err := analytics.ParseDate(v); err != nil {
		bad.Add("date", "want a date such as 2026-12-01")
	} else {
		date = d
	}
	version := 0
	if v := q.Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad.Add("version", "want a whole number from 1")
		}
		version = n
	}
	csvOut := false
	switch f := q.Get("format"); f {
	case "json":
	case "csv":
		csvOut = true
	case "":
		csvOut = strings.Contains(r.Header.Get("Accept"), "text/csv")
	default:
		bad.Add("format", "want json or csv")
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var raw []byte
	err := a.pool.QueryRow(r.Context(), `SELECT payload FROM analytics.daily_reports
		WHERE report_date = $1 AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1`, date.Time(), version).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		detail := "no report for " + date.String() + " yet: it comes with the first load of one of its store-days"
		if version > 0 {
			detail = fmt.Sprintf("no version %d of the report for %s", version, date)
		}
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusNotFound, Title: "No report", Detail: detail})
		return
	}
	if err != nil {
		a.unavailable(w, r, "the daily report", err)
		return
	}
	var rep schemas.DailySalesReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		httpx.Error(w, r, a.log, fmt.Errorf("stored report of %s: %w", date, err))
		return
	}
	w.Header().Set("Vary", "Accept")
	if !csvOut {
		httpx.WriteJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="daily-sales-%s-v%d.csv"`, rep.ReportDate, rep.Version))
	if err := analytics.WriteCSV(w, rep); err != nil {
		a.log.Warn("write CSV", "date", rep.ReportDate, "err", err)
	}
}

// ETLRun is one row of GET /v1/etl-runs: one run of the ETL for one store-day.
type ETLRun struct {
	RunID        int64      `json:"run_id"`
	StoreID      string     `json:"store_id"`
	BusinessDate string     `json:"business_date"`
	Trigger      string     `json:"trigger"`
	Status       string     `json:"status"`
	StartedAt    time.Time  `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	// Seconds is FinishedAt - StartedAt (null while running).
	Seconds       *float64 `json:"seconds"`
	StagedLines   *int64   `json:"staged_lines"`
	Inserted      *int64   `json:"inserted"`
	Updated       *int64   `json:"updated"`
	LateRows      *int64   `json:"late_rows"`
	ReportVersion *int64   `json:"report_version"`
	Error         string   `json:"error,omitempty"`
}

// listETLRuns answers GET /v1/etl-runs?store_id=&date=&status=&limit=: the ETL's runs, newest
// first (limit 100 by default, at most 1000).
func (a *App) listETLRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad httpx.FieldErrors
	store := q.Get("store_id")
	if store != "" {
		if _, err := a.cat.Store(store); err != nil {
			bad.Add("store_id", "unknown store %q", store)
		}
	}
	var date *time.Time
	if v := q.Get("date"); v != "" {
		d, err := analytics.ParseDate(v)
		if err != nil {
			bad.Add("date", "want a date such as 2026-12-01")
		}
		t := d.Time()
		date = &t
	}
	status := q.Get("status")
	switch status {
	case "", "running", "ok", "failed":
	default:
		bad.Add("status", "want running, ok or failed")
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad.Add("limit", "want a whole number from 1 to 1000")
		}
		limit = n
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	rows, err := a.pool.Query(r.Context(), `SELECT run_id, store_id, business_date, trigger, status, started_at, finished_at,
			staged_lines, inserted, updated, late_rows, report_version::bigint, coalesce(error, '')
		FROM analytics.etl_runs
		WHERE ($1 = '' OR store_id = $1) AND ($2::date IS NULL OR business_date = $2) AND ($3 = '' OR status = $3)
		ORDER BY run_id DESC LIMIT $4`, store, date, status, limit)
	if err != nil {
		a.unavailable(w, r, "the ETL runs", err)
		return
	}
	out := []ETLRun{}
	for rows.Next() {
		var x ETLRun
		var day time.Time
		if err := rows.Scan(&x.RunID, &x.StoreID, &day, &x.Trigger, &x.Status, &x.StartedAt, &x.FinishedAt,
			&x.StagedLines, &x.Inserted, &x.Updated, &x.LateRows, &x.ReportVersion, &x.Error); err != nil {
			rows.Close()
			a.unavailable(w, r, "the ETL runs", err)
			return
		}
		x.BusinessDate = analytics.DateFromTime(day).String()
		x.StartedAt = x.StartedAt.UTC()
		if x.FinishedAt != nil {
			f := x.FinishedAt.UTC()
			x.FinishedAt = &f
			s := f.Sub(x.StartedAt).Seconds()
			x.Seconds = &s
		}
		out = append(out, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		a.unavailable(w, r, "the ETL runs", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"runs": out})
}
