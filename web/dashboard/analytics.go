package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
)

// The analytics service's API (ANALYTICS_URL): the daily reports (report.daily_sales, the
// newest version of a date, as JSON or CSV) and the ETL's runs.

// DefaultAnalyticsURL is where the analytics service answers unless ANALYTICS_URL says
// otherwise.
const DefaultAnalyticsURL = "http://127.0.0.1:8085"

// errNoReport is the analytics API's 404 for a date: no store-day of it was loaded yet.
var errNoReport = errors.New("no report for that day yet")

// analyticsClient reads the analytics service's API.
type analyticsClient struct {
	base   string
	client *http.Client // JSON answers: a page waits for them
	files  *http.Client // the CSV the dashboard passes on
}

// ETLRun is one row of GET /v1/etl-runs: one run of the ETL for one store-day.
type ETLRun struct {
	RunID         int64      `json:"run_id"`
	StoreID       string     `json:"store_id"`
	BusinessDate  string     `json:"business_date"`
	Trigger       string     `json:"trigger"` // schedule, catch_up or manual
	Status        string     `json:"status"`  // running, ok or failed
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
	Seconds       *float64   `json:"seconds"` // null while running
	StagedLines   *int64     `json:"staged_lines"`
	Inserted      *int64     `json:"inserted"`
	Updated       *int64     `json:"updated"`
	LateRows      *int64     `json:"late_rows"`
	ReportVersion *int64     `json:"report_version"`
	Error         string     `json:"error,omitempty"`
}

// report returns the newest version of date's daily report, or errNoReport.
func (c *analyticsClient) report(ctx context.Context, date string) (*schemas.DailySalesReport, error) {
	var r schemas.DailySalesReport
	err := getJSON(ctx, c.client, "analytics", c.base, "/v1/reports/daily", url.Values{"date": {date}}, &r)
	var st statusError
	if errors.As(err, &st) && st.code == http.StatusNotFound {
		return nil, errNoReport
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// runs returns the ETL's newest runs matching q (store_id, date, status, limit), newest first.
func (c *analyticsClient) runs(ctx context.Context, q url.Values) ([]ETLRun, error) {
	var body struct {
		Runs []ETLRun `json:"runs"`
	}
	err := getJSON(ctx, c.client, "analytics", c.base, "/v1/etl-runs", q, &body)
	return body.Runs, err
}

// newestDate returns the newest business date of the store's (store "": any store's)
// successful loads among the last limit runs, or "" when there is none.
func (c *analyticsClient) newestDate(ctx context.Context, store string, limit int) (string, error) {
	q := url.Values{"status": {"ok"}, "limit": {strconv.Itoa(limit)}}
	if store != "" {
		q.Set("store_id", store)
	}
	runs, err := c.runs(ctx, q)
	newest := ""
	for _, r := range runs {
		newest = max(newest, r.BusinessDate) // YYYY-MM-DD orders as a string
	}
	return newest, err
}

// proxyCSV passes the analytics API's CSV of date's report (of version, when not "") on to w:
// 200 with the file, 404 problem when there is no report, 502 when the service cannot answer.
func (c *analyticsClient) proxyCSV(w http.ResponseWriter, r *http.Request, date, version string) {
	q := url.Values{"date": {date}, "format": {"csv"}}
	if version != "" {
		q.Set("version", version)
	}
	u := strings.TrimRight(c.base, "/") + "/v1/reports/daily?" + q.Encode()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
	if err == nil {
		req.Header.Set("Accept", "text/csv")
	}
	var resp *http.Response
	if err == nil {
		resp, err = c.files.Do(req)
	}
	if err != nil {
		writeProblem(w, http.StatusBadGateway, "Analytics unavailable",
			fmt.Sprintf("The daily report cannot be fetched right now (analytics: %v).", err))
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		writeProblem(w, http.StatusNotFound, "No report", "No report for "+date+" yet.")
		return
	case resp.StatusCode == http.StatusUnprocessableEntity || resp.StatusCode == http.StatusBadRequest:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		writeProblem(w, http.StatusUnprocessableEntity, "Bad request", "analytics: "+strings.TrimSpace(string(msg)))
		return
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		writeProblem(w, http.StatusBadGateway, "Analytics unavailable",
			fmt.Sprintf("The daily report cannot be fetched right now (analytics: %s: %s).", resp.Status, strings.TrimSpace(string(msg))))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/csv") {
		h.Set("Content-Type", ct)
	}
	disp := resp.Header.Get("Content-Disposition")
	if disp == "" {
		disp = fmt.Sprintf(`attachment; filename="daily-sales-%s.csv"`, date)
	}
	h.Set("Content-Disposition", disp)
	h.Set("Cache-Control", "no-store") // a newer version of the report may come
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<20))
}

// writeProblem answers an RFC 9457 problem document.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	httpx.WriteProblem(w, httpx.Problem{Status: status, Title: title, Detail: detail})
}
