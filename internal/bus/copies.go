package bus

import (
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/internal/purge"
)

// Application property names on the copies this package sends (DESIGN.md §3).
const (
	PropDeadLetterReason      = "DeadLetterReason"
	PropDeadLetterDescription = "DeadLetterErrorDescription"
	PropObjectID              = "PurgeObjectId"
	PropAttempts              = "PurgeAttempts"
	PropGraphStatus           = "GraphStatus"
	PropGraphErrorCode        = "GraphErrorCode"
	PropGraphRequestID        = "GraphRequestId"
	PropOriginalMessageID     = "OriginalMessageId"
	PropFailedAt              = "FailedAt"

	PropAttempt        = "PurgeAttempt"
	PropFirstRequested = "PurgeFirstRequested"
	PropLastError      = "PurgeLastError"
)

// Original is the trigger message a copy is made from.
type Original struct {
	Body              []byte
	MessageID         string
	CorrelationID     string
	ContentType       string
	OriginalMessageID string    // the first message's id, carried forward; MessageID when empty
	FirstRequested    time.Time // the first delivery's enqueue time, carried forward
}

func (o Original) originalID() string {
	if o.OriginalMessageID != "" {
		return o.OriginalMessageID
	}
	return o.MessageID
}

// idNamespace makes retry MessageIDs name-based UUIDs (v5) unique to entra-purge.
var idNamespace = uuid.MustParse("6f1b2a4e-3c7d-5e8f-9a0b-1c2d3e4f5a6b")

// RetryMessageID derives a retry copy's MessageID from the original message id, the attempt the copy will
// be and, for a deferral, the time it is scheduled for. The same retry made twice (a crash after sending,
// then redelivery) gets the same id, so the queue's duplicate detection drops the second copy; a different
// retry never collides.
func RetryMessageID(originalID string, attempt int, deferredUntil time.Time) string {
	name := originalID + "|attempt=" + strconv.Itoa(attempt)
	if !deferredUntil.IsZero() {
		name += "|until=" + deferredUntil.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return uuid.NewSHA1(idNamespace, []byte(name)).String()
}

// RetryCopy builds the scheduled copy that goes back to the trigger queue.
func RetryCopy(o Original, d purge.Decision) *azservicebus.Message {
	var deferredUntil time.Time
	if d.Deferred {
		deferredUntil = d.RetryAt
	}
	id := RetryMessageID(o.originalID(), d.NextAttempt, deferredUntil)
	at := d.RetryAt
	props := map[string]any{
		PropAttempt:           int64(d.NextAttempt),
		PropFirstRequested:    o.FirstRequested.UTC().Format(time.RFC3339Nano),
		PropOriginalMessageID: o.originalID(),
	}
	if d.LastError != "" {
		props[PropLastError] = d.LastError
	}
	return &azservicebus.Message{
		Body:                  o.Body,
		MessageID:             &id,
		ContentType:           nonEmpty(o.ContentType),
		CorrelationID:         nonEmpty(o.CorrelationID),
		ScheduledEnqueueTime:  &at,
		ApplicationProperties: props,
	}
}

// FailureCopy builds the failure-queue message: the original body and every property DESIGN.md §3 names.
// DeadLetterReason and DeadLetterErrorDescription are strings, as Service Bus tools expect of them.
func FailureCopy(o Original, d purge.Decision, now time.Time) *azservicebus.Message {
	props := map[string]any{
		PropDeadLetterReason:      string(d.Reason),
		PropDeadLetterDescription: d.Description,
		PropObjectID:              d.Request.ID.String(),
		PropAttempts:              int64(d.Attempt),
		PropGraphStatus:           int64(d.Graph.Status),
		PropGraphErrorCode:        d.Graph.Code,
		PropGraphRequestID:        d.Graph.RequestID,
		PropOriginalMessageID:     o.originalID(),
		PropFailedAt:              now.UTC().Format(time.RFC3339),
	}
	if !o.FirstRequested.IsZero() {
		props[PropFirstRequested] = o.FirstRequested.UTC().Format(time.RFC3339Nano)
	}
	id := FailureMessageID(o.MessageID)
	return &azservicebus.Message{
		Body:                  o.Body,
		MessageID:             &id,
		ContentType:           nonEmpty(o.ContentType),
		CorrelationID:         nonEmpty(o.CorrelationID),
		ApplicationProperties: props,
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// FailureMessageID derives a failure copy's MessageID from the delivered message's id: a redelivery of the
// same message (after a crash between sending and answering) makes the same id, which duplicate detection
// drops, while a replayed request (a new message) makes a new one.
func FailureMessageID(deliveredID string) string {
	if deliveredID == "" {
		return uuid.NewString()
	}
	return uuid.NewSHA1(idNamespace, []byte(deliveredID+"|failed")).String()
}
