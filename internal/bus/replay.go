package bus

import (
	"context"
	"errors"
	"fmt"
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

// ReplayOptions selects what Replay moves.
type ReplayOptions struct {
	// Reason, when set, replays only messages that failed for it.
	Reason purge.Reason
	// Max bounds how many messages are replayed; 0 means all.
	Max int
	// DryRun lists what would be replayed (by peeking) and moves nothing.
	DryRun bool
	// Progress, when set, is called after each replayed message.
	Progress func(done int, m message.FailedMessage)
	// EmptyWait is how long an empty receive waits before the queue counts as drained (default 3 s).
	EmptyWait time.Duration
}

// ReplayResult reports exactly what was moved.
type ReplayResult struct {
	Replayed []message.FailedMessage `json:"replayed"`
	// Skipped counts messages left on the failure queue because they did not match the filter.
	Skipped int `json:"skipped"`
}

// Replay moves failure-queue messages back to the trigger queue. Each message is completed (removed from
// the failure queue) only after its copy was sent, so a failure part-way loses nothing.
func (c *Client) Replay(ctx context.Context, failedQueue, triggerQueue string, opts ReplayOptions) (ReplayResult, error) {
	if opts.DryRun {
		var res ReplayResult
		msgs, err := c.Peek(ctx, failedQueue, 1<<20)
		for _, d := range msgs {
			if opts.Max > 0 && len(res.Replayed) >= opts.Max {
				break
			}
			f := d.Failed()
			if opts.Reason != "" && f.Reason != opts.Reason {
				res.Skipped++
				continue
			}
			res.Replayed = append(res.Replayed, f)
		}
		return res, err
	}
	r, err := c.sb.NewReceiverForQueue(failedQueue, nil)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("service bus: receiver for %s: %w", failedQueue, err)
	}
	defer r.Close(context.WithoutCancel(ctx))
	send := func(ctx context.Context, m message.Outgoing) error { return c.Send(ctx, triggerQueue, m) }
	return replay(ctx, r, send, failedQueue, triggerQueue, opts)
}

// replay is Replay's receive/settle loop. Messages that do not match the filter stay locked until the run
// ends, so the receiver moves past them, and are then put back with one abandon each.
func replay(ctx context.Context, r receiver, send func(context.Context, message.Outgoing) error, failedQueue, triggerQueue string, opts ReplayOptions) (ReplayResult, error) {
	var res ReplayResult
	wait := opts.EmptyWait
	if wait <= 0 {
		wait = defaultEmptyWait
	}
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
		for i, m := range msgs {
			d := fromSDK(m)
			f := d.Failed()
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
			if err := send(ctx, message.ReplayCopy(&d)); err != nil {
				// This message and the rest of the batch go back now, not when their locks run out.
				held = append(held, msgs[i:]...)
				return res, err
			}
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				held = append(held, msgs[i+1:]...)
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
