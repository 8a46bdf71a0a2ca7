package dashboard

import (
	"fmt"
	"html/template"
	"strconv"
)

// money formats cents as US dollars with thousands separators: 123456 -> "$1,234.56".
func money(cents int64) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	s := fmt.Sprintf("$%s.%02d", whole, cents%100)
	if neg {
		s = "-" + s
	}
	return s
}

// count formats an integer with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	start := 0
	if n < 0 {
		start = 1
	}
	for i := len(s) - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// chartRow is one bar of the department chart.
type chartRow struct {
	Y     int
	Name  string
	Width float64
	Label string
}

// chartWidth is the bars' room in the chart's viewBox.
const chartWidth = 330.0

func chart(r Revenue) []chartRow {
	var top int64
	for _, d := range r.ByDept {
		top = max(top, d.Cents)
	}
	rows := make([]chartRow, 0, len(r.ByDept))
	for i, d := range r.ByDept {
		w := 0.0
		if top > 0 && d.Cents > 0 {
			w = max(2, chartWidth*float64(d.Cents)/float64(top))
		}
		rows = append(rows, chartRow{Y: i * 28, Name: d.Name, Width: w, Label: money(d.Cents)})
	}
	return rows
}

func (s *Server) parseTemplates() error {
	t, err := template.New("").Funcs(template.FuncMap{
		"money": money,
		"count": func(n any) string {
			switch v := n.(type) {
			case int:
				return count(int64(v))
			case int64:
				return count(v)
			}
			return fmt.Sprint(n)
		},
		"chart":       chart,
		"chartHeight": func(r Revenue) int { return max(1, len(r.ByDept)) * 28 },
		"rate":        func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("dashboard: parse templates: %w", err)
	}
	s.tmpl = t
	return nil
}
