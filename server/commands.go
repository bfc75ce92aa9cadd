package server

// The write seam: every write the API performs is a Command, a value that
// encodes to JSON, built by its handler with everything non-deterministic
// decided (a new customer's UUID, the time of an MRR change without a
// date, the caps of a bulk change), and handed to the Executor. Applying
// the same command to the same index state gives the same result and the
// same file, so a replicated log can carry commands and apply them on
// every node.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// The operations of a Command.
const (
	OpCreateCustomer        = "create_customer"          // Customer (with its UUID set)
	OpDeleteCustomer        = "delete_customer"          // UUID
	OpAddTags               = "add_tags"                 // UUID, Tags
	OpRemoveTags            = "remove_tags"              // UUID, Tags
	OpAddTagsByEmail        = "add_tags_by_email"        // Email, Tags
	OpSetMRR                = "set_mrr"                  // UUID, At, Cents
	OpAddTagsToSegment      = "add_tags_to_segment"      // Query or Segment, Tags, Day, the caps
	OpRemoveTagsFromSegment = "remove_tags_from_segment" // Query or Segment, Tags, Day, the caps
	OpSaveSegment           = "save_segment"             // Name, Query
	OpDeleteSegment         = "delete_segment"           // Name
	OpUpdateCustomer        = "update_customer"          // UUID, Patch
	OpAddCustom             = "add_custom"               // UUID or Email, Custom (the add form)
	OpUpdateCustom          = "update_custom"            // UUID, Custom (the update form)
	OpRemoveCustom          = "remove_custom"            // UUID, Keys
	OpRenameTag             = "rename_tag"               // Tags (the one renamed), To, Merge (tagops.go)
	OpDeleteTags            = "delete_tags"              // Tags (tagops.go)
	OpSetTagMembers         = "set_tag_members"          // Tags (the one set), IDs, ExternalIDs and DataSource, MemberUUIDs, Add (tagops.go)
	OpImport                = "import"                   // Rows, Import (import.go)
	OpImportEvents          = "import_events"            // Events (import.go)
)

// Command is one write of the API, as data. Op names it; the fields it
// uses are listed by each Op constant, the others are zero. A Command
// holds nothing that applying it decides: the handler that builds it
// fixes the new customer's UUID (tagseg.NewUUID), the time of an MRR
// change, and the caps and the day of a bulk change, so that Apply on
// every replica of an index gives the same result.
type Command struct {
	Op string `json:"op"`

	UUID  string   `json:"uuid,omitempty"`  // the customer written
	Email string   `json:"email,omitempty"` // every customer with it (any case)
	Tags  []string `json:"tags,omitempty"`  // as the request gave them

	// Customer is the body of a create, UUID included; its custom
	// attributes stay raw JSON, so that they keep their types through an
	// encoding of the command. Its MRR fields are not read.
	Customer *api.NewCustomer `json:"customer,omitempty"`

	At    time.Time `json:"at,omitzero"`     // when an MRR change takes effect
	Cents int64     `json:"cents,omitempty"` // the MRR from At on

	// Query is a segment's query (a bulk change's, or the query saved
	// under Name); Segment names a saved segment instead, read when the
	// command is applied. Neither is every customer.
	Query   string `json:"query,omitempty"`
	Segment string `json:"segment,omitempty"`
	Name    string `json:"name,omitempty"` // the saved segment written
	// Day is the day (midnight UTC) the relative dates of a bulk change's
	// query (lead_created_at > now-30d, its own or the saved segment's)
	// resolve on (tagseg.Expr.ResolveDates): a replica that applies the
	// command on another day changes the same customers. Zero: the day of
	// the index's clock when applied.
	Day time.Time `json:"day,omitzero"`

	// Patch is what an update changes (PATCH /v1/customers/{uuid});
	// Custom the raw custom attributes of an add or update (so that
	// they keep their JSON types), Keys those a removal removes.
	Patch  *api.CustomerPatch `json:"patch,omitempty"`
	Custom json.RawMessage    `json:"custom,omitempty"`
	Keys   []string           `json:"keys,omitempty"`

	// To is the name a tag is renamed to; Merge lets it be a tag some
	// customers hold already.
	To    string `json:"to,omitempty"`
	Merge bool   `json:"merge,omitempty"`
	// IDs are the dense IDs a tag is set on, a portable Roaring bitmap;
	// and the customers ExternalIDs of the data source DataSource, and
	// MemberUUIDs, name. Add keeps the tag on the customers that hold it
	// and are not named.
	IDs         []byte   `json:"ids,omitempty"`
	ExternalIDs []string `json:"external_ids,omitempty"`
	MemberUUIDs []string `json:"member_uuids,omitempty"`
	DataSource  string   `json:"data_source,omitempty"`
	Add         bool     `json:"add,omitempty"`

	// Rows are the customers of an import batch and Import its options;
	// Events the MRR changes of an events import (import.go).
	Rows   []api.NewCustomer `json:"rows,omitempty"`
	Import *ImportOptions    `json:"import,omitempty"`
	Events []ImportEvent     `json:"events,omitempty"`

	// The caps of a bulk change (Options.MaxCustomers, ConfirmAbove and
	// the request's "confirm"; 0: none, nil: no confirm), checked on the
	// segment as the command finds it.
	MaxCustomers int    `json:"max_customers,omitempty"`
	ConfirmAbove int    `json:"confirm_above,omitempty"`
	Confirm      *int64 `json:"confirm,omitempty"`
}

