package main

import (
	"testing"
)

func TestParseTopics(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    map[string]int32 // name -> partitions
		wantErr bool
	}{
		{name: "empty", spec: "", want: map[string]int32{}},
		{name: "list", spec: "bench:6, other:1", want: map[string]int32{"bench": 6, "other": 1}},
		{name: "freshmart", spec: "freshmart", want: map[string]int32{
			"pos-sales": 12, "inventory-updates": 12, "customer-complaints": 12, "vendor-deliveries": 12,
			"display-updates": 12, "store-alerts": 12, "daily-sales-report": 1, "purchasing": 12, "loyalty": 12,
		}},
		{name: "no partitions", spec: "bench", wantErr: true},
		{name: "zero partitions", spec: "bench:0", wantErr: true},
		{name: "not a number", spec: "bench:six", wantErr: true},
		{name: "no name", spec: ":3", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defs, err := parseTopics(tc.spec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			got := map[string]int32{}
			for _, d := range defs {
				got[d.name] = d.partitions
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for name, p := range tc.want {
				if got[name] != p {
					t.Errorf("topic %s: %d partitions, want %d (all: %v)", name, got[name], p, got)
				}
			}
		})
	}
}

func TestFreshMartTopicsKeepRetention(t *testing.T) {
	defs, err := freshmartTopics()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		v, ok := d.configs["retention.ms"]
		if !ok || v == nil || *v == "" {
			t.Errorf("topic %s: no retention.ms config", d.name)
		}
	}
}
