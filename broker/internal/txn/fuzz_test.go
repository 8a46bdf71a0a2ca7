package txn

import (
	"testing"
)

// FuzzStateLog feeds arbitrary bytes to the state log decoder: it never
// panics, and what it accepts survives a re-encode.
func FuzzStateLog(f *testing.F) {
	good, _ := appendFrame(nil, record{ID: "a", ProducerID: 3, Epoch: 1, TimeoutMs: 1000, State: Ongoing,
		Partitions: map[string][]int32{"t": {0, 1}}, Groups: map[string][]Offset{"g": {{Topic: "t", Offset: 4}}}})
	good, _ = appendFrame(good, record{ID: "a", Deleted: true})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0, 0, 0, 2, 1, 2, 3, 4, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n := decodeFrames(b)
		if n > len(b) {
			t.Fatalf("valid prefix %d of %d bytes", n, len(b))
		}
		var again []byte
		for _, r := range m {
			var err error
			if again, err = appendFrame(again, r); err != nil {
				t.Fatal(err)
			}
		}
		m2, n2 := decodeFrames(again)
		if n2 != len(again) || len(m2) != len(m) {
			t.Fatalf("re-encoded state decodes to %d of %d records", len(m2), len(m))
		}
	})
}
