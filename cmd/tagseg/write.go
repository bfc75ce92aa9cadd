package main

// The write commands: tag, untag, rename-tag, delete-tag and set-mrr.
// Each is one durable transaction (Index.Update, fsynced before it
// returns) and prints what it changed.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	srv "github.com/tagseg/tagseg/server"
	"github.com/tagseg/tagseg/server/api"
)

func init() {
	commands["tag"] = command{runTag, "add tags to customers: by UUID, email, external ID or a query"}
	commands["untag"] = command{runUntag, "remove tags from customers: by UUID, email, external ID or a query"}
	commands["rename-tag"] = command{runRenameTag, "rename a tag on every customer holding it"}
	commands["delete-tag"] = command{runDeleteTag, "remove a tag from every customer holding it"}
	commands["set-mrr"] = command{runSetMRR, "record a customer's MRR from a date on"}
}

// targetFlags pick the customers a write command changes.
type targetFlags struct {
	uuid, email, ext, ds, query, segment *string
	server                               *serverFlags
}

func addTargetFlags(fs *flag.FlagSet, withQuery bool) targetFlags {
	t := targetFlags{
		uuid:  fs.String("uuid", "", "the customer with this `UUID`"),
		email: fs.String("email", "", "every customer with this `email` (any case)"),
		ext:   fs.String("external-id", "", "the customer with this external `ID` (with -data-source)"),
		ds:    fs.String("data-source", "", "the data source `UUID` of -external-id"),
	}
	t.server = serverFlag(fs)
	if withQuery {
		t.query = fs.String("query", "", "every customer of the segment `Q`")
		t.segment = fs.String("segment", "", "every customer of the saved segment `name`")
	}
	return t
}

// kind checks that exactly one target is given and names it.
func (t targetFlags) kind() (string, error) {
	var kinds []string
	for _, k := range []struct {
		v    *string
		name string
	}{{t.uuid, "uuid"}, {t.email, "email"}, {t.ext, "external-id"}, {t.query, "query"}, {t.segment, "segment"}} {
		if k.v != nil && *k.v != "" {
			kinds = append(kinds, k.name)
		}
	}
	if *t.ds != "" && *t.ext == "" {
		return "", usagef("-data-source goes with -external-id")
	}
	switch len(kinds) {
	case 0:
		if t.query != nil {
			return "", usagef("say which customers: -uuid, -email, -external-id (with -data-source), -query or -segment")
		}
		return "", usagef("say which customer: -uuid, -email or -external-id (with -data-source)")
	case 1:
		return kinds[0], nil
	}
	return "", usagef("give one of -%s", strings.Join(kinds, ", -"))
}

// parse parses the flags of a write command and returns its arguments and
// the kind of target; -db is needed unless -server is given.
func (t targetFlags) parse(fs *flag.FlagSet, args []string, db *string) ([]string, string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, "", err
	}
	if t.server.url == "" {
		if err := needDB(*db); err != nil { // db is set by the parse above
			return nil, "", err
		}
	}
	kind, err := t.kind()
	return pos, kind, err
}

// customers returns the customers a target names (not for query/segment).
func (t targetFlags) customers(tx *tagseg.Tx, kind string) ([]tagseg.Customer, error) {
	switch kind {
	case "uuid":
		c, err := tx.Customer(*t.uuid)
		if err != nil {
			return nil, fmt.Errorf("no customer with UUID %s: %w", *t.uuid, tagseg.ErrNotFound)
		}
		return []tagseg.Customer{c}, nil
	case "email":
		cs, err := tx.CustomersByEmail(*t.email)
		if err == nil && len(cs) == 0 {
			err = fmt.Errorf("no customer with email %s: %w", *t.email, tagseg.ErrNotFound)
		}
		return cs, err
	case "external-id":
		c, err := tx.CustomerByExternalID(*t.ds, *t.ext)
		if err != nil {
			if errors.Is(err, tagseg.ErrNotFound) {
				return nil, fmt.Errorf("no customer with external ID %q in data source %q: %w", *t.ext, *t.ds, tagseg.ErrNotFound)
			}
			return nil, err
		}
		return []tagseg.Customer{c}, nil
	}
	return nil, fmt.Errorf("target %s", kind)
}

