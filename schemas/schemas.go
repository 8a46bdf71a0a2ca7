// Package schemas holds the JSON Schema (draft 2020-12) of every FreshMart event type and
// validates event payloads against them.
//
// The schema files (<type>.json next to this file) are the source of truth for the event
// contract: producers validate every payload before it reaches the broker. The schemas are
// embedded and compiled once, on first use; format keywords (uuid, date-time, date) are
// asserted, not just annotated.
package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed *.json
var files embed.FS

// baseURL is the $id prefix of every schema file.
const baseURL = "https://schemas.freshmart.example/"

// ErrUnknownType is returned by Validate and Schema for an event type without a schema.
var ErrUnknownType = errors.New("unknown event type")

// FieldError is one problem with one field of a payload.
type FieldError struct {
	// Field names the offending value in the style `lines[2].sku`; empty for the payload itself.
	Field string `json:"field"`
	// Message says what is wrong, in English.
	Message string `json:"message"`
}

// ValidationError is returned by Validate when a payload does not satisfy its schema. It lists
// every offending field, so an HTTP API can report them all at once.
type ValidationError struct {
	// Type is the event type the payload was checked against.
	Type string
	// Fields holds one entry per problem, ordered by field name.
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		if f.Field == "" {
			parts = append(parts, f.Message)
			continue
		}
		parts = append(parts, f.Field+": "+f.Message)
	}
	return fmt.Sprintf("invalid %s payload: %s", e.Type, strings.Join(parts, "; "))
}

// ErrSyntax is wrapped by the error Validate returns for bytes that are not JSON.
var ErrSyntax = errors.New("malformed JSON")

type compiled struct {
	byType map[string]*jsonschema.Schema
	types  []string
	err    error
}

var load = sync.OnceValue(func() *compiled {
	c := &compiled{byType: map[string]*jsonschema.Schema{}}
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		c.err = fmt.Errorf("schemas: list embedded files: %w", err)
		return c
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	for _, name := range names {
		raw, err := files.ReadFile(name)
		if err != nil {
			c.err = fmt.Errorf("schemas: read %s: %w", name, err)
			return c
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			c.err = fmt.Errorf("schemas: parse %s: %w", name, err)
			return c
		}
		if err := comp.AddResource(baseURL+name, doc); err != nil {
			c.err = fmt.Errorf("schemas: add %s: %w", name, err)
			return c
		}
	}
	for _, name := range names {
		typ := strings.TrimSuffix(name, ".json")
		sch, err := comp.Compile(baseURL + name)
		if err != nil {
			c.err = fmt.Errorf("schemas: compile %s: %w", name, err)
			return c
		}
		c.byType[typ] = sch
		c.types = append(c.types, typ)
	}
	slices.Sort(c.types)
	return c
})

// Types returns every event type that has a schema, sorted.
func Types() []string {
	c := load()
	return slices.Clone(c.types)
}

// Known reports whether eventType has a schema.
func Known(eventType string) bool {
	_, ok := load().byType[eventType]
	return ok
}

// Raw returns the schema document of eventType as stored (JSON).
func Raw(eventType string) ([]byte, error) {
	if !Known(eventType) {
		return nil, fmt.Errorf("schemas: %q: %w", eventType, ErrUnknownType)
	}
	return files.ReadFile(eventType + ".json")
}

// Err reports whether the embedded schemas failed to compile (nil when they are all usable).
func Err() error { return load().err }

// Validate checks value (a JSON document) against the schema of eventType. It returns nil when
// the payload is valid, an error wrapping ErrUnknownType for a type without a schema, an error
// wrapping ErrSyntax for bytes that are not JSON, and a *ValidationError naming each bad field
// otherwise.
func Validate(eventType string, value []byte) error {
	c := load()
	if c.err != nil {
		return c.err
	}
	sch, ok := c.byType[eventType]
	if !ok {
		return fmt.Errorf("schemas: %q: %w", eventType, ErrUnknownType)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("schemas: %s payload: %w: %v", eventType, ErrSyntax, err)
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("schemas: validate %s: %w", eventType, err)
	}
	out := &ValidationError{Type: eventType}
	seen := map[FieldError]bool{}
	collect(ve, printer, func(f FieldError) {
		if !seen[f] {
			seen[f] = true
			out.Fields = append(out.Fields, f)
		}
	})
	slices.SortStableFunc(out.Fields, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	if len(out.Fields) == 0 {
		out.Fields = []FieldError{{Message: ve.Error()}}
	}
	return out
}

var printer = message.NewPrinter(language.English)

// collect walks the error tree and reports its leaves, turning "missing property" and
// "additional property" errors into errors on the named child field.
func collect(ve *jsonschema.ValidationError, p *message.Printer, emit func(FieldError)) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(c, p, emit)
		}
		return
	}
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			emit(FieldError{Field: FieldPath(append(slices.Clone(ve.InstanceLocation), m)), Message: "is required"})
		}
	case *kind.AdditionalProperties:
		for _, m := range k.Properties {
			emit(FieldError{Field: FieldPath(append(slices.Clone(ve.InstanceLocation), m)), Message: "is not allowed"})
		}
	default:
		emit(FieldError{Field: FieldPath(ve.InstanceLocation), Message: ve.ErrorKind.LocalizedString(p)})
	}
}

// FieldPath renders a JSON instance location (["lines", "2", "sku"]) in the dotted style used
// in API error reports ("lines[2].sku").
func FieldPath(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}
