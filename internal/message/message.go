// Package message owns the shape of every Service Bus message entra-purge reads or writes, both ways: what
// a delivery's application properties mean (the attempt, when the purge was first requested, the first
// message's id, replay marks) and how the copies that secure a message are built (the scheduled retry
// copy, the failure copy, the replayed request, a new request, the retention sweep's request). Every
// property name is written here and only here; see docs/contract.md for the contract these follow.
//
// It knows no SDK: a [Delivery] comes from the Functions host's invocation (package funcproto) or from a
// receiver (package bus), and an [Outgoing] message is sent by package bus.
package message

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/purge"
)

// Application property names.
const (
	// On failure copies. The first two are Service Bus's own dead-letter property names, so existing tools
	// show them as the dead-letter reason.
	PropDeadLetterReason      = "DeadLetterReason"
	PropDeadLetterDescription = "DeadLetterErrorDescription"
	PropObjectID              = "PurgeObjectId"
	PropAttempts              = "PurgeAttempts"
	PropGraphStatus           = "GraphStatus"
	PropGraphErrorCode        = "GraphErrorCode"
	PropGraphRequestID        = "GraphRequestId"
	PropFailedAt              = "FailedAt"

	// On retry copies (and, carried forward, on failure copies).
	PropAttempt           = "PurgeAttempt"
	PropFirstRequested    = "PurgeFirstRequested"
	PropLastError         = "PurgeLastError"
	PropOriginalMessageID = "OriginalMessageId"

	// On replayed requests, instead of the retry bookkeeping: a replay starts afresh (attempt 1, a new
	// not-found grace window) and keeps a link to the request it repeats, for the audit trail.
	PropReplayOf      = "ReplayOf"
	PropReplayedFrom  = "ReplayedFromFailure"
	PropReplayedAfter = "ReplayedAfterReason"

	// On a failure copy whose body was cut to fit the failure queue: the size and SHA-256 of the whole.
	PropBodySize   = "PurgeOriginalBodySize"
	PropBodySHA256 = "PurgeOriginalBodySHA256"
)

// ErrTooLarge is matched (errors.Is) by a send that the queue refused for the message's size.
var ErrTooLarge = errors.New("the message is too large for the queue")

// CutBodySize is what a failure copy's body is cut to when the failure queue refuses the whole one: the
// largest valid request (purge.MaxBodySize), so the cut copy fits any tier's limit (256 KB on Standard).
const CutBodySize = purge.MaxBodySize

// CutBody returns the failure copy m with its body cut to CutBodySize bytes, for a failure queue that
// refused it for its size. The copy says so: the original size and SHA-256 go into properties and the
// description, so the cut body can be matched to what was sent.
func CutBody(m Outgoing) Outgoing {
	if len(m.Body) <= CutBodySize {
		return m
	}
	sum := sha256.Sum256(m.Body)
	props := maps.Clone(m.Properties)
	props[PropBodySize] = int64(len(m.Body))
	props[PropBodySHA256] = hex.EncodeToString(sum[:])
	desc, _ := props[PropDeadLetterDescription].(string)
	props[PropDeadLetterDescription] = strings.TrimSpace(desc + fmt.Sprintf(" The body (%d bytes) was too large for the failure queue, so this copy holds only its first %d bytes; "+
		"the whole body's SHA-256 is %x.", len(m.Body), CutBodySize, sum))
	m.Properties = props
	m.Body = m.Body[:CutBodySize]
	return m
}

// Delivery is one delivered Service Bus message: the trigger message of an invocation, or a message a
// receiver took from a queue. The same value flows from the decoder to the copy made from it.
type Delivery struct {
	Body          []byte
	MessageID     string
	CorrelationID string
	ContentType   string
	// DeliveryCount is Service Bus's count for this message (1 on first delivery); logged, not decided on.
	DeliveryCount  int
	SequenceNumber int64
	// EnqueuedTime is when Service Bus accepted the message (UTC); zero if unknown.
	EnqueuedTime time.Time
	// Properties are the application properties. Numbers are float64 when they came through the host's
	// JSON and int64 when they came from a receiver; the accessors read both.
	Properties map[string]any
}

