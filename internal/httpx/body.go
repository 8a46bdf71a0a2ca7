package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBody is the default request body limit (1 MiB).
const MaxBody = 1 << 20

// ReadBody reads the request body after checking that it is JSON (Content-Type
// application/json or a +json type; charset utf-8 allowed) and at most limit bytes (MaxBody
// when limit <= 0). Errors wrap ErrUnsupportedMediaType, ErrTooLarge or ErrMalformed (empty
// body).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxBody
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: limit %d bytes", ErrTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: reading body: %v", ErrMalformed, err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	return body, nil
}

func checkJSONContentType(ct string) error {
	if ct == "" {
		return fmt.Errorf("%w (none given)", ErrUnsupportedMediaType)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%w (got %q)", ErrUnsupportedMediaType, ct)
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return fmt.Errorf("%w (got %q)", ErrUnsupportedMediaType, mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("%w (charset %q; only utf-8)", ErrUnsupportedMediaType, cs)
	}
	return nil
}

// Decode unmarshals one JSON object from body into v, refusing unknown fields and trailing
// data. Syntax errors wrap ErrMalformed; a value of the wrong type or an unknown field is a
// *FieldErrors naming the field.
func Decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	return nil
}

func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Errorf("%w: the body must be a JSON %s, not %s", ErrMalformed, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return &FieldErrors{{Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &FieldErrors{{Field: name, Message: "is not a known field"}}
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	default:
		return "a " + goKind
	}
}
