package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// The finance part of the dashboard: the analytics service's daily report (report.daily_sales)
// of a business day on /finance (stores, departments, the changes against the day before and
// the same weekday a week earlier, the best sellers, the CSV, and the last 14 days' net sales
// per store as a chart), the headline changes of a store's latest report on its page, and the
// ETL's runs on the system page. Reports come from the analytics API (ANALYTICS_URL); a new
// version heard on daily-sales-report makes the pages showing its date fetch them again.

const (
	// financeTopic is the hub topic of the finance page's browsers.
	financeTopic = "finance"
	// chartDays is how many days, the shown one last, the finance chart covers.
	chartDays = 14
	// headlineDepts is how many department changes a store's headline lists.
	headlineDepts = 3
	// maxReportNotes bounds the dates whose newest report version the feed remembers.
	maxReportNotes = 400
	// etlRunsLen is how many ETL runs the system page lists.
	etlRunsLen = 20
	// newestRuns is how many of the ETL's newest runs are searched for the newest loaded date.
	newestRuns = 100
)

// ReportEvent is a report.daily_sales event.
type ReportEvent = schemas.DailySalesReport

// ReportNote is what a browser is told of a new version of a date's report: enough to know
// whether what it shows is older.
type ReportNote struct {
	Date     string   `json:"date"`
	Version  int64    `json:"version"`
	Complete bool     `json:"complete"`
	StoreIDs []string `json:"store_ids"` // the stores the report has rows for
}

// ReportFeed remembers the newest version of each date's report heard on the broker since the
// dashboard started (at most maxReportNotes dates, the oldest forgotten first). Safe for
// concurrent use.
type ReportFeed struct {
	mu    sync.Mutex
	notes map[string]ReportNote
}

// NewReportFeed returns an empty feed.
func NewReportFeed() *ReportFeed { return &ReportFeed{notes: map[string]ReportNote{}} }

// Apply folds a report in and returns its note, and whether it is newer than every version
// of its date heard before (a copy or an older version changes nothing).
func (f *ReportFeed) Apply(r *ReportEvent) (ReportNote, bool) {
	n := ReportNote{Date: r.ReportDate, Version: r.Version, Complete: r.Complete, StoreIDs: make([]string, 0, len(r.Stores))}
	for _, s := range r.Stores {
		n.StoreIDs = append(n.StoreIDs, s.StoreID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.notes[n.Date]; ok && old.Version >= n.Version {
		return old, false
	}
	f.notes[n.Date] = n
	for len(f.notes) > maxReportNotes {
		oldest := ""
		for d := range f.notes {
			if oldest == "" || d < oldest {
				oldest = d
			}
		}
		delete(f.notes, oldest)
	}
	return n, true
}

// Notes returns the notes of the reports with a row for store (store "": every report),
// newest date first.
func (f *ReportFeed) Notes(store string) []ReportNote {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]ReportNote, 0, len(f.notes))
	for _, n := range f.notes {
		if store == "" || slices.Contains(n.StoreIDs, store) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b ReportNote) int { return strings.Compare(b.Date, a.Date) })
	return out
}

// decodeReport checks what the dashboard relies on in a report.daily_sales payload.
func decodeReport(r *ReportEvent) error {
	if _, err := parseDay(r.ReportDate); err != nil {
		return fmt.Errorf("report_date: %w", err)
	}
	if r.Version < 1 {
		return fmt.Errorf("version %d", r.Version)
	}
	for i, s := range r.Stores {
		if s.StoreID == "" {
			return fmt.Errorf("stores[%d]: no store_id", i)
		}
	}
	return nil
}

// parseDay parses a business date, "YYYY-MM-DD", between the years 2000 and 2100.
func parseDay(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return time.Time{}, fmt.Errorf("%q is not a date like 2026-11-22", s)
	}
	if t.Year() < 2000 || t.Year() > 2100 {
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	return t, nil
}

// addDays returns the date n days after day (before, when n < 0); day is a valid date.
func addDays(day string, n int) string {
	t, _ := time.Parse(time.DateOnly, day)
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// dayLabel formats a date for reading: "Sat, Nov 22, 2026".
func dayLabel(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Mon, Jan 2, 2006")
}

// shortDay formats a date for a chart's axis: "Nov 22".
func shortDay(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Jan 2")
}

// pctText formats a change in percent with its sign: "+12.3%", "-4.0%", "0.0%"; nil (no base
// to compare with) is "—".
func pctText(p *float64) string {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return "—"
	}
	v := math.Round(*p*10) / 10
	if v == 0 {
		return "0.0%"
	}
	s := strconv.FormatFloat(v, 'f', 1, 64) + "%"
	if v > 0 {
		s = "+" + s
	}
	return s
}

