package purge

import (
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
)

// Outcome is what became of one purge request (DESIGN.md §3). It is a type, not a log convention, so the
// server's settlement and the tests switch on it.
type Outcome string

const (
	// Purged: Graph answered 204; the object is permanently gone.
	Purged Outcome = "purged"
	// Absent: Graph answered 404 after the not-found grace window: already purged, or never deleted.
	Absent Outcome = "absent"
	// RetryScheduled: a copy of the message goes back to the trigger queue for a later attempt.
	RetryScheduled Outcome = "retry-scheduled"
	// Failed: the request goes to the failure queue with a Reason.
	Failed Outcome = "failed"
	// DryRun: every check passed and the purge would have happened, but PURGE_DRY_RUN is on.
	DryRun Outcome = "dry-run"
)

// Reason says why a request failed. The values are the failure queue's DeadLetterReason.
type Reason string

const (
	ReasonInvalidMessage   Reason = "InvalidMessage"
	ReasonProtected        Reason = "Protected"
	ReasonTypeNotAllowed   Reason = "TypeNotAllowed"
	ReasonTypeMismatch     Reason = "TypeMismatch"
	ReasonSyncedObject     Reason = "SyncedObject"
	ReasonForbidden        Reason = "Forbidden"
	ReasonGraphRejected    Reason = "GraphRejected"
	ReasonRetriesExhausted Reason = "RetriesExhausted"
)

// Reasons lists every Reason, for documentation, replay filters and tests.
var Reasons = []Reason{ReasonInvalidMessage, ReasonProtected, ReasonTypeNotAllowed, ReasonTypeMismatch,
	ReasonSyncedObject, ReasonForbidden, ReasonGraphRejected, ReasonRetriesExhausted}

// Decision is the result of [Processor.Decide]: what happened, why, and what must be sent where.
type Decision struct {
	Outcome Outcome
	// Reason is set when Outcome is Failed (and, in dry-run mode, for refusals that would have failed).
	Reason Reason
	// Description is a sentence a person can act on; it goes into logs and DeadLetterErrorDescription.
	Description string

	// Request is the parsed request; its ID is zero for an invalid message.
	Request Request
	// ObjectType is the type Graph reported (or the message's when verification is off).
	ObjectType directory.Type
	// Attempt is the attempt this delivery was (1 for the first delivery).
	Attempt int

	// RetryAt, NextAttempt and Deferred describe the retry copy when Outcome is RetryScheduled. A deferral
	// (notBefore, minimum age, hard-delete protection) keeps the attempt number: NextAttempt == Attempt.
	RetryAt     time.Time
	NextAttempt int
	Deferred    bool
	// LastError is a short description of the error that caused a retry (PurgeLastError).
	LastError string

	// Graph is the last Graph answer this decision rests on (zero when no call was made).
	Graph GraphCall

	// DryRunOnly is true when PURGE_DRY_RUN was on: nothing may be written, whatever the outcome.
	DryRunOnly bool
}

// GraphCall summarises one Graph answer for logs and failure-queue properties.
type GraphCall struct {
	Method    string
	Status    int
	Code      string
	RequestID string
}
