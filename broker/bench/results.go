package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// unit says how a row's figures are printed and which direction is better.
type unit int

const (
	unitRate   unit = iota // records/s, higher is better
	unitMBps               // MB/s, higher is better
	unitMicros             // microseconds, lower is better
	unitMillis             // milliseconds, lower is better
	unitBytes              // bytes, lower is better
	unitDisk               // bytes on disk: shown, not compared
)

func (u unit) higherIsBetter() bool { return u == unitRate || u == unitMBps }

// Row names that are not built from a phase name.
const (
	rowLatP50 = "end-to-end latency p50 (100 B at %d records/s)"
	rowLatP99 = "end-to-end latency p99 (100 B at %d records/s)"
	rowLatCPU = "broker CPU per record, latency run"
	rowRSS    = "broker peak RSS (VmHWM)"
	rowDisk   = "data directory size at the end"
)

// results collects every figure per target, in the order rows appear.
type results struct {
	targets []*target
	rows    []string
	units   map[string]unit
	values  map[string]map[*target][]float64
}

func newResults(ts []*target) *results {
	return &results{targets: ts, units: map[string]unit{}, values: map[string]map[*target][]float64{}}
}

func (r *results) add(t *target, row string, u unit, v float64) {
	if _, ok := r.units[row]; !ok {
		r.rows = append(r.rows, row)
		r.units[row] = u
		r.values[row] = map[*target][]float64{}
	}
	r.values[row][t] = append(r.values[row][t], v)
}

// set records a figure measured once per run (not per round).
func (r *results) set(t *target, row string, u unit, v float64) { r.add(t, row, u, v) }

func (r *results) addThroughput(t *target, phase string, p throughput) {
	r.add(t, phase+", records/s", unitRate, p.recordsPerSec())
	r.add(t, phase+", MB/s", unitMBps, p.mbPerSec())
	r.add(t, "broker CPU per record, "+phase, unitMicros, float64(p.cpuPerRecord())/float64(time.Microsecond))
}

func (r *results) addLatency(t *target, l latencyResult) {
	r.add(t, fmt.Sprintf(rowLatP50, l.rate), unitMillis, float64(l.quantile(0.50))/float64(time.Millisecond))
	r.add(t, fmt.Sprintf(rowLatP99, l.rate), unitMillis, float64(l.quantile(0.99))/float64(time.Millisecond))
	r.add(t, rowLatCPU, unitMicros, float64(l.cpu)/float64(time.Microsecond)/float64(l.sent))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func format(u unit, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch u {
	case unitRate:
		return thousands(int64(math.Round(v)))
	case unitMBps:
		return fmt.Sprintf("%.1f", v)
	case unitMicros:
		return fmt.Sprintf("%.2f µs", v)
	case unitMillis:
		return fmt.Sprintf("%.1f ms", v)
	case unitBytes, unitDisk:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprint(v)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// table renders the figures as a Markdown table, with a last column
// comparing the first target against the second when there are two.
func (r *results) table(c config) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs, %s, %s), %d round(s), median per figure.\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version(), c.rounds)
	fmt.Fprintf(&b, "6 partitions, acks=all, franz-go idempotent producer (10 ms linger, random values, no compression) and consumer, throughput runs of %v each.\n", c.produceTime)
	b.WriteString("freshmart-broker at its default durability (fsync before every acks=all answer); kfake with DataDir + SyncWrites.\n\n")
	b.WriteString("| figure |")
	for _, t := range r.targets {
		fmt.Fprintf(&b, " %s |", t.name)
	}
	cmp := len(r.targets) == 2
	if cmp {
		fmt.Fprintf(&b, " %s vs %s |", r.targets[0].name, r.targets[1].name)
	}
	b.WriteString("\n|---|")
	for range r.targets {
		b.WriteString("--:|")
	}
	if cmp {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	for _, row := range r.rows {
		u := r.units[row]
		fmt.Fprintf(&b, "| %s |", row)
		meds := make([]float64, len(r.targets))
		for i, t := range r.targets {
			meds[i] = median(r.values[row][t])
			fmt.Fprintf(&b, " %s |", format(u, meds[i]))
		}
		if cmp {
			fmt.Fprintf(&b, " %s |", compare(u, meds[0], meds[1]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// compare says how the first figure fares against the second: a factor > 1
// is better, whatever the direction of the unit.
func compare(u unit, a, b float64) string {
	if u == unitDisk || math.IsNaN(a) || math.IsNaN(b) || a <= 0 || b <= 0 {
		return "-"
	}
	f := a / b
	if !u.higherIsBetter() {
		f = b / a
	}
	word := "better"
	if f < 1 {
		word = "worse"
	}
	return fmt.Sprintf("%.2f× %s", f, word)
}