// Attempt reads the retry bookkeeping: PurgeAttempt of a retry copy (else 1) and PurgeFirstRequested (else
// the enqueue time, else now), which the not-found grace window counts from.
func (d *Delivery) Attempt(now time.Time) purge.Attempt {
	at := purge.Attempt{Number: 1, FirstRequested: d.EnqueuedTime}
	if n, ok := number(d.Properties[PropAttempt]); ok && n >= 1 && n < 1e6 {
		at.Number = int(n)
	}
	if t, ok := timeProp(d.Properties[PropFirstRequested]); ok {
		at.FirstRequested = t
	}
	if at.FirstRequested.IsZero() {
		at.FirstRequested = now.UTC()
	}
	return at
}

// OriginalMessageID is the first message's id: OriginalMessageId of a copy, else this message's id.
func (d *Delivery) OriginalMessageID() string {
	if s := str(d.Properties[PropOriginalMessageID]); s != "" {
		return s
	}
	return d.MessageID
}

// Replay is what a replayed request says about the request it repeats.
type Replay struct {
	// Of is the id of the first message of the request that failed.
	Of string
	// FromFailure is the id of the failure-queue message it was replayed from.
	FromFailure string
	// AfterReason is why that one failed.
	AfterReason string
}

// Replayed returns the replay marks, and false when the message is not a replayed request.
func (d *Delivery) Replayed() (Replay, bool) {
	r := Replay{Of: str(d.Properties[PropReplayOf]), FromFailure: str(d.Properties[PropReplayedFrom]),
		AfterReason: str(d.Properties[PropReplayedAfter])}
	return r, r.Of != "" || r.FromFailure != ""
}

// Outgoing is a message to send: a copy that secures a delivery, or a new request.
type Outgoing struct {
	Body          []byte
	MessageID     string
	ContentType   string
	CorrelationID string
	// ScheduledAt, when set, is when the message becomes visible (ScheduledEnqueueTime).
	ScheduledAt time.Time
	Properties  map[string]any
}

// Queues names the two queues a message can be secured on.
type Queues struct {
	// Trigger is the queue the function reads; retry copies go back to it.
	Trigger string
	// Failed is the failure queue.
	Failed string
}

// Settlement is how one delivery is secured after a decision: which copy goes to which queue. Its String
// is the log line's "settlement" field.
type Settlement struct {
	Kind  purge.Settlement
	Queue string
	// Copy is the message to send; meaningful unless Kind is purge.SettleNothing.
	Copy Outgoing
}

func (s Settlement) String() string {
	switch s.Kind {
	case purge.SettleRetryCopy:
		return "retry-copy:" + s.Queue
	case purge.SettleFailureCopy:
		return "failure-queue:" + s.Queue
	}
	return "none"
}

// Settle builds what secures d after dec: nothing, a retry copy for the trigger queue, or a failure copy.
func Settle(d *Delivery, dec purge.Decision, q Queues, now time.Time) Settlement {
	switch k := dec.Settlement(); k {
	case purge.SettleRetryCopy:
		return Settlement{Kind: k, Queue: q.Trigger, Copy: RetryCopy(d, dec)}
	case purge.SettleFailureCopy:
		return Settlement{Kind: k, Queue: q.Failed, Copy: FailureCopy(d, dec, now)}
	}
	return Settlement{Kind: purge.SettleNothing}
}

// idNamespace makes derived MessageIDs name-based UUIDs (v5) unique to entra-purge.
var idNamespace = uuid.MustParse("6f1b2a4e-3c7d-5e8f-9a0b-1c2d3e4f5a6b")