// signedMoney formats a change of cents with its sign: "+$1,234.50", "-$0.75", "$0.00".
func signedMoney(cents int64) string {
	if cents > 0 {
		return "+" + money(cents)
	}
	return money(cents)
}

// Change is one comparison of net sales with an earlier day, as a page shows it.
type Change struct {
	// Text is the change in percent ("+12.3%"), or "—" when the earlier day has no data or
	// sold nothing.
	Text string `json:"text"`
	// Class is up, down, flat or none (no comparison).
	Class string `json:"class"`
	// Amount is the change in dollars ("+$123.45"); empty when the earlier day has no data.
	Amount string `json:"amount,omitempty"`
	// Title says what was compared: "vs Fri, Nov 21, 2026: $1,111.11 (+$123.45)".
	Title string `json:"title"`
	// Cents is the change in cents (0 when there is no comparison).
	Cents int64 `json:"cents"`
	// Known is set when the earlier day has data.
	Known bool `json:"known"`
}

// changeOf turns a report's comparison into a Change; against names the earlier day
// ("yesterday", "last week") for when it has no data.
func changeOf(c *schemas.NetChange, against string) Change {
	if c == nil {
		return Change{Text: "—", Class: "none", Title: "no data for " + against}
	}
	ch := Change{Text: pctText(c.ChangePct), Amount: signedMoney(c.ChangeCents), Cents: c.ChangeCents, Known: true,
		Title: fmt.Sprintf("vs %s: %s (%s)", dayLabel(c.Date), money(c.NetCents), signedMoney(c.ChangeCents))}
	switch {
	case c.ChangeCents > 0:
		ch.Class = "up"
	case c.ChangeCents < 0:
		ch.Class = "down"
	default:
		ch.Class = "flat"
	}
	if c.ChangePct == nil {
		ch.Title += "; nothing sold then, so no percentage"
	}
	return ch
}

// FinanceRow is one row of the finance tables: a store, a department or the chain.
type FinanceRow struct {
	ID    string // store or department id; empty for the chain
	Name  string
	Title string // a longer name, for a tooltip
	schemas.SalesFigures
	VsDay, VsWeek Change
}

// FinanceStore is one store of the report, with a row per department in the report's
// department order. A store of the catalog not loaded for the date yet has Loaded false.
type FinanceStore struct {
	FinanceRow
	Loaded bool
	Depts  []FinanceRow
}

// TopRow is one best seller.
type TopRow struct {
	Rank         int
	SKU          string
	Name         string
	Department   string
	Qty          int64
	RevenueCents int64
	Share        string // of the chain's net sales, "12.3%"
}

// FinanceReport is a daily report as the finance page shows it.
type FinanceReport struct {
	Date      string
	Version   int64
	Complete  bool
	Generated string // generated_at, in UTC
	Loaded    int    // stores with a row
	Total     int    // stores of the catalog
	Depts     []catalog.Department
	Stores    []FinanceStore
	Chain     FinanceRow
	ChainDept []FinanceRow
	Top       []TopRow
}

func newFinanceRow(id, name, title string, f schemas.SalesFigures, c schemas.NetChanges) FinanceRow {
	return FinanceRow{ID: id, Name: name, Title: title, SalesFigures: f,
		VsDay: changeOf(c.VsPriorDay, "the day before"), VsWeek: changeOf(c.VsPriorWeek, "the same day a week before")}
}

