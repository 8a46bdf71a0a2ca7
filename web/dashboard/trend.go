package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// The finance page's line chart, rendered on the server as inline SVG (no chart library):
// one line per series over a run of days, broken where a day has no value, a dot per value
// with a tooltip, and a money axis with round steps.

// seriesColors is how many colours the stylesheet has for series (.series-0 …).
const seriesColors = 8

// lineSeries is one line of the chart: Values has one entry per day, nil where the day has
// no value.
type lineSeries struct {
	Key    string // e.g. the store id, as data-key
	Name   string
	Class  string // its colour, e.g. "series-0"
	Values []*int64
}

// lineChartInput is what lineChart draws.
type lineChartInput struct {
	Days    []string // YYYY-MM-DD, as data-day of the dots
	Labels  []string // the x axis' labels, one per day
	Series  []lineSeries
	Current int // the index of the day to emphasise; -1 for none
	Aria    string
}

// The chart's geometry, in viewBox units.
const (
	trendW, trendH              = 1000.0, 300.0
	trendLeft, trendRight       = 70.0, 36.0
	trendTop, trendBottom       = 14.0, 30.0
	trendTicks                  = 4
	trendDot                    = 3.5
	trendMinTopCents      int64 = 100 // an axis of at least $1, so zeros sit on the floor
)

// niceStep returns the smallest step of 1, 2, 2.5 or 5 times a power of ten, in cents and at
// least one cent, such that ticks steps cover top.
func niceStep(top int64, ticks int) int64 {
	if top <= 0 || ticks <= 0 {
		return 1
	}
	raw := float64(top) / float64(ticks)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step := m * mag; step >= raw {
			return max(1, int64(math.Ceil(step)))
		}
	}
	return max(1, int64(math.Ceil(10*mag)))
}

// axisMoney labels the money axis: whole dollars without cents ("$1,500"), else money.
func axisMoney(cents int64) string {
	if cents%100 == 0 {
		return "$" + count(cents/100)
	}
	return money(cents)
}

// lineChart renders the chart as an <svg> element, or "" when no series has a value. Every
// piece of text in it is escaped.
func lineChart(in lineChartInput) template.HTML {
	n := len(in.Days)
	var top int64
	points := 0
	for _, s := range in.Series {
		for _, v := range s.Values {
			if v != nil {
				top = max(top, *v)
				points++
			}
		}
	}
	if n == 0 || points == 0 {
		return ""
	}
	step := niceStep(max(top, trendMinTopCents), trendTicks)
	axisTop := step * trendTicks
	plotW, plotH := trendW-trendLeft-trendRight, trendH-trendTop-trendBottom
	x := func(i int) float64 {
		if n == 1 {
			return trendLeft + plotW/2
		}
		return trendLeft + plotW*float64(i)/float64(n-1)
	}
	y := func(c int64) float64 { return trendTop + plotH*(1-float64(max(c, 0))/float64(axisTop)) }
	esc := html.EscapeString

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" id="net-chart" viewBox="0 0 %g %g" role="img" aria-label="%s" data-axis-top="%d">`,
		trendW, trendH, esc(in.Aria), axisTop)
	b.WriteString(`<g class="grid">`)
	for t := 0; t <= trendTicks; t++ {
		c := step * int64(t)
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f"></line><text class="ylab" x="%g" y="%.1f">%s</text>`,
			trendLeft, trendW-trendRight, y(c), y(c), trendLeft-8, y(c)+4, esc(axisMoney(c)))
	}
	b.WriteString(`</g><g class="xlabels">`)
	for i := range n {
		label := ""
		if i < len(in.Labels) {
			label = in.Labels[i]
		}
		cls := "xlab"
		if i == in.Current {
			cls += " current"
		}
		fmt.Fprintf(&b, `<text class="%s" x="%.1f" y="%g">%s</text>`, cls, x(i), trendH-10, esc(label))
	}
	b.WriteString(`</g>`)
	for _, s := range in.Series {
		var d strings.Builder
		prev := false
		for i, v := range s.Values {
			if v == nil || i >= n {
				prev = false
				continue
			}
			cmd := "L"
			if !prev {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(i), y(*v))
			prev = true
		}
		fmt.Fprintf(&b, `<g class="series %s" data-key="%s"><path d="%s"></path>`, esc(s.Class), esc(s.Key), strings.TrimSpace(d.String()))
		for i, v := range s.Values {
			if v == nil || i >= n {
				continue
			}
			label := in.Days[i]
			if i < len(in.Labels) {
				label = in.Labels[i]
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%g" data-day="%s" data-net="%d"><title>%s · %s: %s</title></circle>`,
				x(i), y(*v), trendDot, esc(in.Days[i]), *v, esc(s.Name), esc(label), esc(money(*v)))
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built above from escaped text and numbers
}