// segmentOf returns the query text and expression of a -query or -segment target.
func (t targetFlags) segmentOf(ix *tagseg.Index, kind string) (string, tagseg.Expr, error) {
	if kind == "segment" {
		return resolve(ix, "", *t.segment)
	}
	return resolve(ix, *t.query, "")
}

const tagUsage = `-db PATH (-uuid U | -email E | -external-id ID [-data-source DS] | -query Q | -segment NAME) [-dry-run] [-confirm N] TAG...

Adds the tags to the customers named, in one durable transaction, and says
what changed. A tag a customer has already is left as is. -dry-run says
what would change and changes nothing. -confirm N refuses a change of more than
N customers; a served index asks for it when a -query or -segment change
is larger than its limit (serve's -confirm-above, 1,000 by default), and
says N.`

const untagUsage = `-db PATH (-uuid U | -email E | -external-id ID [-data-source DS] | -query Q | -segment NAME) [-dry-run] [-confirm N] TAG...

Removes the tags from the customers named, in one durable transaction, and
says what changed. A tag a customer lacks is no change. -dry-run says what
would change and changes nothing. -confirm N refuses a change of more than
N customers; a served index asks for it when a -query or -segment change
is larger than its limit (serve's -confirm-above, 1,000 by default), and
says N.`

// errDryRunTx rolls back the transaction of a dry run, which did the
// change to see what it changes.
var errDryRunTx = errors.New("dry run: rolled back")

// tooMany is the refusal of a change of more customers than -confirm.
func tooMany(n int, confirm int64) error {
	return fmt.Errorf("this would change the tags of %s customers, more than -confirm %d: nothing changed; run again with -confirm %d (-dry-run says what would change)", count(n), confirm, n)
}

func runTag(args []string, stdout, stderr io.Writer) error {
	return tagCommand("tag", tagUsage, true, args, stdout, stderr)
}

func runUntag(args []string, stdout, stderr io.Writer) error {
	return tagCommand("untag", untagUsage, false, args, stdout, stderr)
}

