package schedule

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustSlots(t *testing.T, spec string, loc *time.Location) slots {
	t.Helper()
	p, err := parser.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := p.(*cron.SpecSchedule)
	s.Location = time.UTC
	return slots{spec: s, loc: loc}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestSlotsAcrossDST lists consecutive slots around daylight-saving changes, as instants.
func TestSlotsAcrossDST(t *testing.T) {
	la, berlin := mustLoc(t, "America/Los_Angeles"), mustLoc(t, "Europe/Berlin")
	for _, tt := range []struct {
		name string
		spec string
		loc  *time.Location
		from string
		want []string
	}{
		{"LA 23:30 across spring forward (Mar 8)", "30 23 * * *", la, "2026-03-06T12:00:00Z",
			[]string{"2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
		{"LA 23:30 across fall back (Nov 1)", "30 23 * * *", la, "2026-10-31T00:00:00Z",
			[]string{"2026-10-31T06:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T07:30:00Z"}},
		{"Berlin 23:30 across spring forward (Mar 29)", "30 23 * * *", berlin, "2026-03-28T00:00:00Z",
			[]string{"2026-03-28T22:30:00Z", "2026-03-29T21:30:00Z", "2026-03-30T21:30:00Z"}},
		{"Berlin 23:30 across fall back (Oct 25)", "30 23 * * *", berlin, "2026-10-24T00:00:00Z",
			[]string{"2026-10-24T21:30:00Z", "2026-10-25T22:30:00Z"}},
		// 02:30 does not exist on Mar 8 in Los Angeles: it runs at 03:30 PDT.
		{"LA 02:30 in the skipped hour", "30 2 * * *", la, "2026-03-07T00:00:00Z",
			[]string{"2026-03-07T10:30:00Z", "2026-03-08T10:30:00Z", "2026-03-09T09:30:00Z"}},
		// 01:30 happens twice on Nov 1 in Los Angeles: it runs at the first (PDT) only.
		{"LA 01:30 in the repeated hour", "30 1 * * *", la, "2026-10-31T00:00:00Z",
			[]string{"2026-10-31T08:30:00Z", "2026-11-01T08:30:00Z", "2026-11-02T09:30:00Z"}},
		// Berlin: 02:30 does not exist on Mar 29 (runs at 03:30 CEST) and happens twice on Oct 25.
		{"Berlin 02:30 in the skipped hour", "30 2 * * *", berlin, "2026-03-28T00:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"}},
		{"Berlin 02:30 in the repeated hour", "30 2 * * *", berlin, "2026-10-24T00:00:00Z",
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		// Hourly: the skipped hour's slot merges with 03:00; the repeated hour has none.
		{"LA hourly across spring forward", "0 * * * *", la, "2026-03-08T08:30:00Z",
			[]string{"2026-03-08T09:00:00Z", "2026-03-08T10:00:00Z", "2026-03-08T11:00:00Z"}},
		{"Berlin hourly across fall back", "0 * * * *", berlin, "2026-10-24T22:30:00Z",
			[]string{"2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		{"UTC weekly descriptor", "@weekly", time.UTC, "2026-11-18T00:00:00Z",
			[]string{"2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSlots(t, tt.spec, tt.loc)
			at := utc(tt.from)
			for i, w := range tt.want {
				at = s.after(at)
				if !at.Equal(utc(w)) {
					t.Fatalf("slot %d = %s (%s), want %s", i, at.UTC().Format(time.RFC3339), at, w)
				}
				if at.Location() != tt.loc {
					t.Errorf("slot %s not in %s", at, tt.loc)
				}
			}
		})
	}
}

func TestLatestSince(t *testing.T) {
	la := mustLoc(t, "America/Los_Angeles")
	s := mustSlots(t, "30 23 * * *", la)
	now := utc("2026-03-12T12:00:00Z")
	if at, ok := s.latestSince(utc("2026-03-01T00:00:00Z"), now); !ok || !at.Equal(utc("2026-03-12T06:30:00Z")) {
		t.Errorf("latest daily slot = %s %v", at, ok)
	}
	if _, ok := s.latestSince(utc("2026-03-12T06:30:00Z"), now); ok {
		t.Error("found a slot after the latest one")
	}
	minutely := mustSlots(t, "* * * * *", time.UTC)
	if at, ok := minutely.latestSince(utc("2020-01-01T00:00:00Z"), utc("2026-03-12T12:00:30Z")); !ok || !at.Equal(utc("2026-03-12T12:00:00Z")) {
		t.Errorf("latest minutely slot = %s %v", at, ok)
	}
	yearly := mustSlots(t, "@yearly", time.UTC)
	if at, ok := yearly.latestSince(utc("2025-06-01T00:00:00Z"), utc("2026-03-12T12:00:00Z")); !ok || !at.Equal(utc("2026-01-01T00:00:00Z")) {
		t.Errorf("latest yearly slot = %s %v", at, ok)
	}
}