// financeReport arranges a report for the page: the catalog's stores in its order (those not
// loaded yet included, marked), then any other store of the report; departments in the
// report's order, named from the catalog.
func (s *Server) financeReport(r *schemas.DailySalesReport) *FinanceReport {
	fr := &FinanceReport{Date: r.ReportDate, Version: r.Version, Complete: r.Complete, Loaded: len(r.Stores),
		Total: len(s.cat.Stores()), Generated: r.GeneratedAt.UTC().Format("Jan 2, 15:04 MST")}
	for _, d := range r.Totals.Departments {
		fr.Depts = append(fr.Depts, catalog.Department{ID: d.Department, Name: s.deptName(d.Department)})
	}
	for _, d := range r.Totals.Departments {
		fr.ChainDept = append(fr.ChainDept, newFinanceRow(d.Department, s.deptName(d.Department), "", d.SalesFigures, d.NetChanges))
	}
	fr.Chain = newFinanceRow("", "Chain", "All stores of the report", r.Totals.SalesFigures, r.Totals.NetChanges)
	byID := map[string]schemas.StoreSales{}
	for _, st := range r.Stores {
		byID[st.StoreID] = st
	}
	ids := make([]string, 0, len(byID))
	for _, st := range s.cat.Stores() {
		ids = append(ids, st.StoreID)
	}
	for _, st := range r.Stores {
		if !slices.Contains(ids, st.StoreID) {
			ids = append(ids, st.StoreID)
		}
	}
	for _, id := range ids {
		name, title := id, id
		if st, err := s.cat.Store(id); err == nil {
			name, title = id+" · "+st.City, st.Name+", "+st.City+", "+st.State
		}
		st, ok := byID[id]
		fs := FinanceStore{Loaded: ok}
		fs.FinanceRow = newFinanceRow(id, name, title, st.SalesFigures, st.NetChanges)
		if ok {
			depts := map[string]schemas.DepartmentSales{}
			for _, d := range st.Departments {
				depts[d.Department] = d
			}
			for _, d := range fr.Depts {
				x := depts[d.ID]
				fs.Depts = append(fs.Depts, newFinanceRow(d.ID, d.Name, "", x.SalesFigures, x.NetChanges))
			}
		}
		fr.Stores = append(fr.Stores, fs)
	}
	for i, p := range r.TopProducts {
		t := TopRow{Rank: i + 1, SKU: p.SKU, Name: p.SKU, Qty: p.Qty, RevenueCents: p.RevenueCents}
		if pr, err := s.cat.Product(p.SKU); err == nil {
			t.Name, t.Department = pr.Name, s.deptName(pr.Department)
		}
		if n := r.Totals.NetCents; n > 0 {
			share := 100 * float64(p.RevenueCents) / float64(n)
			t.Share = strconv.FormatFloat(math.Round(share*10)/10, 'f', 1, 64) + "%"
		}
		fr.Top = append(fr.Top, t)
	}
	return fr
}

func (s *Server) deptName(id string) string {
	if d, err := s.cat.Department(id); err == nil {
		return d.Name
	}
	return id
}

// financeView is everything the finance page shows for one date.
type financeView struct {
	Date, Label          string
	Prev, Next           string
	PrevLabel, NextLabel string
	Max                  string // the newest date the picker offers
	// Notice says the default date was changed ("No report for … yet; showing …").
	Notice string
	// Err says the analytics service could not answer; Missing that it has no report for Date.
	Err     string
	Missing bool
	Report  *FinanceReport
	// The chart of the net sales per store of the chartDays days to Date.
	Chart     template.HTML
	Legend    []legendItem
	ChartNote string
	From      string // the chart's first day
	Days      int    // how many days the chart covers
	// Versions is the JSON of the report version shown for each day of the chart (0: none),
	// so the page knows which new versions concern it.
	Versions string
	CSV      string // the CSV's link, through the dashboard
}

// legendItem is one store of the chart's legend.
type legendItem struct {
	Name, Class string
}

// today returns the date it is now in store's zone.
func (s *Server) today(loc *time.Location) string {
	return s.live.now().In(loc).Format(time.DateOnly)
}

// defaultDay is the finance page's date when none is asked for: yesterday in the first
// store's zone.
func (s *Server) defaultDay() string {
	loc := time.UTC
	if st := s.cat.Stores(); len(st) > 0 {
		loc = s.location(st[0].StoreID)
	}
	return addDays(s.today(loc), -1)
}

// newestToday is the latest date it is in any store: the newest day the picker offers.
func (s *Server) newestToday() string {
	newest := s.today(time.UTC)
	for _, st := range s.cat.Stores() {
		newest = max(newest, s.today(s.location(st.StoreID)))
	}
	return newest
}

