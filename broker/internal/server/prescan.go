package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestTypeNames maps each API key kmsg knows to its request struct's
// name, the key of prescanSchema.
var requestTypeNames = func() map[int16]string {
	m := map[int16]string{}
	for key := int16(0); key < 200; key++ {
		if r := kmsg.RequestForKey(key); r != nil {
			m[key] = reflect.TypeOf(r).Elem().Name()
		}
	}
	return m
}()

// Pre-scan of flexible requests. kmsg reads a tagged-field section by
// looping once per declared field, even after the frame has run out, so a
// request declaring 2^32 tagged fields in a few bytes costs it seconds of
// CPU. Before kmsg decodes a flexible request body, prescan walks it by
// the request's wire layout (prescanSchema, generated from kmsg's own
// struct definitions) and rejects it if any tag count needs more bytes
// than remain (each tagged field takes at least two) or any compact length
// (string, bytes, array) claims more than remain. The walk reads every
// byte at most once and allocates nothing, so a hostile frame costs time
// linear in its size; the connection is then closed and the frame logged
// as malformed.

// prescanField is one non-tagged field of a request struct: its Go type
// as kmsg declares it and the versions that carry it (max -1: open).
type prescanField struct {
	name, typ string
	min, max  int
}

// errPrescan marks a frame the pre-scan refused; errTagCount (wrapping it)
// one that declares more tagged fields than its bytes can hold.
var (
	errPrescan  = errors.New("pre-scan")
	errTagCount = fmt.Errorf("%w: tag count", errPrescan)
)

type prescanner struct {
	b       []byte
	version int
}

func (p *prescanner) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s (%d bytes left)", errPrescan, fmt.Sprintf(format, args...), len(p.b))
}

func (p *prescanner) skip(n int, what string) error {
	if n < 0 || n > len(p.b) {
		return p.fail("%s of %d bytes", what, n)
	}
	p.b = p.b[n:]
	return nil
}

func (p *prescanner) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(p.b)
	if n <= 0 || n > 5 {
		return 0, p.fail("bad uvarint for %s", what)
	}
	p.b = p.b[n:]
	return v, nil
}

// compactLen reads a compact length (n+1, 0 = null) and checks n bytes
// (at least one per element for arrays) remain.
func (p *prescanner) compactLen(what string) (int, error) {
	v, err := p.uvarint(what)
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, nil
	}
	if v-1 > uint64(len(p.b)) {
		return 0, p.fail("%s of length %d", what, v-1)
	}
	return int(v - 1), nil
}

// tags skips a tagged-field section.
func (p *prescanner) tags(where string) error {
	n, err := p.uvarint(where + " tag count")
	if err != nil {
		return err
	}
	if n > uint64(len(p.b))/2 {
		return fmt.Errorf("%w: %s declares %d tagged fields in %d bytes", errTagCount, where, n, len(p.b))
	}
	for ; n > 0; n-- {
		if _, err := p.uvarint(where + " tag key"); err != nil {
			return err
		}
		size, err := p.uvarint(where + " tag size")
		if err != nil {
			return err
		}
		if size > uint64(len(p.b)) {
			return p.fail("%s tagged field of %d bytes", where, size)
		}
		p.b = p.b[size:]
	}
	return nil
}

var fixedSizes = map[string]int{
	"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
	"int64": 8, "uint64": 8, "float64": 8, "[16]byte": 16,
}

// value skips one value of Go type typ.
func (p *prescanner) value(typ, where string) error {
	if n, ok := fixedSizes[typ]; ok {
		return p.skip(n, where)
	}
	switch typ {
	case "string", "*string", "[]byte":
		n, err := p.compactLen(where)
		if err != nil {
			return err
		}
		return p.skip(n, where)
	}
	if elem, ok := strings.CutPrefix(typ, "[]"); ok {
		n, err := p.compactLen(where)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := p.value(elem, where); err != nil {
				return err
			}
		}
		return nil
	}
	if elem, ok := strings.CutPrefix(typ, "*"); ok {
		// A nullable struct: int8 -1 for null, else the struct.
		if len(p.b) < 1 {
			return p.fail("%s presence", where)
		}
		present := int8(p.b[0]) >= 0
		p.b = p.b[1:]
		if !present {
			return nil
		}
		typ = elem
	}
	fields, ok := prescanSchema[typ]
	if !ok {
		return fmt.Errorf("%w: no layout for %s", errPrescan, typ)
	}
	return p.fields(typ, fields)
}

func (p *prescanner) fields(name string, fields []prescanField) error {
	for _, f := range fields {
		if p.version < f.min || (f.max >= 0 && p.version > f.max) {
			continue
		}
		if err := p.value(f.typ, name+"."+f.name); err != nil {
			return err
		}
	}
	return p.tags(name)
}

// prescan checks the body of a flexible request of type name at version
// (see the top of this file); it returns an error wrapping errPrescan.
func prescan(name string, version int16, body []byte) error {
	fields, ok := prescanSchema[name]
	if !ok {
		return nil // not served: decoded by kmsg only for an error answer
	}
	p := prescanner{b: body, version: int(version)}
	return p.fields(name, fields)
}