// Result is what applying a Command gives back, for its handler's
// answer: the fields its Op fills.
type Result struct {
	Customer  *tagseg.Customer  `json:"customer,omitempty"`  // created; after an MRR change
	Customers []tagseg.Customer `json:"customers,omitempty"` // tagged by email, after
	Tags      []string          `json:"tags,omitempty"`      // the customer's tags after
	Query     string            `json:"query,omitempty"`     // the query a bulk change evaluated
	Changed   int               `json:"changed,omitempty"`   // customers a bulk change changed
	// A tag renamed: the customers holding the new name before (Held),
	// of them the ones holding the old one too (Both). Tags deleted:
	// how many lost each (Counts). A tag's members set: Added, Removed.
	Held    uint64 `json:"held,omitempty"`
	Both    uint64 `json:"both,omitempty"`
	Counts  []int  `json:"counts,omitempty"`
	Added   int    `json:"added,omitempty"`
	Removed int    `json:"removed,omitempty"`
	// What became of each row of an import (import.go).
	Rows []RowResult `json:"rows,omitempty"`
}

// Apply performs the command in tx. It reads nothing but tx and the
// command (no clock, no randomness), so the same command applied to the
// same state writes the same. A refusal is an error, and tx is then to
// be rolled back: ErrBulkRefused (a *BulkRefusedError) for a bulk change
// over its caps, ErrUnknownSegment for a saved segment that does not
// exist, a *tagseg.SyntaxError for a query that does not parse, or an
// error of the library (tagseg.ErrNotFound, ErrInvalidTag, ...).
func (c Command) Apply(tx *tagseg.Tx) (Result, error) {
	switch c.Op {
	case OpCreateCustomer:
		if c.Customer == nil || c.Customer.UUID == "" {
			return Result{}, fmt.Errorf("server: %s without a customer UUID: %w", c.Op, tagseg.ErrInvalid)
		}
		cust, err := c.Customer.Customer()
		if err != nil {
			return Result{}, err
		}
		created, err := tx.CreateCustomer(cust)
		return Result{Customer: &created}, err
	case OpDeleteCustomer:
		return Result{}, tx.DeleteCustomer(c.UUID)
	case OpAddTags:
		tags, err := tx.AddTags(c.UUID, c.Tags...)
		return Result{Tags: tags}, err
	case OpRemoveTags:
		tags, err := tx.RemoveTags(c.UUID, c.Tags...)
		return Result{Tags: tags}, err
	case OpAddTagsByEmail:
		cs, err := tx.AddTagsByEmail(c.Email, c.Tags...)
		return Result{Customers: cs}, err
	case OpSetMRR:
		if err := tx.SetMRR(c.UUID, c.At, c.Cents); err != nil {
			return Result{}, err
		}
		cust, err := tx.Customer(c.UUID) // as written, even if deleted just after
		return Result{Customer: &cust}, err
	case OpAddTagsToSegment, OpRemoveTagsFromSegment:
		return c.applyBulk(tx)
	case OpSaveSegment:
		return Result{}, tx.SaveSegment(c.Name, c.Query)
	case OpDeleteSegment:
		return Result{}, tx.DeleteSegment(c.Name)
	case OpUpdateCustomer:
		return c.applyUpdate(tx)
	case OpAddCustom, OpUpdateCustom, OpRemoveCustom:
		return c.applyCustom(tx)
	case OpRenameTag, OpDeleteTags, OpSetTagMembers:
		return c.applyTagOp(tx)
	case OpImport, OpImportEvents:
		return c.applyImport(tx)
	}
	return Result{}, fmt.Errorf("server: unknown command %q: %w", c.Op, tagseg.ErrInvalid)
}

