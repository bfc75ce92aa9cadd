// Package nfc checks the Unicode Normalization Form C that tagseg puts tag
// names in (tagseg.CheckTag; the library's nfc.go and nfc_tables.go)
// against golang.org/x/text/unicode/norm, which the library's module may
// not depend on, and holds the generator of its tables (gen.go).
package nfc
