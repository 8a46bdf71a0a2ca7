package server

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzRequest feeds arbitrary request frames (after the size prefix) to the
// decoder: it must never panic, and a frame it accepts must name a served
// key whose body decoded at that version.
func FuzzRequest(f *testing.F) {
	seed := func(req kmsg.Request) { f.Add(frame(req, 1)[4:]) }
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	seed(md)
	md0 := kmsg.NewPtrMetadataRequest()
	seed(md0)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "fuzz", "1"
	seed(av)
	avNew := kmsg.NewPtrApiVersionsRequest()
	avNew.Version = 9
	seed(avNew)
	seed(produceReq(9, -1, "t", 0, makeBatch(1, 0, 0, 2, 5)))
	seed(produceReq(3, 1, "t", 0, makeBatch(-1, -1, -1, 1, 5)))
	fr := kmsg.NewPtrFetchRequest()
	fr.Version = 16
	frt := kmsg.NewFetchRequestTopic()
	frt.Partitions = append(frt.Partitions, kmsg.NewFetchRequestTopicPartition())
	fr.Topics = append(fr.Topics, frt)
	seed(fr)
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 7
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic = "x"
	ct.Topics = append(ct.Topics, ctt)
	seed(ct)
	f.Add([]byte{})
	f.Add([]byte{0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0})
	f.Add([]byte{3, 231, 0, 0, 0, 0, 0, 1, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, b []byte) {
		// No input is skipped: the pre-scan must refuse tag bombs (a tag
		// count near 2^32) before kmsg loops over them, so none may hang.
		r, served, err := decodeRequest(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if r == nil || r.Body == nil || r.Body.Key() != r.Key {
			t.Fatalf("decoded %+v without a matching body", r)
		}
		if !served {
			// Must be answerable with an error or closed, never panic.
			unsupportedVersionResponse(r.Key, r.Version)
			return
		}
		h := handlers[r.Key]
		if r.Key != kmsg.ApiVersions.Int16() && (r.Version < h.min || r.Version > h.max) {
			t.Fatalf("served %s v%d outside %d-%d", kmsg.NameForKey(r.Key), r.Version, h.min, h.max)
		}
		if r.Version <= r.Body.MaxVersion() {
			r.Body.AppendTo(nil) // a decoded body re-encodes
		}
	})
}

// hugeUvarint reports whether b holds a run of four continuation bytes,
// the start of a uvarint of 2^28 or more.
func hugeUvarint(b []byte) bool { return continuationRun(b, 4) }

// continuationRun reports whether b holds n bytes in a row with the
// uvarint continuation bit set.
func continuationRun(b []byte, n int) bool {
	run := 0
	for _, c := range b {
		if c&0x80 == 0 {
			run = 0
			continue
		}
		if run++; run >= n {
			return true
		}
	}
	return false
}