func tagCommand(name, usage string, add bool, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, usage, stderr)
	db := dbFlag(fs)
	tf := addTargetFlags(fs, true)
	dry := fs.Bool("dry-run", false, "say what would change; change nothing")
	confirm := int64(-1) // not given
	fs.Func("confirm", "change the tags of at most `N` customers (a served index asks for it above serve's -confirm-above); more: refused, nothing changed", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errors.New("want a number of customers, 0 or more")
		}
		confirm = n
		return nil
	})
	tags, kind, err := tf.parse(fs, args, db)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return usagef("no tags given")
	}
	bo := bulkOpts{dry: *dry, confirm: confirm}
	if rm := remoteFor(*db, tf.server, stderr); rm != nil {
		return rm.tagCustomers(stdout, tf, kind, add, tags, bo)
	}
	ix, err := openWrite(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	verb, prep := "added", "to"
	if !add {
		verb, prep = "removed", "from"
	}
	if *dry {
		verb = "would " + map[bool]string{true: "add", false: "remove"}[add]
	}
	if kind == "query" || kind == "segment" {
		q, e, err := tf.segmentOf(ix, kind)
		if err != nil {
			return err
		}
		var changed int
		var members uint64
		err = ix.Update(func(tx *tagseg.Tx) error {
			seg, err := tx.Segment(e)
			if err != nil {
				return err
			}
			members = seg.Count()
			if add {
				changed, err = tx.AddTagsToSegment(e, tags...)
			} else {
				changed, err = tx.RemoveTagsFromSegment(e, tags...)
			}
			switch {
			case err != nil:
				return err
			case bo.confirm >= 0 && int64(changed) > bo.confirm:
				return tooMany(changed, bo.confirm)
			case bo.dry:
				return errDryRunTx
			}
			return nil
		})
		if err != nil && !errors.Is(err, errDryRunTx) {
			return queryError(q, err)
		}
		fmt.Fprintf(stdout, "%s%s %s %s %s of the %s of %s (%s unchanged)\n", dryNote(bo.dry), verb, strings.Join(quoteTags(tags), ", "), prep,
			count(changed), plural(int(members), "customer", "customers"), q, count(int(members)-changed))
		return ix.Close()
	}
	type change struct {
		uuid   string
		before []string
		after  []string
	}
	var changes []change
	err = ix.Update(func(tx *tagseg.Tx) error {
		cs, err := tf.customers(tx, kind)
		if err != nil {
			return err
		}
		for _, c := range cs {
			var after []string
			if add {
				after, err = tx.AddTags(c.UUID, tags...)
			} else {
				after, err = tx.RemoveTags(c.UUID, tags...)
			}
			if err != nil {
				return err
			}
			changes = append(changes, change{c.UUID, c.Tags, after})
		}
		n := 0
		for _, ch := range changes {
			if !slices.Equal(ch.before, ch.after) {
				n++
			}
		}
		switch {
		case bo.confirm >= 0 && int64(n) > bo.confirm:
			return tooMany(n, bo.confirm)
		case bo.dry:
			return errDryRunTx
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRunTx) {
		return err
	}
	for _, ch := range changes {
		var diff []string
		if add {
			diff = minus(ch.after, ch.before)
		} else {
			diff = minus(ch.before, ch.after)
		}
		if len(diff) == 0 {
			fmt.Fprintf(stdout, "%s%s: unchanged; tags: %s\n", dryNote(bo.dry), ch.uuid, tagList(ch.after))
			continue
		}
		now := "now"
		if bo.dry {
			now = "then"
		}
		fmt.Fprintf(stdout, "%s%s: %s %s; tags %s: %s\n", dryNote(bo.dry), ch.uuid, verb, strings.Join(quoteTags(diff), ", "), now, tagList(ch.after))
	}
	return ix.Close()
}

// bulkOpts are tag and untag's -dry-run and -confirm (-1: not given).
type bulkOpts struct {
	dry     bool
	confirm int64
}

// dryNote starts each line of a dry run's output.
func dryNote(dry bool) string {
	if dry {
		return "dry run, nothing changed: "
	}
	return ""
}

func minus(a, b []string) []string {
	var out []string
	for _, t := range a {
		if !slices.Contains(b, t) {
			out = append(out, t)
		}
	}
	return out
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return "(none)"
	}
	return strings.Join(quoteTags(tags), ", ")
}

// quoteTags quotes the tags that would read ambiguously in a list.
func quoteTags(tags []string) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		if t == "" || strings.ContainsAny(t, ", \"") {
			t = fmt.Sprintf("%q", t)
		}
		out[i] = t
	}
	return out
}

const renameTagUsage = `-db PATH [-merge] OLD NEW

Renames tag OLD to NEW on every customer holding OLD, in one durable
transaction: NEW is added (at the end of each customer's tags, as a new
tag is), then OLD removed. When some customers hold NEW already, the
rename would merge the two tags: it is refused unless -merge is given
(customers holding both keep NEW once).`

