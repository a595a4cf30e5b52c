package purge

import (
	"fmt"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
)

// Outcome is what became of one purge request. It is a type, not a log convention, so the settlement and
// the tests switch on it.
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

// Reasons lists every Reason: help texts, replay filters and tests print and check them from this one list.
var Reasons = []Reason{ReasonInvalidMessage, ReasonProtected, ReasonTypeNotAllowed, ReasonTypeMismatch,
	ReasonSyncedObject, ReasonForbidden, ReasonGraphRejected, ReasonRetriesExhausted}

// ParseReason returns the Reason spelled s (exactly, as DeadLetterReason carries it).
func ParseReason(s string) (Reason, bool) {
	for _, r := range Reasons {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// Settlement is what must be written to Service Bus to secure the message after a decision: a custom
// handler cannot settle the trigger message itself, so a retry or a failure is secured by sending a copy.
type Settlement int

const (
	// SettleNothing: the message is done (purged, absent) or nothing may be written (dry run).
	SettleNothing Settlement = iota
	// SettleRetryCopy: a scheduled copy goes back to the trigger queue.
	SettleRetryCopy
	// SettleFailureCopy: a copy goes to the failure queue with the reason.
	SettleFailureCopy
)

// Decision is the result of [Processor.Decide]: what happened, why, and what must be sent where.
type Decision struct {
	Outcome Outcome
	// Reason is set when Outcome is Failed (and, in dry-run mode, for refusals that would have failed).
	Reason Reason
	// Why is the cause. For a retry or a deferral it is the phrase that follows the time ("Graph is
	// throttling requests (429); attempt 1 of 8"); otherwise it is the whole sentence. Read it through
	// [Decision.Description], which renders it with the outcome.
	Why string

	// Request is the parsed request; its ID is zero for an invalid message.
	Request Request
	// ObjectType is the type Graph reported (or the message's when verification is off).
	ObjectType directory.Type
	// Attempt is the attempt this delivery was (1 for the first delivery).
	Attempt int
	// FirstRequested is when the purge was first requested; retry copies carry it forward.
	FirstRequested time.Time

	// RetryAt, NextAttempt and Deferred describe the retry copy when Outcome is RetryScheduled. A deferral
	// (notBefore, minimum age, hard-delete protection) keeps the attempt number: NextAttempt == Attempt.
	RetryAt     time.Time
	NextAttempt int
	Deferred    bool
	// LastError is a short description of the error that caused a retry (PurgeLastError).
	LastError string

	// Graph is the last Graph answer this decision rests on (zero when no call was made).
	Graph directory.Call

	// DryRunOnly is true when PURGE_DRY_RUN was on: nothing may be written, whatever the outcome.
	DryRunOnly bool
}

// Description is a sentence a person can act on; it goes into the log line and DeadLetterErrorDescription.
func (d Decision) Description() string {
	return d.render("Deferred until %s: %s.", "Retry scheduled for %s: %s.")
}

// DescriptionNotRetried renders the decision for a caller that schedules no retry (`handler purge`, which
// runs once and reports): a retry or a deferral says when to run again instead.
func (d Decision) DescriptionNotRetried() string {
	return d.render("Not purged yet; run again after %s: %s.", "Not retried; run again after %s: %s.")
}

// render puts the time and the cause of a deferral or a retry into its wording; any other outcome's Why is
// the whole sentence already.
func (d Decision) render(deferred, retry string) string {
	switch {
	case d.Outcome == RetryScheduled && d.Deferred:
		return fmt.Sprintf(deferred, d.RetryAt.Format(time.RFC3339), d.Why)
	case d.Outcome == RetryScheduled:
		return fmt.Sprintf(retry, d.RetryAt.Format(time.RFC3339), d.Why)
	}
	return d.Why
}

// Settlement says what must be written to secure the message. Nothing is ever written in dry run.
func (d Decision) Settlement() Settlement {
	switch {
	case d.DryRunOnly:
		return SettleNothing
	case d.Outcome == RetryScheduled:
		return SettleRetryCopy
	case d.Outcome == Failed:
		return SettleFailureCopy
	}
	return SettleNothing
}
