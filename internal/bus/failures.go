package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
)

// Properties a replayed request carries instead of the retry bookkeeping: a replay starts afresh (attempt
// 1, a new not-found grace window), and keeps a link to the request it repeats for the audit trail.
const (
	PropReplayOf         = "ReplayOf"
	PropReplayedFrom     = "ReplayedFromFailure"
	PropReplayedAfter    = "ReplayedAfterReason"
	defaultEmptyWaitTime = 3 * time.Second
)

// FailedMessage is one failure-queue message as an operator sees it.
type FailedMessage struct {
	SequenceNumber    int64     `json:"sequenceNumber"`
	MessageID         string    `json:"messageId"`
	EnqueuedTime      time.Time `json:"enqueuedTime"`
	Reason            string    `json:"reason"`
	Description       string    `json:"description"`
	ObjectID          string    `json:"objectId"`
	Attempts          int64     `json:"attempts"`
	GraphStatus       int64     `json:"graphStatus"`
	GraphErrorCode    string    `json:"graphErrorCode"`
	GraphRequestID    string    `json:"graphRequestId"`
	OriginalMessageID string    `json:"originalMessageId"`
	FailedAt          string    `json:"failedAt"`
	Body              string    `json:"body"`
}

// FailedFrom reads the failure properties of a received message. Messages that did not come from
// entra-purge (someone sent to the queue by hand) still show, with empty fields.
func FailedFrom(m *azservicebus.ReceivedMessage) FailedMessage {
	p := m.ApplicationProperties
	f := FailedMessage{
		MessageID: m.MessageID, Body: string(m.Body),
		Reason: str(p[PropDeadLetterReason]), Description: str(p[PropDeadLetterDescription]), ObjectID: str(p[PropObjectID]),
		Attempts: num(p[PropAttempts]), GraphStatus: num(p[PropGraphStatus]), GraphErrorCode: str(p[PropGraphErrorCode]),
		GraphRequestID: str(p[PropGraphRequestID]), OriginalMessageID: str(p[PropOriginalMessageID]), FailedAt: str(p[PropFailedAt]),
	}
	if m.SequenceNumber != nil {
		f.SequenceNumber = *m.SequenceNumber
	}
	if m.EnqueuedTime != nil {
		f.EnqueuedTime = m.EnqueuedTime.UTC()
	}
	return f
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// PeekFailed lists up to max messages of the failure queue without locking or removing any.
func (c *Client) PeekFailed(ctx context.Context, queue string, max int) ([]FailedMessage, error) {
	r, err := c.sb.NewReceiverForQueue(queue, nil)
	if err != nil {
		return nil, fmt.Errorf("service bus: receiver for %s: %w", queue, err)
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []FailedMessage
	for len(out) < max {
		msgs, err := r.PeekMessages(ctx, min(max-len(out), 100), nil)
		if err != nil {
			return out, fmt.Errorf("service bus: peeking %s: %w", queue, err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			out = append(out, FailedFrom(m))
		}
	}
	return out, nil
}

// ReplayOptions selects what Replay moves.
type ReplayOptions struct {
	// Reason, when set, replays only messages whose DeadLetterReason equals it.
	Reason string
	// Max bounds how many messages are replayed; 0 means all.
	Max int
	// DryRun lists what would be replayed (by peeking) and moves nothing.
	DryRun bool
	// Progress, when set, is called after each replayed message.
	Progress func(done int, m FailedMessage)
	// EmptyWait is how long an empty receive waits before the queue counts as drained (default 3 s).
	EmptyWait time.Duration
}

// ReplayResult reports exactly what was moved.
type ReplayResult struct {
	Replayed []FailedMessage `json:"replayed"`
	// Skipped counts messages left on the failure queue because they did not match the filter.
	Skipped int `json:"skipped"`
}

// ReplayMessageID derives the trigger-queue copy's id from the failure message's id, so a copy sent twice
// (a crash between sending and completing) is dropped by duplicate detection.
func ReplayMessageID(failureMessageID string) string {
	return uuid.NewSHA1(idNamespace, []byte(failureMessageID+"|replay")).String()
}

// ReplayCopy builds the request sent back to the trigger queue for a failure-queue message.
func ReplayCopy(m *azservicebus.ReceivedMessage) *azservicebus.Message {
	id := ReplayMessageID(m.MessageID)
	origin := str(m.ApplicationProperties[PropOriginalMessageID])
	if origin == "" {
		origin = m.MessageID
	}
	return &azservicebus.Message{
		Body: m.Body, MessageID: &id, ContentType: m.ContentType, CorrelationID: m.CorrelationID,
		ApplicationProperties: map[string]any{
			PropReplayOf:      origin,
			PropReplayedFrom:  m.MessageID,
			PropReplayedAfter: str(m.ApplicationProperties[PropDeadLetterReason]),
		},
	}
}

// Replay moves failure-queue messages back to the trigger queue. Each message is completed (removed from
// the failure queue) only after its copy was sent, so a failure part-way loses nothing. Messages that do
// not match the filter stay locked until the run ends, so the receiver moves past them, and are then put
// back with one abandon each.
func (c *Client) Replay(ctx context.Context, failedQueue, triggerQueue string, opts ReplayOptions) (ReplayResult, error) {
	var res ReplayResult
	if opts.DryRun {
		msgs, err := c.PeekFailed(ctx, failedQueue, 1<<20)
		for _, m := range msgs {
			if opts.Max > 0 && len(res.Replayed) >= opts.Max {
				break
			}
			if opts.Reason != "" && m.Reason != opts.Reason {
				res.Skipped++
				continue
			}
			res.Replayed = append(res.Replayed, m)
		}
		return res, err
	}
	wait := opts.EmptyWait
	if wait <= 0 {
		wait = defaultEmptyWaitTime
	}
	r, err := c.sb.NewReceiverForQueue(failedQueue, nil)
	if err != nil {
		return res, fmt.Errorf("service bus: receiver for %s: %w", failedQueue, err)
	}
	defer r.Close(context.WithoutCancel(ctx))

	var held []*azservicebus.ReceivedMessage
	defer func() {
		for _, m := range held {
			_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
		}
	}()
	seen := map[string]bool{}
	for opts.Max == 0 || len(res.Replayed) < opts.Max {
		batch := 20
		if opts.Max > 0 {
			batch = min(batch, opts.Max-len(res.Replayed))
		}
		rctx, cancel := context.WithTimeout(ctx, wait)
		msgs, err := r.ReceiveMessages(rctx, batch, nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return res, fmt.Errorf("service bus: receiving from %s: %w", failedQueue, err)
		}
		if len(msgs) == 0 {
			return res, ctx.Err()
		}
		cycled := false
		for _, m := range msgs {
			f := FailedFrom(m)
			key := fmt.Sprint(f.SequenceNumber, "/", m.MessageID)
			switch {
			case seen[key]:
				// A held message whose lock ran out came round again: everything has been looked at.
				cycled = true
				held = append(held, m)
				continue
			case (opts.Reason != "" && f.Reason != opts.Reason) || (opts.Max > 0 && len(res.Replayed) >= opts.Max):
				seen[key] = true
				if opts.Reason != "" && f.Reason != opts.Reason {
					res.Skipped++
				}
				held = append(held, m)
				continue
			}
			seen[key] = true
			if err := c.Send(ctx, triggerQueue, ReplayCopy(m)); err != nil {
				held = append(held, m)
				return res, err
			}
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				return res, fmt.Errorf("service bus: %s was copied to %s but could not be removed from %s (it may be replayed twice; duplicate detection drops the second copy): %w",
					m.MessageID, triggerQueue, failedQueue, err)
			}
			res.Replayed = append(res.Replayed, f)
			if opts.Progress != nil {
				opts.Progress(len(res.Replayed), f)
			}
		}
		if cycled {
			return res, nil
		}
	}
	return res, nil
}

// RequestMessage builds a purge request message for `handler send`.
func RequestMessage(body []byte, correlationID string) *azservicebus.Message {
	id := uuid.NewString()
	ct := "application/json"
	m := &azservicebus.Message{Body: body, MessageID: &id, ContentType: &ct}
	if correlationID != "" {
		m.CorrelationID = &correlationID
	}
	return m
}

// Peek returns up to max messages of any queue without locking them (used by `handler check`).
func (c *Client) Peek(ctx context.Context, queue string, max int) ([]*azservicebus.ReceivedMessage, error) {
	r, err := c.sb.NewReceiverForQueue(queue, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	return r.PeekMessages(ctx, max, nil)
}
