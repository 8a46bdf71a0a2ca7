package broker

import (
	"testing"
)

func TestDefaultTopics(t *testing.T) {
	defs, err := DefaultTopics()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		partitions int32
		retention  string
	}{
		"pos-sales":           {12, "-1"},
		"inventory-updates":   {12, "-1"},
		"customer-complaints": {12, "-1"},
		"vendor-deliveries":   {12, "-1"},
		"display-updates":     {12, "604800000"},
		"store-alerts":        {12, "7776000000"},
		"daily-sales-report":  {1, "-1"},
		"purchasing":          {12, "-1"},
		"loyalty":             {12, "-1"},
	}
	if len(defs) != len(want) {
		t.Fatalf("%d topics, want %d", len(defs), len(want))
	}
	for _, d := range defs {
		w, ok := want[d.Name]
		if !ok || d.Partitions != w.partitions || d.Configs["retention.ms"] != w.retention {
			t.Fatalf("unexpected definition %+v", d)
		}
	}
}

func TestParseTopicsObjectForm(t *testing.T) {
	defs, err := ParseTopics([]byte(`{"topics":[{"name":"a","partitions":2}]}`))
	if err != nil || len(defs) != 1 || defs[0].Name != "a" || defs[0].Partitions != 2 {
		t.Fatalf("%+v %v", defs, err)
	}
}

func TestParseTopicsRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, json string
	}{
		{"not json", `{`},
		{"bad name", `{"topics":[{"name":"a b","partitions":1}]}`},
		{"no partitions", `{"topics":[{"name":"a","partitions":0}]}`},
		{"duplicate", `{"topics":[{"name":"a","partitions":1},{"name":"a","partitions":1}]}`},
		{"not a list", `{"topics":{"name":"a"}}`},
		{"bad config", `{"topics":[{"name":"a","partitions":1,"configs":{"retention.ms":"x"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseTopics([]byte(tt.json)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
