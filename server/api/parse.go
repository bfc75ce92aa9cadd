package api

// Reading requests: dates and times, cents, JSON objects and tags, with
// errors that say what to send instead.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
)

// timeFormats are the forms accepted for dates and times: RFC 3339 and
// ChartMogul's "2022-10-14 00:00:00"; without a zone they are UTC.
var timeFormats = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTime reads a date or time; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, f := range timeFormats {
		if t, err := time.Parse(f, s); err == nil {
			if t.Year() < 1678 || t.Year() > 2261 {
				return time.Time{}, fmt.Errorf("%q is out of range (years 1678–2261)", s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time (want RFC 3339, like 2024-01-31 or 2024-01-31T12:00:00Z)", s)
}

// ParseTimeField is ParseTime for a customer field: its error is a
// *FieldError naming field.
func ParseTimeField(field, s string) (time.Time, error) {
	t, err := ParseTime(s)
	if err != nil {
		return t, &FieldError{Field: field, Msg: err.Error()}
	}
	return t, nil
}

// ParseCents reads a non-negative amount of money in whole cents, as
// the API and import files carry MRR. An amount with a decimal point or
// an exponent is refused with the hint the command gives: money is in
// cents, and "299.00" is most likely 29900 cents (a *CentsError).
func ParseCents(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%s is negative", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number of cents", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("%s is negative", s)
	}
	e := &CentsError{Value: s}
	if c, err := ParseUnits(s); err == nil {
		e.Cents = &c
	}
	return 0, e
}

// CentsError is an amount given with a decimal point or an exponent
// where money is in whole cents; Cents is what it means in cents, read as
// units with at most two decimals (nil when it cannot be).
type CentsError struct {
	Value string
	Cents *int64
}

func (e *CentsError) Error() string {
	msg := fmt.Sprintf("%s is not a whole number of cents: money is in cents (29900 is 299.00)", e.Value)
	if e.Cents != nil {
		msg += fmt.Sprintf("; did you mean %d?", *e.Cents)
	}
	return msg
}

// ParseUnits reads an amount in units with at most two decimals (12.34)
// as cents (1234).
func ParseUnits(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 || whole == "" && frac == "" {
		return 0, fmt.Errorf("%q is not an amount in units with at most two decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || strings.ContainsAny(whole+frac, "+-") {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("%s is negative", s)
		}
		return 0, fmt.Errorf("%q is not an amount in units with at most two decimals", s)
	}
	return n, nil
}

// DecodeJSON decodes one JSON object into v (numbers in an any as
// json.Number), with errors that name the field and the byte offset
// rather than Go types; data after the object is an error.
func DecodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return jsonError(err)
	}
	if rest := bytes.TrimLeft(b[d.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return fmt.Errorf("invalid JSON: data after the object at byte %d", len(b)-len(rest))
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Errorf("invalid JSON: want %s, got %s", jsonKind(te.Type), te.Value)
		}
		return fmt.Errorf("invalid JSON: %s must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	}
	return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// JSONText is v as JSON, for messages about a value.
func JSONText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// CheckTag returns a tag as the index keeps it (tagseg.CheckTag: trimmed,
// in Unicode NFC) or refuses one the index would refuse, with the reason
// (tagseg.ErrInvalidTag): empty, not UTF-8, longer than 255 bytes, or
// holding a control character.
func CheckTag(t string) (string, error) {
	kept, err := tagseg.CheckTag(t)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "tagseg: ")
		msg = strings.TrimSuffix(msg, ": "+tagseg.ErrInvalidTag.Error())
		return "", fmt.Errorf("%s: %w", msg, tagseg.ErrInvalidTag)
	}
	return kept, nil
}