// RetryMessageID derives a retry copy's MessageID from the delivered message's id, as FailureMessageID
// does. The same delivery handled twice (a crash after sending the copy, then redelivery) makes the same id,
// whatever the second decision, so the trigger queue's duplicate detection drops the second copy and the
// request stays one chain of messages. Each copy is a new delivery, so the ids of one request's copies form
// a chain that never repeats: no copy can be taken for the message it came from, or an earlier one. (Ids
// derived from the attempt and a deferral's time, to the second, did repeat: a deferral deferred again
// within the same second got its own delivery's id, duplicate detection dropped it, the delivery was
// completed, and the request was lost — found by `make chaos`.)
func RetryMessageID(deliveredID string) string {
	if deliveredID == "" {
		return uuid.NewString()
	}
	return uuid.NewSHA1(idNamespace, []byte(deliveredID+"|retry")).String()
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

// ReplayMessageID derives the trigger-queue copy's id from the failure message's id, so a copy sent twice
// (a crash between sending and completing) is dropped by duplicate detection.
func ReplayMessageID(failureMessageID string) string {
	return uuid.NewSHA1(idNamespace, []byte(failureMessageID+"|replay")).String()
}

// RetryCopy builds the scheduled copy that goes back to the trigger queue: the original body, content type
// and correlation id, with the bookkeeping carried forward.
func RetryCopy(d *Delivery, dec purge.Decision) Outgoing {
	original := d.OriginalMessageID()
	props := map[string]any{
		PropAttempt:           int64(dec.NextAttempt),
		PropFirstRequested:    dec.FirstRequested.UTC().Format(time.RFC3339Nano),
		PropOriginalMessageID: original,
	}
	if dec.LastError != "" {
		props[PropLastError] = dec.LastError
	}
	return Outgoing{
		Body: d.Body, MessageID: RetryMessageID(d.MessageID),
		ContentType: d.ContentType, CorrelationID: d.CorrelationID, ScheduledAt: dec.RetryAt, Properties: props,
	}
}

// FailureCopy builds the failure-queue message: the original body and every property the contract names.
// DeadLetterReason and DeadLetterErrorDescription are strings, as Service Bus tools expect of them.
func FailureCopy(d *Delivery, dec purge.Decision, now time.Time) Outgoing {
	props := map[string]any{
		PropDeadLetterReason:      string(dec.Reason),
		PropDeadLetterDescription: dec.Description(),
		PropObjectID:              dec.Request.ID.String(),
		PropAttempts:              int64(dec.Attempt),
		PropGraphStatus:           int64(dec.Graph.Status),
		PropGraphErrorCode:        dec.Graph.Code,
		PropGraphRequestID:        dec.Graph.RequestID,
		PropOriginalMessageID:     d.OriginalMessageID(),
		PropFailedAt:              now.UTC().Format(time.RFC3339),
	}
	if !dec.FirstRequested.IsZero() {
		props[PropFirstRequested] = dec.FirstRequested.UTC().Format(time.RFC3339Nano)
	}
	return Outgoing{
		Body: d.Body, MessageID: FailureMessageID(d.MessageID),
		ContentType: d.ContentType, CorrelationID: d.CorrelationID, Properties: props,
	}
}

// ReplayCopy builds the request sent back to the trigger queue for a failure-queue message. It carries
// the replay marks instead of the retry bookkeeping, so the replay starts afresh and its own retry copies
// cannot collide with the earlier run's.
func ReplayCopy(failed *Delivery) Outgoing {
	return Outgoing{
		Body: failed.Body, MessageID: ReplayMessageID(failed.MessageID),
		ContentType: failed.ContentType, CorrelationID: failed.CorrelationID,
		Properties: map[string]any{
			PropReplayOf:      failed.OriginalMessageID(),
			PropReplayedFrom:  failed.MessageID,
			PropReplayedAfter: str(failed.Properties[PropDeadLetterReason]),
		},
	}
}

// The audit fields of the requests the retention sweep enqueues.
const (
	SweepReason      = "retention"
	SweepRequestedBy = "sweep"
)

// SweepMessageID derives a sweep request's MessageId from the object id and the UTC day of the run: every
// run of one day asks for an object under the same id, so the trigger queue's duplicate detection drops the
// repeats of overlapping or repeated runs (docs/contract.md §13.3).
func SweepMessageID(id directory.ObjectID, day time.Time) string {
	return uuid.NewSHA1(idNamespace, []byte(id.String()+"|sweep|"+day.UTC().Format(time.DateOnly))).String()
}

// SweepRequest builds the ordinary purge request the retention sweep enqueues for one object:
// {"id","type","reason":"retention","requestedBy":"sweep"}, JSON content, MessageId from SweepMessageID.
// It goes through the same checks as any request; the sweep never purges anything itself.
func SweepRequest(id directory.ObjectID, t directory.Type, day time.Time) Outgoing {
	body, _ := json.Marshal(struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		Reason      string `json:"reason"`
		RequestedBy string `json:"requestedBy"`
	}{id.String(), string(t), SweepReason, SweepRequestedBy})
	return Outgoing{Body: body, MessageID: SweepMessageID(id, day), ContentType: "application/json"}
}