// applyBulk changes the tags of a segment: it reads the saved segment's
// query, fixes its relative dates to c.Day, counts the customers the
// change would change when a cap needs it (so that a refusal costs an
// evaluation, not a rewrite rolled back), and changes them.
func (c Command) applyBulk(tx *tagseg.Tx) (Result, error) {
	add := c.Op == OpAddTagsToSegment
	q, e, err := resolveSegment(tx, c.Query, c.Segment)
	if err != nil {
		return Result{}, err
	}
	if !c.Day.IsZero() {
		e = e.ResolveDates(c.Day)
	}
	if c.MaxCustomers > 0 || c.ConfirmAbove > 0 {
		would, err := tx.Count(wouldChange(e, add, c.Tags))
		if err != nil {
			return Result{Query: q}, err
		}
		if err := checkBulk(would, c.MaxCustomers, c.ConfirmAbove, c.Confirm); err != nil {
			return Result{Query: q}, err
		}
	}
	change := tx.RemoveTagsFromSegment
	if add {
		change = tx.AddTagsToSegment
	}
	n, err := change(e, c.Tags...)
	return Result{Query: q, Changed: n}, err
}

// Executor runs the API's writes: Execute applies cmd (Command.Apply) in
// one durable transaction and returns its result, or the error that
// rolled it back. A replicated executor appends cmd to its log, waits
// until it is committed and applied, and returns the result of the local
// apply; it may honour ctx while it waits (the request's context: its
// client has gone away). Execute is called by many requests at once.
type Executor interface {
	Execute(ctx context.Context, cmd Command) (Result, error)
}

// ExecutorFunc is a function as an Executor.
type ExecutorFunc func(ctx context.Context, cmd Command) (Result, error)

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, cmd Command) (Result, error) { return f(ctx, cmd) }

// Local is the default executor: each command in its own ix.Update,
// durable when Execute returns nil. It runs a command whatever ctx says:
// a write that has been asked for is done or refused, never half done.
func Local(ix *tagseg.Index) Executor {
	return ExecutorFunc(func(_ context.Context, cmd Command) (res Result, err error) {
		err = ix.Update(func(tx *tagseg.Tx) error {
			res, err = cmd.Apply(tx)
			return err
		})
		return res, err
	})
}

// ErrUnknownSegment is the error of a command or request naming a saved
// segment that does not exist (the API's 404 "Segment not found").
var ErrUnknownSegment = errors.New("no such saved segment")

// ErrBulkRefused is the error of a bulk change over its caps
// (errors.Is); the error is a *BulkRefusedError.
var ErrBulkRefused = errors.New("bulk change refused")

// BulkRefusedError is a bulk change refused for its size: more customers
// than MaxCustomers, or more than ConfirmAbove without a Confirm of at
// least Would. Its message is the API's 400.
type BulkRefusedError struct {
	Would uint64 // customers the change would have changed
	Param string // "query" (over the cap) or "confirm"
	Msg   string
}

func (e *BulkRefusedError) Error() string { return e.Msg }

// Is reports ErrBulkRefused.
func (e *BulkRefusedError) Is(target error) bool { return target == ErrBulkRefused }

// checkBulk refuses a change of n customers' tags above maxCustomers, or
// above confirmAbove without a confirm of at least n (0: no cap).
func checkBulk(n uint64, maxCustomers, confirmAbove int, confirm *int64) error {
	switch {
	case maxCustomers > 0 && n > uint64(maxCustomers):
		return &BulkRefusedError{n, "query", fmt.Sprintf("This would change the tags of %d customers; a request may change at most %d", n, maxCustomers)}
	case confirmAbove > 0 && n > uint64(confirmAbove) && (confirm == nil || *confirm < 0 || uint64(*confirm) < n):
		msg := fmt.Sprintf(`This would change the tags of %d customers, more than %d; to proceed, repeat the request with "confirm": %d`, n, confirmAbove, n)
		if confirm != nil {
			msg = fmt.Sprintf(`Parameter "confirm" is %d, but this would change the tags of %d customers; to proceed, repeat the request with "confirm": %d`, *confirm, n, n)
		}
		return &BulkRefusedError{n, "confirm", msg}
	}
	return nil
}
