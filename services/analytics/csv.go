package analytics

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/freshmart/platform/schemas"
)

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{
	"report_date", "version", "store_id", "department",
	"sales_count", "voided_count", "items_sold", "gross_usd", "voided_usd", "net_usd",
	"prior_day", "prior_day_net_usd", "change_vs_prior_day_usd", "change_vs_prior_day_pct",
	"prior_week", "prior_week_net_usd", "change_vs_prior_week_usd", "change_vs_prior_week_pct",
}

// WriteCSV writes the report as CSV: the header row, then one row per store and department
// (stores by id, departments in the report's order). Money is in dollars with two decimals
// ("1234.50", "-0.75"); a comparison with no data leaves its four cells empty, and a percentage
// with no base leaves its cell empty.
func WriteCSV(w io.Writer, r schemas.DailySalesReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	version := strconv.FormatInt(r.Version, 10)
	for _, s := range r.Stores {
		for _, d := range s.Departments {
			f := d.SalesFigures
			row := []string{r.ReportDate, version, s.StoreID, d.Department,
				strconv.FormatInt(f.SalesCount, 10), strconv.FormatInt(f.VoidedCount, 10), strconv.FormatInt(f.ItemsSold, 10),
				Dollars(f.GrossCents), Dollars(f.VoidedCents), Dollars(f.NetCents)}
			row = append(row, changeCells(d.VsPriorDay)...)
			row = append(row, changeCells(d.VsPriorWeek)...)
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func changeCells(c *schemas.NetChange) []string {
	if c == nil {
		return []string{"", "", "", ""}
	}
	pct := ""
	if c.ChangePct != nil {
		pct = strconv.FormatFloat(*c.ChangePct, 'f', 1, 64)
	}
	return []string{c.Date, Dollars(c.NetCents), Dollars(c.ChangeCents), pct}
}

// Dollars formats cents as dollars with two decimals: 123456 is "1234.56", -5 is "-0.05".
func Dollars(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign, u = "-", uint64(-cents)
	}
	frac := u % 100
	s := sign + strconv.FormatUint(u/100, 10) + "."
	if frac < 10 {
		s += "0"
	}
	return s + strconv.FormatUint(frac, 10)
}
