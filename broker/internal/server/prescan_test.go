package server

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tagBomb is a Metadata v12 request frame (size prefix included) whose
// body declares 2^32-1 tagged fields in five bytes.
func tagBomb() []byte {
	b := []byte{0, 0, 0, 0}
	b = kbin.AppendInt16(b, kmsg.Metadata.Int16())
	b = kbin.AppendInt16(b, 12)
	b = kbin.AppendInt32(b, 1)
	b = kbin.AppendNullableString(b, nil)
	b = append(b, 0)    // header tags
	b = append(b, 1)    // topics: empty compact array
	b = append(b, 1, 0) // allow auto create, include topic authorized ops
	b = binary.AppendUvarint(b, 1<<32-1)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestTagBombRejectedFast: a flexible request declaring billions of tagged
// fields (in the body, in a nested struct, or as an absurd compact length)
// is refused by the pre-scan in well under a millisecond of work, the
// connection is closed, and the broker goes on serving.
func TestTagBombRejectedFast(t *testing.T) {
	nested := func() []byte {
		req := produceReq(9, 1, "t", 0, makeBatch(-1, -1, -1, 1, 5))
		fr := frame(req, 1)
		// The partition struct's tag count is the byte before the topic's
		// tag count, which is before the request's (the last 3 bytes are
		// 0 0 0): replace the partition's with a huge count.
		fr = append(fr[:len(fr)-3], append(binary.AppendUvarint(nil, 1<<32-1), 0, 0)...)
		binary.BigEndian.PutUint32(fr, uint32(len(fr)-4))
		return fr
	}()
	longArray := func() []byte {
		fr := tagBomb()
		fr = fr[:len(fr)-8]
		fr = append(fr, binary.AppendUvarint(nil, 1<<31)...) // topics: 2^31-1 elements
		fr = append(fr, 1, 0, 0)
		binary.BigEndian.PutUint32(fr, uint32(len(fr)-4))
		return fr
	}()
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"body tag count", tagBomb()},
		{"nested tag count", nested},
		{"compact array length", longArray},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, _, err := decodeRequest(tc.frame[4:])
			took := time.Since(start)
			if !errors.Is(err, errMalformed) || !errors.Is(err, errPrescan) {
				t.Fatalf("decode: %v, want a pre-scan rejection", err)
			}
			t.Logf("rejected in %v: %v", took, err)
		})
	}
	b := startBroker(t, "")
	b.createTopic("t", 1, nil)
	c := dialRaw(t, b.addr)
	c.write(tagBomb())
	start := time.Now()
	c.expectClosed()
	t.Logf("connection closed %v after the tag bomb", time.Since(start))
	assertServing(t, b)
}

// TestPrescanAcceptsServedRequests: every served flexible request, as
// kmsg encodes it with its arrays populated, passes the pre-scan.
func TestPrescanAcceptsServedRequests(t *testing.T) {
	for _, key := range registeredKeys() {
		h := handlers[key]
		for v := h.min; v <= h.max; v++ {
			req := kmsg.RequestForKey(key)
			req.SetVersion(v)
			if !req.IsFlexible() {
				continue
			}
			fillRequest(req)
			body := req.AppendTo(nil)
			if err := prescan(requestTypeNames[key], v, body); err != nil {
				t.Errorf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			if _, _, err := decodeRequest(frame(req, 1)[4:]); err != nil {
				t.Errorf("%s v%d: decode: %v", kmsg.NameForKey(key), v, err)
			}
		}
	}
}

// fillRequest gives every slice of a request (nested ones too) two
// elements and every other field a non-zero value, so the encoding
// exercises the whole layout.
func fillRequest(req kmsg.Request) {
	fillValue(reflect.ValueOf(req).Elem(), 0)
}

func fillValue(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			name := v.Type().Field(i).Name
			if name == "Version" && depth == 0 || name == "UnknownTags" || !f.CanSet() {
				continue
			}
			fillValue(f, depth+1)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(3)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(3)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.String:
		v.SetString("fill")
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("bytes"))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fillValue(v.Index(i), depth+1)
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fillValue(v.Index(i), depth+1)
		}
	}
}

// FuzzPrescan checks the pre-scan against kmsg on arbitrary bodies of every
// served flexible request: it never refuses a body kmsg decodes (no false
// rejection of a valid request), and a body it accepts kmsg decodes
// without looping past its end (a hang here fails the fuzzer).
func FuzzPrescan(f *testing.F) {
	for _, key := range registeredKeys() {
		h := handlers[key]
		req := kmsg.RequestForKey(key)
		req.SetVersion(h.max)
		if !req.IsFlexible() {
			continue
		}
		fillRequest(req)
		f.Add(uint8(key), uint8(h.max), req.AppendTo(nil))
	}
	f.Add(uint8(3), uint8(12), []byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, k, v uint8, body []byte) {
		key, version := int16(k%64), int16(v%20)
		h, ok := handlers[key]
		if !ok || version < h.min || version > h.max {
			return
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if !req.IsFlexible() {
			return
		}
		err := prescan(requestTypeNames[key], version, body)
		if err != nil && !errors.Is(err, errPrescan) {
			t.Fatalf("error %v does not wrap errPrescan", err)
		}
		if errors.Is(err, errTagCount) || (err != nil && hugeUvarint(body)) {
			// kmsg itself would loop over the declared count; a tag count
			// above half the remaining bytes can never decode (a tagged
			// field takes two bytes at least).
			return
		}
		kerr := req.ReadFrom(body)
		if err != nil && kerr == nil {
			t.Fatalf("%s v%d: pre-scan refused a body kmsg decodes: %v", kmsg.NameForKey(key), version, err)
		}
	})
}