// NewRequest builds a purge request message (`handler send`): a fresh MessageId, JSON content.
func NewRequest(body []byte, correlationID string) Outgoing {
	return Outgoing{Body: body, MessageID: uuid.NewString(), ContentType: "application/json", CorrelationID: correlationID}
}

// FailedMessage is one failure-queue message as an operator sees it (`handler failed`, `handler replay`).
type FailedMessage struct {
	SequenceNumber    int64        `json:"sequenceNumber"`
	MessageID         string       `json:"messageId"`
	EnqueuedTime      time.Time    `json:"enqueuedTime"`
	Reason            purge.Reason `json:"reason"`
	Description       string       `json:"description"`
	ObjectID          string       `json:"objectId"`
	Attempts          int64        `json:"attempts"`
	GraphStatus       int64        `json:"graphStatus"`
	GraphErrorCode    string       `json:"graphErrorCode"`
	GraphRequestID    string       `json:"graphRequestId"`
	OriginalMessageID string       `json:"originalMessageId"`
	FailedAt          string       `json:"failedAt"`
	Body              string       `json:"body"`
}

// Failed reads the failure properties of a failure-queue message. A message that did not come from
// entra-purge (someone sent to the queue by hand) still shows, with empty fields.
func (d *Delivery) Failed() FailedMessage {
	p := d.Properties
	attempts, _ := number(p[PropAttempts])
	status, _ := number(p[PropGraphStatus])
	return FailedMessage{
		SequenceNumber: d.SequenceNumber, MessageID: d.MessageID, EnqueuedTime: d.EnqueuedTime, Body: string(d.Body),
		Reason: purge.Reason(str(p[PropDeadLetterReason])), Description: str(p[PropDeadLetterDescription]), ObjectID: str(p[PropObjectID]),
		Attempts: int64(attempts), GraphStatus: int64(status), GraphErrorCode: str(p[PropGraphErrorCode]),
		GraphRequestID: str(p[PropGraphRequestID]), OriginalMessageID: str(p[PropOriginalMessageID]), FailedAt: str(p[PropFailedAt]),
	}
}

func str(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	case int64:
		return strconv.FormatInt(s, 10)
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}

// timeProp reads a time property: RFC 3339 text (what the copies write; a zone-less form, which .NET
// writes for a UTC DateTime, is read as UTC too), or a time value (an AMQP timestamp from a receiver).
func timeProp(v any) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999"} {
			if parsed, err := time.Parse(layout, t); err == nil {
				return parsed.UTC(), true
			}
		}
	case time.Time:
		return t.UTC(), true
	}
	return time.Time{}, false
}