// finance builds the finance page of date (date "": the default, and the newest report when
// the default has none yet).
func (s *Server) finance(ctx context.Context, date string) financeView {
	explicit := date != ""
	if !explicit {
		date = s.defaultDay()
	}
	rep, err := s.ana.report(ctx, date)
	if !explicit && errors.Is(err, errNoReport) {
		if newest := s.newestReportDay(ctx); newest != "" && newest != date {
			if r2, err2 := s.ana.report(ctx, newest); err2 == nil {
				v := s.financeOf(ctx, newest, r2, nil)
				v.Notice = fmt.Sprintf("No report for %s yet; showing %s, the newest.", dayLabel(date), dayLabel(newest))
				return v
			}
		}
	}
	return s.financeOf(ctx, date, rep, err)
}

// newestReportDay is the newest date with a report that the dashboard knows of: from the
// ETL's newest successful runs and the reports heard since start.
func (s *Server) newestReportDay(ctx context.Context) string {
	newest, _ := s.ana.newestDate(ctx, "", newestRuns)
	if notes := s.reports.Notes(""); len(notes) > 0 {
		newest = max(newest, notes[0].Date)
	}
	return newest
}

// financeOf builds the page of date from its report (or the error asking for it) and the
// reports of the chart's other days.
func (s *Server) financeOf(ctx context.Context, date string, rep *schemas.DailySalesReport, err error) financeView {
	v := financeView{Date: date, Label: dayLabel(date), Prev: addDays(date, -1), Next: addDays(date, 1), Max: s.newestToday(),
		From: addDays(date, -(chartDays - 1)), Days: chartDays, CSV: "/finance/daily.csv?" + url.Values{"date": {date}}.Encode()}
	v.PrevLabel, v.NextLabel = shortDay(v.Prev), shortDay(v.Next)
	if v.Next > v.Max {
		v.Next = ""
	}
	switch {
	case errors.Is(err, errNoReport):
		v.Missing = true
	case err != nil:
		v.Err = fmt.Sprintf("Reports are unavailable right now (%v).", err)
		v.Versions = "{}"
		return v
	default:
		v.Report = s.financeReport(rep)
	}
	// The chart's other days, asked for at once; a missing day is a gap.
	days := make([]string, chartDays)
	reps := make([]*schemas.DailySalesReport, chartDays)
	errs := make([]error, chartDays)
	var wg sync.WaitGroup
	for i := range days {
		days[i] = addDays(v.From, i)
		if days[i] == date {
			reps[i] = rep
			continue
		}
		wg.Go(func() { reps[i], errs[i] = s.ana.report(ctx, days[i]) })
	}
	wg.Wait()
	versions := map[string]int64{}
	failed := 0
	for i, e := range errs {
		switch {
		case e == nil && reps[i] != nil:
			versions[days[i]] = reps[i].Version
		case e != nil && !errors.Is(e, errNoReport):
			failed++
		}
	}
	b, _ := json.Marshal(versions) // a map of strings to numbers marshals
	v.Versions = string(b)
	series := s.netSeries(reps)
	labels := make([]string, len(days))
	for i, d := range days {
		labels[i] = shortDay(d)
	}
	v.Chart = lineChart(lineChartInput{Days: days, Labels: labels, Series: series, Current: chartDays - 1,
		Aria: fmt.Sprintf("Net sales per store, %s to %s", dayLabel(v.From), dayLabel(date))})
	for _, se := range series {
		if slices.ContainsFunc(se.Values, func(v *int64) bool { return v != nil }) {
			v.Legend = append(v.Legend, legendItem{Name: se.Name, Class: se.Class})
		}
	}
	missing := chartDays - len(versions)
	switch {
	case failed > 0:
		v.ChartNote = fmt.Sprintf("%d of the %d days could not be fetched; they show as gaps.", failed, chartDays)
	case missing == chartDays:
		v.ChartNote = "No reports for these days yet."
	case missing > 0:
		v.ChartNote = fmt.Sprintf("%d of the %d days have no report yet; they show as gaps.", missing, chartDays)
	}
	return v
}

