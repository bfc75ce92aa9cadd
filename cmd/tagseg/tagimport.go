package main

// tagseg tag-import: a tag's holders from a portable Roaring bitmap of
// dense IDs, or from a list of external IDs.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/tagseg/tagseg"
)

const tagImportUsage = `-db PATH -tag NAME [-add] [-format auto|roaring|extids] [-data-source UUID] FILE|-

Sets the tag NAME on exactly the customers FILE names, in one durable
transaction: customers in FILE gain the tag, and every other customer holding
it loses it (with -add, nobody loses it). FILE is

  roaring  a portable Roaring bitmap of dense IDs (as "tagseg export -format
           roaring", CRoaring or Java RoaringBitmap write it);
  extids   text, one external ID a line (empty lines skipped), of the data
           source -data-source (default: customers without one).

-format auto (the default) reads a file that starts with a Roaring cookie as
roaring and any other text as extids. An ID that names no live customer
(deleted, past the end, an unknown external ID), a file that is neither, or
a damaged bitmap changes nothing and is an error that names the first few.`

func runTagImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tag-import", tagImportUsage, stderr)
	db := dbFlag(fs)
	tag := fs.String("tag", "", "the tag `NAME` to set (required)")
	add := fs.Bool("add", false, "only add the tag; customers outside FILE keep it")
	format := fs.String("format", "auto", "`auto`, roaring or extids")
	ds := fs.String("data-source", "", "the data source `UUID` of the external IDs")
	pos, err := parseDBArgs(fs, args, db)
	if err != nil {
		return err
	}
	if *tag == "" {
		return usagef("missing -tag NAME")
	}
	if len(pos) != 1 {
		return usagef("want one FILE (or - for standard input)")
	}
	switch *format {
	case "auto", "roaring", "extids":
	default:
		return usagef("unknown -format %q (want auto, roaring or extids)", *format)
	}
	if *format == "roaring" && flagSet(fs, "data-source") {
		return usagef("-data-source is for external IDs, not a roaring bitmap")
	}
	name := pos[0]
	var data []byte
	if name == "-" {
		name = "standard input"
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return err
	}
	kind := *format
	if kind == "auto" {
		switch {
		case tagseg.LooksLikeIDs(data):
			kind = "roaring"
		case utf8.Valid(data) && bytes.IndexByte(data, 0) < 0:
			kind = "extids"
		default:
			return fmt.Errorf("%s: neither a portable Roaring bitmap (it starts with % x) nor text of external IDs: %w", name, data[:min(len(data), 4)], tagseg.ErrInvalid)
		}
		if kind == "roaring" && flagSet(fs, "data-source") {
			return usagef("%s is a roaring bitmap of dense IDs: -data-source is for external IDs", name)
		}
	}
	var ids *roaring.Bitmap
	if kind == "roaring" {
		if ids, err = tagseg.ReadIDs(bytes.NewReader(data)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	ix, err := openWrite(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	var added, removed int
	var holders uint64
	err = ix.Update(func(tx *tagseg.Tx) error {
		if kind == "extids" {
			if ids, err = extIDs(tx, name, *ds, data); err != nil {
				return err
			}
		}
		if *add {
			seg, err := tx.Segment(tagseg.Tag(*tag))
			if err != nil {
				return err
			}
			ids = roaring.Or(ids, seg.IDs())
		}
		holders = ids.GetCardinality()
		added, removed, err = tx.SetTagMembers(*tag, ids)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s holders (%s added, %s removed)\n", strings.TrimSpace(*tag), count(holders), count(added), count(removed))
	return ix.Close()
}

// extIDs resolves a text file of external IDs of data source ds to dense
// IDs; unknown ones are an error that counts them and names the first few.
func extIDs(tx *tagseg.Tx, name, ds string, data []byte) (*roaring.Bitmap, error) {
	ids := roaring.New()
	var unknown []string
	nUnknown := 0
	line := 0
	for l := range bytes.SplitSeq(data, []byte("\n")) {
		line++
		ext := string(bytes.TrimSuffix(l, []byte("\r")))
		if ext == "" {
			continue
		}
		c, err := tx.CustomerByExternalID(ds, ext)
		if errors.Is(err, tagseg.ErrNotFound) {
			if nUnknown < 5 {
				unknown = append(unknown, fmt.Sprintf("line %d: %q", line, ext))
			}
			nUnknown++
			continue
		}
		if err != nil {
			return nil, err
		}
		ids.Add(c.ID)
	}
	if nUnknown > 0 {
		more := ""
		if nUnknown > len(unknown) {
			more = ", …"
		}
		hint := ""
		if ds == "" {
			hint = "; -data-source names the data source of the IDs"
		}
		return nil, fmt.Errorf("%s: %s external IDs of data source %q name no customer (%s%s)%s: %w", name, count(nUnknown), ds, strings.Join(unknown, ", "), more, hint, tagseg.ErrNotFound)
	}
	return ids, nil
}
