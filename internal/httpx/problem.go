// Package httpx holds the HTTP plumbing every FreshMart service shares: RFC 9457
// problem+json answers with field errors, request body limits and JSON decoding that names the
// bad field, the /healthz /readyz /metrics endpoints, request logging and panic recovery, and
// a server that shuts down gracefully.
//
// Handlers report failures by returning errors to Error, which maps error kinds to status
// codes in one place:
//
//	*FieldErrors, *schemas.ValidationError  422 with "errors": [{"field", "message"}]
//	ErrMalformed                             400
//	ErrTooLarge                              413
//	ErrUnsupportedMediaType                  415
//	ErrNotFound, catalog.ErrNotFound         404
//	events.ErrUnavailable                    503 with Retry-After
//	anything else                            500 (details logged, not shown)
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// ProblemContentType is the media type of error answers.
const ProblemContentType = "application/problem+json"

// RetryAfterSeconds is the Retry-After sent with 503 answers.
const RetryAfterSeconds = 5

// Sentinel errors mapped to status codes by Error.
var (
	// ErrMalformed: the body is not one well-formed JSON value (400).
	ErrMalformed = errors.New("malformed JSON")
	// ErrTooLarge: the body exceeds the limit (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrUnsupportedMediaType: the body is not JSON (415).
	ErrUnsupportedMediaType = errors.New("content type must be application/json")
	// ErrNotFound: the addressed resource does not exist (404).
	ErrNotFound = errors.New("not found")
)

// FieldError is one invalid field of a request.
type FieldError struct {
	// Field locates the value, e.g. "lines[2].sku" or the query parameter name.
	Field string `json:"field"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// FieldErrors is an error listing every invalid field of a request (422).
type FieldErrors []FieldError

func (fe *FieldErrors) Error() string {
	parts := make([]string, len(*fe))
	for i, f := range *fe {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid fields: " + strings.Join(parts, "; ")
}

// Add appends a field error; Err returns the list as an error, or nil when it is empty.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns fe as an error, or nil when it holds no errors.
func (fe *FieldErrors) Err() error {
	if fe == nil || len(*fe) == 0 {
		return nil
	}
	return fe
}

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// Checks is the outcome of every readiness check, in a /readyz answer.
	Checks map[string]string `json:"checks,omitempty"`
}

// WriteProblem answers p as application/problem+json. Type defaults to "about:blank" and
// Title to the status text.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p) //nolint:errchkjson // the client may be gone; nothing to do
}

// ProblemFor returns the problem answer for err (see the package documentation).
func ProblemFor(err error) Problem {
	var fe *FieldErrors
	var ve *schemas.ValidationError
	switch {
	case errors.As(err, &fe):
		return Problem{Status: http.StatusUnprocessableEntity, Title: "Invalid request", Detail: "some fields are invalid; see errors", Errors: *fe}
	case errors.As(err, &ve):
		p := Problem{Status: http.StatusUnprocessableEntity, Title: "Invalid request", Detail: "some fields are invalid; see errors"}
		for _, f := range ve.Fields {
			p.Errors = append(p.Errors, FieldError{Field: f.Field, Message: f.Message})
		}
		return p
	case errors.Is(err, ErrMalformed), errors.Is(err, schemas.ErrSyntax):
		return Problem{Status: http.StatusBadRequest, Title: "Malformed JSON", Detail: err.Error()}
	case errors.Is(err, ErrTooLarge):
		return Problem{Status: http.StatusRequestEntityTooLarge, Title: "Request body too large", Detail: err.Error()}
	case errors.Is(err, ErrUnsupportedMediaType):
		return Problem{Status: http.StatusUnsupportedMediaType, Title: "Unsupported media type", Detail: err.Error()}
	case errors.Is(err, ErrNotFound), errors.Is(err, catalog.ErrNotFound):
		return Problem{Status: http.StatusNotFound, Title: "Not found", Detail: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return Problem{Status: http.StatusServiceUnavailable, Title: "Timed out",
			Detail: "the request could not be completed in time (a dependency is slow or unreachable); retry the same request later."}
	case errors.Is(err, events.ErrUnavailable):
		return Problem{Status: http.StatusServiceUnavailable, Title: "Broker unavailable",
			Detail: "the event could not be stored; nothing was recorded. Retry the same request later."}
	default:
		return Problem{Status: http.StatusInternalServerError, Title: "Internal error",
			Detail: "the request could not be completed; the error has been logged"}
	}
}

// Error answers err as problem+json and logs server-side failures (5xx) with the request.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := ProblemFor(err)
	if p.Status >= 500 && log != nil {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", p.Status, "err", err)
	}
	WriteProblem(w, p)
}

// WriteJSON answers v as application/json with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errchkjson // the client may be gone; nothing to do
}

// Unavailable answers 503 with Retry-After when the service's own store (title names it:
// "Stock database unavailable") cannot be read; what says what could not be read. The cause is
// logged with the request, not shown to the caller.
func Unavailable(w http.ResponseWriter, r *http.Request, log *slog.Logger, title, what string, err error) {
	if log != nil {
		log.Error("read "+what, "path", r.URL.Path, "err", err)
	}
	WriteProblem(w, Problem{Status: http.StatusServiceUnavailable, Title: title,
		Detail: what + " cannot be read right now; retry later"})
}