// netSeries is each store's net sales per day of reps (nil where the day has no report or
// no row for the store): the catalog's stores in order, then any other store of the reports.
func (s *Server) netSeries(reps []*schemas.DailySalesReport) []lineSeries {
	var ids []string
	names := map[string]string{}
	for _, st := range s.cat.Stores() {
		ids = append(ids, st.StoreID)
		names[st.StoreID] = st.StoreID + " " + st.City
	}
	for _, r := range reps {
		if r == nil {
			continue
		}
		for _, st := range r.Stores {
			if !slices.Contains(ids, st.StoreID) {
				ids = append(ids, st.StoreID)
				names[st.StoreID] = st.StoreID
			}
		}
	}
	out := make([]lineSeries, 0, len(ids))
	for i, id := range ids {
		se := lineSeries{Key: id, Name: names[id], Class: "series-" + strconv.Itoa(i%seriesColors), Values: make([]*int64, len(reps))}
		for d, r := range reps {
			if r == nil {
				continue
			}
			for _, st := range r.Stores {
				if st.StoreID == id {
					n := st.NetCents
					se.Values[d] = &n
				}
			}
		}
		out = append(out, se)
	}
	return out
}

// Headline is a store's headline changes from its latest report, for its page.
type Headline struct {
	Date    string // the report's date; empty when there is none
	Label   string
	Version int64
	Net     int64
	VsDay   Change
	VsWeek  Change
	// Depts are the biggest department changes (by dollars) against the day before, or the
	// week before when the day before has no data.
	Depts []HeadlineDept
	// Err says the analytics service could not answer; Missing that it has no report with
	// the store yet.
	Err     string
	Missing bool
}

// HeadlineDept is one department's change in a store's headline.
type HeadlineDept struct {
	Department string
	Name       string
	Against    string // "vs yesterday" or "vs last week"
	Change     Change
	// Lead is the figure said first: the change in percent, or in dollars when the earlier day
	// sold nothing; Note the other ("+$25.00", "nothing sold then").
	Lead, Note string
}

