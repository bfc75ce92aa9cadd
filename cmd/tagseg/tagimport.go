package main

// tagseg tag-import: a tag's holders from a portable Roaring bitmap of
// dense IDs, the mapping file export writes beside one, or a list of
// external IDs (the set_tag_members command of package server).

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/tagseg/tagseg"
	srv "github.com/tagseg/tagseg/server"
	"github.com/tagseg/tagseg/server/api"
)

const tagImportUsage = `-db PATH -tag NAME [-add] [-format auto|roaring|mapping|extids] [-data-source UUID] FILE|-

Sets the tag NAME on exactly the customers FILE names, in one durable
transaction: customers in FILE gain the tag, and every other customer holding
it loses it (with -add, nobody loses it). FILE is

  roaring  a portable Roaring bitmap of dense IDs (as "tagseg export -format
           roaring", CRoaring or Java RoaringBitmap write it);
  mapping  the mapping file "tagseg export -format roaring" writes beside
           the bitmap (FILE.ids.csv: id,uuid,data_source_uuid,external_id):
           the customers are named by their UUIDs, so it works on another
           index the export was imported into too;
  extids   text, one external ID a line (empty lines skipped), of the data
           source -data-source (default: customers without one).

-format auto (the default) reads a file that starts with a Roaring cookie as
roaring, a CSV whose header is the mapping file's as mapping, and any other
text as extids. An ID that names no live customer (deleted, past the end, an
unknown UUID or external ID), a file that is none of these, or a damaged
bitmap changes nothing and is an error that names the first few.`

func runTagImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tag-import", tagImportUsage, stderr)
	db := dbFlag(fs)
	tag := fs.String("tag", "", "the tag `NAME` to set (required)")
	add := fs.Bool("add", false, "only add the tag; customers outside FILE keep it")
	format := fs.String("format", "auto", "`auto`, roaring, mapping or extids")
	ds := fs.String("data-source", "", "the data source `UUID` of the external IDs")
	server := serverFlag(fs)
	pos, err := parseServedArgs(fs, args, db, server)
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
	case "auto", "roaring", "mapping", "extids":
	default:
		return usagef("unknown -format %q (want auto, roaring, mapping or extids)", *format)
	}
	if *format != "extids" && *format != "auto" && flagSet(fs, "data-source") {
		return usagef("-data-source is for external IDs (-format extids)")
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
		case isMapping(data):
			kind = "mapping"
		case utf8.Valid(data) && bytes.IndexByte(data, 0) < 0:
			kind = "extids"
		default:
			return fmt.Errorf("%s: neither a portable Roaring bitmap (it starts with % x) nor text of external IDs: %w", name, data[:min(len(data), 4)], tagseg.ErrInvalid)
		}
		if kind != "extids" && flagSet(fs, "data-source") {
			return usagef("%s is a %s file: -data-source is for external IDs", name, kind)
		}
	}
	cmd := srv.Command{Op: srv.OpSetTagMembers, Tags: []string{*tag}, Add: *add, DataSource: *ds}
	switch kind {
	case "roaring":
		if _, err := tagseg.ReadIDs(bytes.NewReader(data)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cmd.IDs = data
	case "mapping":
		if cmd.MemberUUIDs, err = mappingUUIDs(name, data); err != nil {
			return err
		}
	default:
		for l := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
			cmd.ExternalIDs = append(cmd.ExternalIDs, strings.TrimSuffix(l, "\r")) // empty lines keep their place
		}
	}
	var res srv.Result
	through := ""
	if rm := remoteFor(*db, server, stderr); rm != nil {
		if res, err = rm.setTagMembers(cmd); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		through = " (through the server)"
	} else {
		ix, err := openWrite(*db)
		if err != nil {
			return err
		}
		defer ix.Close()
		err = ix.Update(func(tx *tagseg.Tx) (err error) {
			res, err = cmd.Apply(tx)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %s", name, cleanErr(err))
		}
		if err := ix.Close(); err != nil {
			return err
		}
	}
	t, _ := tagseg.CheckTag(*tag)
	fmt.Fprintf(stdout, "%s: %s holders (%s added, %s removed)%s\n", t, count(res.Changed), count(res.Added), count(res.Removed), through)
	return nil
}

// isMapping reports whether data is the mapping file of a roaring export.
func isMapping(data []byte) bool {
	head, _, _ := bytes.Cut(data, []byte("\n"))
	return strings.TrimSpace(strings.TrimPrefix(string(head), "\ufeff")) == strings.Join(api.IDMapColumns, ",")
}

// mappingUUIDs reads the UUIDs of a mapping file, one a line (the header's
// line is an empty key, so that each UUID keeps its line number).
func mappingUUIDs(name string, data []byte) ([]string, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = len(api.IDMapColumns)
	uuids := []string{""}
	if _, err := cr.Read(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return uuids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		for len(uuids) < line-1 {
			uuids = append(uuids, "")
		}
		uuids = append(uuids, rec[1])
	}
}
