package tagseg

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is) together with the value it is about: the UUID or
// email for ErrNotFound, the tag for ErrInvalidTag, the path for ErrCorrupt.
var (
	// ErrNotFound: no customer with that UUID or email, or no saved segment
	// with that name.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: a customer with the same (DataSourceUUID, ExternalID) or
	// the same UUID already exists.
	ErrDuplicate = errors.New("duplicate")
	// ErrInvalidTag: a tag that is empty after trimming, longer than 255
	// bytes, not valid UTF-8, or holding a control character (CheckTag).
	ErrInvalidTag = errors.New("invalid tag")
	// ErrInvalidField: an unknown field in Where or a query, a value of the
	// wrong type for its field, or a bad custom attribute.
	ErrInvalidField = errors.New("invalid field")
	// ErrClosed: the index has been closed.
	ErrClosed = errors.New("index closed")
	// ErrReadOnly: a write on an index opened with Options.ReadOnly.
	ErrReadOnly = errors.New("index is read-only")
	// ErrCorrupt: the file is not a tagseg index, is truncated, or its
	// contents do not decode.
	ErrCorrupt = errors.New("corrupt index file")
	// ErrVersion: the file was written by a newer or unknown format version.
	ErrVersion = errors.New("unsupported format version")
	// ErrLocked: another process holds the file open for writing and did not
	// release it within Options.Timeout.
	ErrLocked = errors.New("index file is locked by another process")
	// ErrIO: a commit could not be written (the file system is full, the
	// file size limit was reached, a write failed) and the file still holds
	// the commit before: the write that got it changed nothing, and later
	// writes are tried as usual, so they succeed once the cause is gone.
	ErrIO = errors.New("index file could not be written")
	// ErrInvalid: any other argument out of range (a negative MRR, a bad
	// series range or interval, a customer field that is too long).
	ErrInvalid = errors.New("invalid argument")
	// ErrExpired: a cursor of Changes from before the oldest change kept
	// (see Options.KeepChanges), or of a saved segment since deleted: the
	// changes after it are lost to the reader, who must start again.
	ErrExpired = errors.New("cursor expired")
)
