package tagseg

// What a tag may be, and its one form.

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckTag returns tag as the index keeps it, or an error wrapping
// ErrInvalidTag that says why it cannot be one. Every call that takes tag
// names (AddTags, CreateCustomer's Tags, Tag, AnyTag, the query language,
// ...) reads them through the same rules:
//
//   - surrounding white space is trimmed;
//   - the name is put in Unicode Normalization Form C, so that "é" typed
//     as one precomposed character and as "e" + a combining acute accent
//     is one tag (canonical equivalence only: "ﬁ" and "fi" stay two);
//   - empty, not valid UTF-8, longer than 255 bytes (after the two steps
//     above), or holding a control character (tab, newline, the C0 and C1
//     controls, DEL) or a line or paragraph separator (U+2028, U+2029) is
//     refused.
//
// Case is kept: "VIP" and "vip" are two tags.
func CheckTag(tag string) (string, error) {
	t, why := checkTag(tag)
	if why != "" {
		return "", fmt.Errorf("tagseg: tag %q %s: %w", truncate(tag), why, ErrInvalidTag)
	}
	return t, nil
}

// checkTag is CheckTag's rules: the tag as kept, or why it is refused.
func checkTag(raw string) (string, string) {
	t := strings.TrimSpace(raw)
	switch {
	case t == "" && raw == "":
		return "", "is empty"
	case t == "":
		return "", "is only white space"
	case !utf8.ValidString(t):
		return "", "is not valid UTF-8"
	}
	for _, r := range t {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "", fmt.Sprintf("holds the control character %U (tags may not hold tabs, line breaks or other controls)", r)
		}
	}
	t = nfc(t)
	if len(t) > maxTagLen {
		return "", fmt.Sprintf("is %d bytes long, more than the limit of %d bytes", len(t), maxTagLen)
	}
	return t, ""
}

// tagName is a tag name as a query or an expression gives it, in the form
// the index keeps: trimmed and in NFC. Names CheckTag refuses are left as
// they are (no customer can hold them).
func tagName(name string) string {
	t := strings.TrimSpace(name)
	if !utf8.ValidString(t) {
		return t
	}
	return nfc(t)
}
