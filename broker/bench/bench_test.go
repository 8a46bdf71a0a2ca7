package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{
			name: "plain command",
			stat: "1234 (kfakeserver) S 1 1234 1 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 8 0 100 0 0",
			want: 3800 * time.Millisecond,
		},
		{
			name: "command with spaces and parentheses",
			stat: "99 (a b) (c)) R 1 99 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0",
			want: 100 * time.Millisecond,
		},
		{name: "truncated", stat: "99 (x) R 1 2 3", wantErr: true},
		{name: "no command", stat: "99 x R", wantErr: true},
		{name: "garbage utime", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1 0 0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.stat))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tkfake\nVmPeak:\t  900 kB\nVmHWM:\t   47812 kB\nVmRSS:\t   40000 kB\n"
	tests := []struct {
		name    string
		field   string
		want    int64
		wantErr bool
	}{
		{name: "VmHWM", field: "VmHWM", want: 47812 * 1024},
		{name: "VmRSS", field: "VmRSS", want: 40000 * 1024},
		{name: "missing", field: "VmSwap", wantErr: true},
		{name: "not kB", field: "Name", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatusKB(strings.NewReader(status), tc.field)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestReplaceSection(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{
			name: "middle section",
			in:   "# T\n\n## Run\nrun it\n\n## Benchmark\nold\nold\n\n## Limits\nnone\n",
			want: "# T\n\n## Run\nrun it\n\n## Benchmark\n\n| a |\n\n## Limits\nnone\n",
		},
		{
			name: "last section",
			in:   "# T\n## Benchmark\nold\n",
			want: "# T\n## Benchmark\n\n| a |\n",
		},
		{name: "no section", in: "# T\n## Other\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "README.md")
			if err := os.WriteFile(p, []byte(tc.in), 0o644); err != nil {
				t.Fatal(err)
			}
			err := replaceSection(p, "Benchmark", "| a |\n")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			got, _ := os.ReadFile(p)
			want := tc.want
			if tc.wantErr {
				want = tc.in
			}
			if string(got) != want {
				t.Fatalf("got\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestCompareAndFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"higher rate is better", compare(unitRate, 200, 100), "2.00× better"},
		{"lower rate is worse", compare(unitRate, 50, 100), "0.50× worse"},
		{"lower latency is better", compare(unitMillis, 5, 10), "2.00× better"},
		{"disk size is not compared", compare(unitDisk, 5, 10), "-"},
		{"zero is not compared", compare(unitMillis, 0, 10), "-"},
		{"thousands", format(unitRate, 1234567.4), "1,234,567"},
		{"small rate", format(unitRate, 999), "999"},
		{"bytes", format(unitBytes, 3<<20), "3.0 MiB"},
		{"median odd", format(unitMBps, median([]float64{3, 1, 2})), "2.0"},
		{"median even", format(unitMBps, median([]float64{4, 1, 2, 3})), "2.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}