// buildHeadline picks a store's headline out of a report with a row for it: its net sales
// against the day before and the week before, and the n department changes biggest in
// dollars (a department's percentage alone would put a $3 department that doubled first),
// against the day before when it has data, else the week before. Unchanged departments are
// left out.
func (s *Server) buildHeadline(r *schemas.DailySalesReport, store string, n int) Headline {
	h := Headline{Date: r.ReportDate, Label: dayLabel(r.ReportDate), Version: r.Version}
	i := slices.IndexFunc(r.Stores, func(st schemas.StoreSales) bool { return st.StoreID == store })
	if i < 0 {
		h.Missing = true
		return h
	}
	st := r.Stores[i]
	h.Net = st.NetCents
	h.VsDay, h.VsWeek = changeOf(st.VsPriorDay, "the day before"), changeOf(st.VsPriorWeek, "the same day a week before")
	for _, d := range st.Departments {
		c, against := d.VsPriorDay, "vs yesterday"
		if c == nil {
			c, against = d.VsPriorWeek, "vs last week"
		}
		if c == nil || c.ChangeCents == 0 {
			continue
		}
		hd := HeadlineDept{Department: d.Department, Name: s.deptName(d.Department), Against: against, Change: changeOf(c, "")}
		hd.Lead, hd.Note = hd.Change.Text, hd.Change.Amount
		if c.ChangePct == nil {
			hd.Lead, hd.Note = hd.Change.Amount, "nothing sold then"
		}
		h.Depts = append(h.Depts, hd)
	}
	slices.SortStableFunc(h.Depts, func(a, b HeadlineDept) int {
		return cmp.Or(cmp.Compare(abs(b.Change.Cents), abs(a.Change.Cents)), strings.Compare(a.Department, b.Department))
	})
	h.Depts = h.Depts[:min(n, len(h.Depts))]
	return h
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// headline returns a store's headline from its latest report: the newest date the ETL loaded
// the store for.
func (s *Server) headline(ctx context.Context, store string) Headline {
	date, err := s.ana.newestDate(ctx, store, newestRuns)
	if notes := s.reports.Notes(store); len(notes) > 0 {
		date = max(date, notes[0].Date)
	}
	if err != nil && date == "" {
		return Headline{Err: fmt.Sprintf("The daily report is unavailable right now (%v).", err)}
	}
	if date == "" {
		return Headline{Missing: true}
	}
	rep, err := s.ana.report(ctx, date)
	switch {
	case errors.Is(err, errNoReport):
		return Headline{Missing: true}
	case err != nil:
		return Headline{Err: fmt.Sprintf("The daily report is unavailable right now (%v).", err)}
	}
	return s.buildHeadline(rep, store, headlineDepts)
}

// ETLRunRow is one ETL run as the system page lists it.
type ETLRunRow struct {
	RunID                           int64
	StoreID, Store                  string
	Date, Trigger, Status           string
	Started                         string // in UTC
	Staged, Inserted, Updated, Late string // "–" when not known (running, failed)
	Duration                        string
	Version                         string
	Error                           string
}

func optCount(p *int64) string {
	if p == nil {
		return "–"
	}
	return count(*p)
}

// etlRunRow formats a run for the system page.
func (s *Server) etlRunRow(r ETLRun) ETLRunRow {
	row := ETLRunRow{RunID: r.RunID, StoreID: r.StoreID, Store: r.StoreID, Date: r.BusinessDate, Trigger: strings.ReplaceAll(r.Trigger, "_", " "),
		Status: r.Status, Started: r.StartedAt.UTC().Format("Jan 2 15:04:05 MST"), Staged: optCount(r.StagedLines),
		Inserted: optCount(r.Inserted), Updated: optCount(r.Updated), Late: optCount(r.LateRows), Version: optCount(r.ReportVersion),
		Error: r.Error, Duration: "running"}
	if st, err := s.cat.Store(r.StoreID); err == nil {
		row.Store = r.StoreID + " · " + st.City
	}
	if r.Seconds != nil {
		row.Duration = durationText(*r.Seconds)
	} else if r.Status != "running" {
		row.Duration = "–"
	}
	return row
}

// durationText formats seconds for the ETL runs: "85 ms", "2.4 s", "3m 05s".
func durationText(sec float64) string {
	switch {
	case sec < 0:
		return "–"
	case sec < 1:
		return fmt.Sprintf("%d ms", int(math.Round(sec*1000)))
	case sec < 60:
		return strconv.FormatFloat(math.Round(sec*10)/10, 'f', 1, 64) + " s"
	}
	d := time.Duration(math.Round(sec)) * time.Second
	return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// etlRuns returns the ETL's newest runs for the system page, or why they cannot be shown.
func (s *Server) etlRuns(ctx context.Context) ([]ETLRunRow, string) {
	runs, err := s.ana.runs(ctx, url.Values{"limit": {strconv.Itoa(etlRunsLen)}})
	if err != nil {
		return nil, fmt.Sprintf("ETL runs are unavailable right now (%v).", err)
	}
	rows := make([]ETLRunRow, 0, len(runs))
	for _, r := range runs {
		rows = append(rows, s.etlRunRow(r))
	}
	return rows, ""
}

// The finance routes.

func (s *Server) financeDate(w http.ResponseWriter, r *http.Request) (string, bool) {
	date := strings.TrimSpace(r.URL.Query().Get("date"))
	if date == "" {
		return "", true
	}
	if _, err := parseDay(date); err != nil {
		s.problem(w, http.StatusBadRequest, "Bad date", "date: "+err.Error())
		return "", false
	}
	return date, true
}

func (s *Server) financePage(w http.ResponseWriter, r *http.Request) {
	date, ok := s.financeDate(w, r)
	if !ok {
		return
	}
	f := s.finance(r.Context(), date)
	s.render(w, "finance", page{Title: "Finance · " + f.Label, Active: "finance", Stores: s.stores(), Finance: &f})
}

func (s *Server) financeFragment(w http.ResponseWriter, r *http.Request) {
	date, ok := s.financeDate(w, r)
	if !ok {
		return
	}
	f := s.finance(r.Context(), date)
	s.render(w, "financebody", page{Finance: &f})
}

// financeCSV passes the analytics API's CSV of a date's report on, so the browser needs only
// the dashboard.
func (s *Server) financeCSV(w http.ResponseWriter, r *http.Request) {
	date, ok := s.financeDate(w, r)
	if !ok {
		return
	}
	if date == "" {
		s.problem(w, http.StatusBadRequest, "Bad date", "date is required (YYYY-MM-DD)")
		return
	}
	version := r.URL.Query().Get("version")
	if version != "" {
		if n, err := strconv.Atoi(version); err != nil || n < 1 {
			s.problem(w, http.StatusBadRequest, "Bad version", "version: want a whole number from 1")
			return
		}
	}
	s.ana.proxyCSV(w, r, date, version)
}

func (s *Server) headlineFragment(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("store")
	if _, err := s.cat.Store(id); err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", id))
		return
	}
	h := s.headline(r.Context(), id)
	s.render(w, "headline", page{Headline: &h})
}
