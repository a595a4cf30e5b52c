package bus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/internal/purge"
)

// receiver is the part of *azservicebus.Receiver that replay uses; tests substitute a fake.
type receiver interface {
	ReceiveMessages(ctx context.Context, maxMessages int, opts *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, m *azservicebus.ReceivedMessage, opts *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, m *azservicebus.ReceivedMessage, opts *azservicebus.AbandonMessageOptions) error
}

var _ receiver = (*azservicebus.Receiver)(nil)

// Snapshot is what a failure queue held when a replay run started: the run takes only these, so a request
// that is replayed and fails again (landing on the queue with a new sequence number) is not taken again.
type Snapshot struct {
	Queue    string
	Messages []message.FailedMessage
	// Last is the highest sequence number in the snapshot (0 when the queue was empty).
	Last int64
}

// Snapshot peeks the whole of queue without locking anything.
func (c *Client) Snapshot(ctx context.Context, queue string) (Snapshot, error) {
	peeked, err := c.Peek(ctx, queue, math.MaxInt)
	snap := Snapshot{Queue: queue}
	for _, d := range peeked {
		snap.Messages = append(snap.Messages, d.Failed())
		snap.Last = max(snap.Last, d.SequenceNumber)
	}
	return snap, err
}

// ReplayOptions selects what a replay moves.
type ReplayOptions struct {
	// Reason, when set, replays only messages that failed for it.
	Reason purge.Reason
	// Max bounds how many messages are replayed; 0 means all.
	Max int
	// Progress, when set, is called after each replayed message.
	Progress func(done int, m message.FailedMessage)
	// EmptyWait is how long an empty receive waits before the run ends (default 3 s).
	EmptyWait time.Duration
}

// ReplayPlan is what a run over a snapshot will move: Selected, in sequence order.
type ReplayPlan struct {
	Selected []message.FailedMessage `json:"selected"`
	// Skipped counts messages of the snapshot that failed for another reason than the one asked for.
	Skipped int `json:"skipped"`
	// BeyondMax counts messages that matched but were left for a later run by --max.
	BeyondMax int `json:"beyondMax"`
	last      int64
}

// Plan selects from snap what a run with opts moves: the first Max messages (by sequence number) that
// failed for Reason. A dry run shows it and moves nothing.
func Plan(snap Snapshot, opts ReplayOptions) ReplayPlan {
	msgs := slices.Clone(snap.Messages)
	slices.SortFunc(msgs, func(a, b message.FailedMessage) int { return int(a.SequenceNumber - b.SequenceNumber) })
	p := ReplayPlan{last: snap.Last}
	for _, m := range msgs {
		switch {
		case opts.Reason != "" && m.Reason != opts.Reason:
			p.Skipped++
		case opts.Max > 0 && len(p.Selected) >= opts.Max:
			p.BeyondMax++
		default:
			p.Selected = append(p.Selected, m)
		}
	}
	return p
}

// ReplayResult reports exactly what a run moved and what it left.
type ReplayResult struct {
	Replayed []message.FailedMessage `json:"replayed"`
	// Skipped and BeyondMax are the plan's: left in place on purpose.
	Skipped   int `json:"skipped"`
	BeyondMax int `json:"beyondMax"`
	// NotReceived counts selected messages the run could not take: locked by another receiver, removed
	// meanwhile, or Service Bus stopped answering. Run again for them.
	NotReceived int `json:"notReceived"`
	// Arrived counts messages that reached the failure queue after the run started (a replayed request
	// that failed again, say). They were not taken: a run never replays a message twice.
	Arrived int `json:"arrived"`
}

// Replay moves the plan's messages from the snapshot's queue to triggerQueue. Each message is completed
// (removed from the failure queue) only after its copy was sent, so a failure part-way loses nothing.
func (c *Client) Replay(ctx context.Context, snap Snapshot, plan ReplayPlan, triggerQueue string, opts ReplayOptions) (ReplayResult, error) {
	r, err := c.sb.NewReceiverForQueue(snap.Queue, nil)
	if err != nil {
		return ReplayResult{Skipped: plan.Skipped, BeyondMax: plan.BeyondMax, NotReceived: len(plan.Selected)},
			fmt.Errorf("service bus: receiver for %s: %w", snap.Queue, err)
	}
	defer r.Close(context.WithoutCancel(ctx))
	send := func(ctx context.Context, m message.Outgoing) error { return c.Send(ctx, triggerQueue, m) }
	return replay(ctx, r, send, plan, snap.Queue, triggerQueue, opts)
}

// replay is Replay's receive/settle loop. It ends when every selected message was moved, when a receive
// finds nothing more, or when a message it put aside comes round again (its lock ran out: everything has
// been looked at). Messages it does not take stay locked until the end, so the receiver moves past them,
// and are then put back with one abandon each.
func replay(ctx context.Context, r receiver, send func(context.Context, message.Outgoing) error, plan ReplayPlan, failedQueue, triggerQueue string, opts ReplayOptions) (res ReplayResult, err error) {
	res = ReplayResult{Replayed: []message.FailedMessage{}, Skipped: plan.Skipped, BeyondMax: plan.BeyondMax}
	wait := opts.EmptyWait
	if wait <= 0 {
		wait = defaultEmptyWait
	}
	pending := map[int64]bool{}
	for _, m := range plan.Selected {
		pending[m.SequenceNumber] = true
	}
	var held []*azservicebus.ReceivedMessage
	aside := map[int64]bool{}
	defer func() {
		res.NotReceived = len(pending)
		for _, m := range held {
			_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
		}
	}()
	for len(pending) > 0 {
		rctx, cancel := context.WithTimeout(ctx, wait)
		msgs, err := r.ReceiveMessages(rctx, 50, nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return res, fmt.Errorf("service bus: receiving from %s: %w", failedQueue, err)
		}
		if len(msgs) == 0 {
			return res, ctx.Err()
		}
		cycled := false
		for i, m := range msgs {
			d := fromSDK(m)
			seq := d.SequenceNumber
			switch {
			case aside[seq]:
				cycled = true
				held = append(held, m)
			case !pending[seq]:
				aside[seq] = true
				held = append(held, m)
				if seq > plan.last {
					res.Arrived++
				}
			default:
				f := d.Failed()
				if err := send(ctx, message.ReplayCopy(&d)); err != nil {
					// This message and the rest of the batch go back now, not when their locks run out.
					held = append(held, msgs[i:]...)
					return res, err
				}
				if err := r.CompleteMessage(ctx, m, nil); err != nil {
					held = append(held, msgs[i+1:]...)
					delete(pending, seq)
					return res, fmt.Errorf("service bus: %s was copied to %s but could not be removed from %s (it may be replayed twice; duplicate detection drops the second copy): %w",
						m.MessageID, triggerQueue, failedQueue, err)
				}
				delete(pending, seq)
				res.Replayed = append(res.Replayed, f)
				if opts.Progress != nil {
					opts.Progress(len(res.Replayed), f)
				}
			}
		}
		if cycled {
			break
		}
	}
	return res, nil
}
