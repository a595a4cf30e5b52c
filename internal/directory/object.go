package directory

import (
	"errors"
	"fmt"
	"time"
)

// DeletedObject is what the recycle bin says about one soft-deleted object: enough to decide whether it
// may be purged (its type, when it was deleted, whether it is synced from on-premises).
type DeletedObject struct {
	// ID is the object's id; zero when the directory sent one that is not a GUID.
	ID ObjectID
	// Type is empty when the directory did not say (Graph's documented GET example has no @odata.type) or
	// named a type this package does not know; RawType keeps what it sent.
	Type        Type
	RawType     string
	DisplayName string
	// DeletedDateTime is when the object was soft-deleted; zero when the directory did not say.
	DeletedDateTime time.Time
	// OnPremisesSyncEnabled is true for a user synced from on-premises; null and false mean cloud-only.
	OnPremisesSyncEnabled bool
}

// Call summarises one call to the directory for logs and failure-queue properties: the method, and the
// answer's status, error code and request-id (which Microsoft support asks for). Status is 0 when the call
// got no answer.
type Call struct {
	Method    string
	Status    int
	Code      string
	RequestID string
}

// ErrorKind is what a failed directory call means for a purge. The Graph client classifies its answers
// into these kinds, so that the decisions never read HTTP status codes.
type ErrorKind int

const (
	// Unreachable: no answer (network failure, timeout). Temporary.
	Unreachable ErrorKind = iota + 1
	// NoToken: no token could be had from the identity endpoint. Temporary.
	NoToken
	// NotFound: the object is not in the recycle bin (not yet replicated, already purged, never deleted).
	NotFound
	// Throttled: the directory asked to slow down (429). Temporary; RetryAfter says for how long.
	Throttled
	// Unavailable: a service error or a write conflict (5xx, 408, 409 concurrency). Temporary.
	Unavailable
	// Forbidden: the identity may not do this (403, or 401 even with a freshly acquired token).
	Forbidden
	// HardDeleteProtected: the purge is blocked until the hard-deletion protection window has passed.
	HardDeleteProtected
	// Rejected: any other refusal; retrying as is will not help.
	Rejected
	// Paced: the call was not made, because this process holds its Graph calls back (a pause after a
	// throttled answer, or the write rate) until after the call's deadline. RetryAfter says when its
	// turn comes. Not an attempt: the work is deferred.
	Paced
)

var kindNames = map[ErrorKind]string{Unreachable: "unreachable", NoToken: "no token", NotFound: "not found", Throttled: "throttled",
	Unavailable: "unavailable", Forbidden: "forbidden", HardDeleteProtected: "hard-delete protected", Rejected: "rejected", Paced: "paced"}

func (k ErrorKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Temporary reports whether trying again later may succeed.
func (k ErrorKind) Temporary() bool {
	return k == Unreachable || k == NoToken || k == Throttled || k == Unavailable || k == Paced
}

// Error is a directory call that did not succeed, in the terms a purge decision needs. Implementations
// return it wrapping their own detailed error (the Graph client's *graph.Error or *graph.CallError), so
// errors.As finds both.
type Error struct {
	Kind ErrorKind
	// Call is the last answer the call got (Status 0 when none). It survives a deadline: a call that was
	// throttled and then ran out of time still names the 429 and its request-id.
	Call Call
	// Message is the directory's own error message, for descriptions; empty when none.
	Message string
	// RetryAfter is the longest wait the directory asked for while making this call; zero when it asked
	// for none. No retry may be scheduled sooner.
	RetryAfter time.Duration
	// Err is the implementation's error.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("directory: %s %s (%d %s)", e.Call.Method, e.Kind, e.Call.Status, e.Code())
}

func (e *Error) Unwrap() error { return e.Err }

// Code is the directory's error code, e.g. Request_ResourceNotFound.
func (e *Error) Code() string { return e.Call.Code }

// KindOf returns the kind of a directory error; an error that is not one (or wraps none) counts as
// Unreachable, which is the safe reading: try again later.
func KindOf(err error) ErrorKind {
	if de, ok := errors.AsType[*Error](err); ok {
		return de.Kind
	}
	return Unreachable
}

// DeletedPage is one page of the recycle bin for one type (a typed LIST), as the retention sweep reads it.
type DeletedPage struct {
	Objects []DeletedObject
	// Next is the directory's opaque cursor to the next page; empty on the last page. Only the directory
	// client that returned it may follow it.
	Next string
	// Call is the LIST call that produced the page.
	Call Call
}
