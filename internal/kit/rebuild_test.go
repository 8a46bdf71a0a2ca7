package kit

import (
	"fmt"
	"slices"
	"testing"
)

func TestDiffCompare(t *testing.T) {
	var d Diff
	d.Compare("row", map[string]string{"a": "1", "b": "2", "c": "3"}, map[string]string{"a": "1", "b": "20", "d": "4"})
	want := []string{`row b: live "2", rebuilt "20"`, `row c: live "3", rebuilt ""`, `row d: live "", rebuilt "4"`}
	if shown, total := d.Differences(); total != 3 || !slices.Equal(shown, want) {
		t.Fatalf("got %d %q, want %q", total, shown, want)
	}
	// Without a kind, and past the lines kept: every difference is counted.
	var many Diff
	live, rebuilt := map[string]string{}, map[string]string{}
	for i := range 120 {
		live[fmt.Sprintf("k%03d", i)] = "x"
	}
	many.Compare("", live, rebuilt)
	many.Add("one more")
	if shown, total := many.Differences(); total != 121 || len(shown) != diffShown || shown[0] != `k000: live "x", rebuilt ""` {
		t.Fatalf("got %d differences, %d shown, first %q", total, len(shown), shown[0])
	}
	var none Diff
	none.Compare("row", map[string]string{"a": "1"}, map[string]string{"a": "1"})
	if _, total := none.Differences(); total != 0 {
		t.Fatalf("equal views: %d differences", total)
	}
}
