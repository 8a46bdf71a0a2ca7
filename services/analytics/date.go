// Package analytics holds the rules of FreshMart's sales warehouse, with no database, broker or
// HTTP in them (the wiring is services/analytics/app):
//
//   - business days: a sale belongs to the day of its occurred_at in its store's own time zone
//     (Date, DateOf); a store's nightly job at its close loads the day that just ended
//     (ClosedDay);
//   - the ledger: what the fact table must hold for a set of sale.completed and sale.voided
//     events, whatever their order (Ledger): one line per sale line, a copy of a sale counted
//     once, a void marking its sale's lines voided whether it came before or after the sale;
//   - the daily report: figures per store, per department and chain-wide, and the change in
//     net sales against the day before and the same weekday a week earlier (BuildReport,
//     Change), and its CSV form (WriteCSV, Dollars).
package analytics

import (
	"fmt"
	"time"
)

// Date is a calendar day: a business day, counted in some store's time zone. The zero Date is
// 1970-01-01. Dates compare with ==, < and >.
type Date int32

// NewDate returns the date y-m-d (normalised as time.Date does: month 13 is January of y+1).
func NewDate(y int, m time.Month, d int) Date {
	return Date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// ParseDate reads "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateFromTime(t), nil
}

// DateOf returns the day of t on the wall clock of loc: the business date of a sale at t in a
// store of that zone.
func DateOf(t time.Time, loc *time.Location) Date {
	return DateFromTime(t.In(loc))
}

// DateFromTime returns the calendar day t shows in its own location (a date scanned from
// Postgres is midnight UTC of that day).
func DateFromTime(t time.Time) Date {
	y, m, d := t.Date()
	return NewDate(y, m, d)
}

// ClosedDay returns the business day that ended last before slot in loc: the day a store's
// nightly job scheduled shortly after its midnight loads (slot 00:05 on 2 December gives
// 1 December).
func ClosedDay(slot time.Time, loc *time.Location) Date {
	return DateOf(slot, loc).AddDays(-1)
}

// Time returns midnight UTC of the day: how the day is handed to Postgres as a date.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String returns "YYYY-MM-DD".
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// Key returns the day as the number YYYYMMDD, the date_key of the star schema.
func (d Date) Key() int {
	y, m, day := d.Time().Date()
	return y*10000 + int(m)*100 + day
}

// AddDays returns the day n days later (earlier for n < 0).
func (d Date) AddDays(n int) Date { return d + Date(n) }

// Weekday returns the day of the week.
func (d Date) Weekday() time.Weekday { return d.Time().Weekday() }

// Start returns the first instant of the day on the wall clock of loc (its midnight), and End
// the first instant of the next day: the day is [Start, End), 23 or 25 hours long across a
// daylight-saving change.
func (d Date) Start(loc *time.Location) time.Time {
	y, m, day := d.Time().Date()
	return time.Date(y, m, day, 0, 0, 0, 0, loc)
}

// End returns the Start of the next day.
func (d Date) End(loc *time.Location) time.Time { return d.AddDays(1).Start(loc) }

// Dates returns the days from..to, both included, in order (none when to is before from).
func Dates(from, to Date) []Date {
	var out []Date
	for d := from; d <= to; d++ {
		out = append(out, d)
	}
	return out
}