func runRenameTag(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rename-tag", renameTagUsage, stderr)
	db := dbFlag(fs)
	merge := fs.Bool("merge", false, "rename onto a tag some customers hold already, merging the two")
	server := serverFlag(fs)
	pos, err := parseServedArgs(fs, args, db, server)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want OLD and NEW")
	}
	oldTag, newTag := strings.TrimSpace(pos[0]), strings.TrimSpace(pos[1])
	if oldTag == newTag {
		return usagef("OLD and NEW are the same tag %q", oldTag)
	}
	cmd := srv.Command{Op: srv.OpRenameTag, Tags: []string{oldTag}, To: newTag, Merge: *merge}
	var res srv.Result
	through := ""
	var ix *tagseg.Index
	if rm := remoteFor(*db, server, stderr); rm != nil {
		var out api.TagRenamed
		err = rm.do("PATCH", "/v1/tags/"+url.PathEscape(oldTag), nil, map[string]any{"name": newTag, "merge": *merge}, &out)
		var re *remoteError
		switch {
		case errors.As(err, &re) && re.code == http.StatusConflict:
			err = fmt.Errorf("customers hold %s already: renaming %s onto it merges the two tags; give -merge to do so (through the server)", quoteTags([]string{newTag})[0], quoteTags([]string{oldTag})[0])
		case errors.As(err, &re) && re.code == http.StatusNotFound:
			err = fmt.Errorf("no customer holds tag %q: %w", oldTag, tagseg.ErrNotFound)
		}
		if err != nil {
			return err
		}
		res = srv.Result{Changed: int(out.Customers), Held: out.Held, Both: out.Both}
		through = " (through the server)"
	} else {
		if ix, err = openWrite(*db); err != nil {
			return err
		}
		defer ix.Close()
		err = ix.Update(func(tx *tagseg.Tx) (err error) {
			res, err = cmd.Apply(tx)
			return err
		})
		var held *srv.TagHeldError
		switch {
		case errors.As(err, &held):
			return fmt.Errorf("%s customers hold %s already: renaming %s onto it merges the two tags; give -merge to do so", count(held.Held), quoteTags([]string{held.To})[0], quoteTags([]string{held.From})[0])
		case errors.Is(err, tagseg.ErrNotFound):
			return fmt.Errorf("no customer holds tag %q%s: %w", oldTag, tagSuggestion(ix, oldTag), tagseg.ErrNotFound)
		case err != nil:
			return err
		}
	}
	fmt.Fprintf(stdout, "renamed %s to %s on %s", quoteTags([]string{oldTag})[0], quoteTags([]string{newTag})[0], plural(res.Changed, "customer", "customers"))
	if res.Held > 0 {
		fmt.Fprintf(stdout, ", merged into the %s holding %s already", plural(int(res.Held), "customer", "customers"), quoteTags([]string{newTag})[0])
		if res.Both > 0 {
			fmt.Fprintf(stdout, " (%s held both)", count(res.Both))
		}
	}
	fmt.Fprintln(stdout, through)
	if ix != nil {
		return ix.Close()
	}
	return nil
}

// tagSuggestion is ` (did you mean "X"?)` for a tag nobody holds that is
// close to one somebody does, else "".
func tagSuggestion(ix *tagseg.Index, tag string) string {
	var tags []string
	n := 0
	for t := range ix.Tags() {
		tags = append(tags, t)
		if n++; n > 100_000 {
			break
		}
	}
	if s := suggest(tag, tags); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

const deleteTagUsage = `-db PATH TAG...

Removes each TAG from every customer holding it, in one durable
transaction, and says how many lost it.`

func runDeleteTag(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("delete-tag", deleteTagUsage, stderr)
	db := dbFlag(fs)
	server := serverFlag(fs)
	tags, err := parseServedArgs(fs, args, db, server)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return usagef("no tags given")
	}
	var removed []int
	var ix *tagseg.Index
	through := ""
	if rm := remoteFor(*db, server, stderr); rm != nil {
		var out api.TagsDeleted
		if err := rm.do("DELETE", "/v1/tags", nil, map[string]any{"tags": tags}, &out); err != nil {
			return err
		}
		for _, e := range out.Entries {
			removed = append(removed, e.Removed)
		}
		through = " (through the server)"
	} else {
		if ix, err = openWrite(*db); err != nil {
			return err
		}
		defer ix.Close()
		err = ix.Update(func(tx *tagseg.Tx) error {
			res, err := srv.Command{Op: srv.OpDeleteTags, Tags: tags}.Apply(tx)
			removed = res.Counts
			return err
		})
		if err != nil {
			return err
		}
	}
	for i, t := range tags {
		if removed[i] == 0 {
			hint := ""
			if ix != nil {
				hint = tagSuggestion(ix, t)
			}
			fmt.Fprintf(stdout, "%s: no customer held it%s%s\n", quoteTags([]string{t})[0], hint, through)
			continue
		}
		fmt.Fprintf(stdout, "deleted %s from %s%s\n", quoteTags([]string{t})[0], plural(removed[i], "customer", "customers"), through)
	}
	if ix != nil {
		return ix.Close()
	}
	return nil
}

const setMRRUsage = `-db PATH (-uuid U | -email E | -external-id ID [-data-source DS]) [-at DATE] [-units] MRR

Records that the customer's MRR is MRR from -at (default: now) on, as
SetMRR does: MRR is in cents (29900 is 299.00), or in units with -units.
With -email, every customer with that email. Prints the MRR before and after.`

func runSetMRR(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("set-mrr", setMRRUsage, stderr)
	db := dbFlag(fs)
	tf := addTargetFlags(fs, false)
	atFlag := fs.String("at", "", "`date` or time the MRR starts (default: now)")
	units := fs.Bool("units", false, "MRR is in units (299.00), not cents")
	pos, kind, err := tf.parse(fs, args, db)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MRR (in cents, or units with -units)")
	}
	var cents int64
	if *units {
		cents, err = api.ParseUnits(pos[0])
	} else if strings.Contains(pos[0], ".") {
		if c, uerr := api.ParseUnits(pos[0]); uerr == nil {
			return usagef("MRR %s: MRR is in cents: did you mean %d (or -units %s)?", pos[0], c, pos[0])
		}
		err = fmt.Errorf("%s is not a whole number of cents", pos[0])
	} else {
		cents, err = api.ParseCents(pos[0])
	}
	if err != nil {
		return usagef("MRR: %v", err)
	}
	at := time.Now().UTC()
	if *atFlag != "" {
		if at, err = api.ParseTime(*atFlag); err != nil {
			return usagef("-at: %v", err)
		}
	}
	if rm := remoteFor(*db, tf.server, stderr); rm != nil {
		var uuids []string
		switch kind {
		case "uuid":
			uuids = []string{*tf.uuid}
		case "external-id":
			uuid, err := rm.byExternalID(*tf.ds, *tf.ext)
			if err != nil {
				return err
			}
			uuids = []string{uuid}
		case "email":
			var res struct {
				Entries []api.Customer `json:"entries"`
			}
			if err := rm.do("GET", "/v1/customers/search", url.Values{"email": {*tf.email}}, nil, &res); err != nil {
				return err
			}
			if len(res.Entries) == 0 {
				return fmt.Errorf("no customer with email %s: %w", *tf.email, tagseg.ErrNotFound)
			}
			for _, c := range res.Entries {
				uuids = append(uuids, c.UUID)
			}
			if len(uuids) > 1 {
				fmt.Fprintf(stderr, "note: through the server, each of the %d customers with email %s is one request, durable on its own\n", len(uuids), *tf.email)
			}
		}
		for _, u := range uuids {
			if err := rm.setMRR(stdout, u, cents, at); err != nil {
				return err
			}
		}
		return nil
	}
	ix, err := openWrite(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	type change struct {
		uuid          string
		before, after int64
	}
	var changes []change
	err = ix.Update(func(tx *tagseg.Tx) error {
		cs, err := tf.customers(tx, kind)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := tx.SetMRR(c.UUID, at, cents); err != nil {
				return err
			}
			after, err := tx.Customer(c.UUID)
			if err != nil {
				return err
			}
			changes = append(changes, change{c.UUID, c.MRR, after.MRR})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintf(stdout, "%s: MRR %s from %s; current MRR %s (was %s)\n", ch.uuid, money(cents), at.Format(time.RFC3339), money(ch.after), money(ch.before))
	}
	return ix.Close()
}
