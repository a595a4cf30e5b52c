// Package bus is entra-purge's Service Bus client, built on azservicebus: it sends the messages package
// message builds (retry and failure copies that secure a delivery, because a custom handler cannot settle
// the trigger message itself; new and replayed requests), and reads queues for the operator's commands.
// The message shapes are package message's; this package only moves them.
package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/internal/message"
)

// sender is the part of *azservicebus.Sender this package uses; tests substitute a fake.
type sender interface {
	SendMessage(ctx context.Context, msg *azservicebus.Message, opts *azservicebus.SendMessageOptions) error
	NewMessageBatch(ctx context.Context, opts *azservicebus.MessageBatchOptions) (*azservicebus.MessageBatch, error)
	SendMessageBatch(ctx context.Context, batch *azservicebus.MessageBatch, opts *azservicebus.SendMessageBatchOptions) error
	Close(ctx context.Context) error
}

var _ sender = (*azservicebus.Sender)(nil)

// ClientOptions configures a [Client]. A nil *ClientOptions means defaults.
type ClientOptions struct {
	// ApplicationID is sent to Service Bus in the connection's user agent; default "entra-purge".
	ApplicationID string
}

// Client holds one Service Bus client and one sender per queue, created on first use and reused: each
// sender link costs two CBS token exchanges and a management link to set up (docs/servicebus.md §4.2, §5).
type Client struct {
	sb *azservicebus.Client

	mu      sync.Mutex
	senders map[string]sender
	// newSender is sb.NewSender unless a test replaces it.
	newSender func(queue string) (sender, error)
}

// NewClient connects with a connection string when one is given (the local emulator) and otherwise to the
// namespace with cred (the managed identity in Azure). Nothing touches the network until the first send,
// so a missing queue shows up as a send error, not a start-up error.
func NewClient(connectionString, namespace string, cred azcore.TokenCredential, opts *ClientOptions) (*Client, error) {
	appID := "entra-purge"
	if opts != nil && opts.ApplicationID != "" {
		appID = opts.ApplicationID
	}
	var (
		sb  *azservicebus.Client
		err error
	)
	sbOpts := &azservicebus.ClientOptions{ApplicationID: appID}
	if connectionString != "" {
		sb, err = azservicebus.NewClientFromConnectionString(connectionString, sbOpts)
		if err != nil {
			// azservicebus's parse errors can quote the connection string; never pass that on.
			return nil, errors.New("service bus: the connection string could not be parsed")
		}
	} else {
		sb, err = azservicebus.NewClient(namespace, cred, sbOpts)
		if err != nil {
			return nil, fmt.Errorf("service bus: %w", err)
		}
	}
	c := &Client{sb: sb, senders: map[string]sender{}}
	c.newSender = func(queue string) (sender, error) { return sb.NewSender(queue, nil) }
	return c, nil
}

func (c *Client) sender(queue string) (sender, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.senders[queue]; ok {
		return s, nil
	}
	s, err := c.newSender(queue)
	if err != nil {
		return nil, fmt.Errorf("service bus: sender for %s: %w", queue, err)
	}
	c.senders[queue] = s
	return s, nil
}

// Send sends m to queue. On failure the cached sender is dropped, so the next send starts a fresh link
// (a link that failed once, e.g. because the queue was missing, is not reused).
func (c *Client) Send(ctx context.Context, queue string, m message.Outgoing) error {
	s, err := c.sender(queue)
	if err != nil {
		return err
	}
	if err := s.SendMessage(ctx, toSDK(m), nil); err != nil {
		c.dropSender(queue, s)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) {
			return fmt.Errorf("service bus: sending to %s: %w (%d-byte body)", queue, message.ErrTooLarge, len(m.Body))
		}
		return fmt.Errorf("service bus: sending to %s: %w", queue, err)
	}
	return nil
}

// SendBatch sends msgs to queue in as few batches as the queue's message size allows (one
// SendMessageBatch per batch): the retention sweep's requests. Each message keeps its own MessageId, so
// the queue's duplicate detection still drops repeats one by one. It returns after the first batch that
// fails; the batches before it were sent, so the caller may send everything again (the ids make it safe).
func (c *Client) SendBatch(ctx context.Context, queue string, msgs []message.Outgoing) error {
	if len(msgs) == 0 {
		return nil
	}
	s, err := c.sender(queue)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		c.dropSender(queue, s)
		return fmt.Errorf("service bus: sending a batch to %s: %w", queue, err)
	}
	batch, err := s.NewMessageBatch(ctx, nil)
	if err != nil {
		return fail(err)
	}
	for i := 0; i < len(msgs); {
		err := batch.AddMessage(toSDK(msgs[i]), nil)
		switch {
		case err == nil:
			i++
			continue
		case !errors.Is(err, azservicebus.ErrMessageTooLarge):
			return fail(err)
		case batch.NumMessages() == 0:
			return fail(fmt.Errorf("%w (%d-byte body)", message.ErrTooLarge, len(msgs[i].Body)))
		}
		if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
			return fail(err)
		}
		if batch, err = s.NewMessageBatch(ctx, nil); err != nil {
			return fail(err)
		}
	}
	if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
		return fail(err)
	}
	return nil
}

// dropSender forgets a sender that failed, so the next send starts a fresh link.
func (c *Client) dropSender(queue string, s sender) {
	c.mu.Lock()
	if c.senders[queue] == s {
		delete(c.senders, queue)
	}
	c.mu.Unlock()
	go func() { _ = s.Close(context.Background()) }()
}

// Peek returns up to max messages of queue, oldest first, without locking or removing any.
func (c *Client) Peek(ctx context.Context, queue string, max int) ([]message.Delivery, error) {
	r, err := c.sb.NewReceiverForQueue(queue, nil)
	if err != nil {
		return nil, fmt.Errorf("service bus: receiver for %s: %w", queue, err)
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []message.Delivery
	for len(out) < max {
		msgs, err := r.PeekMessages(ctx, min(max-len(out), 100), nil)
		if err != nil {
			return out, fmt.Errorf("service bus: peeking %s: %w", queue, err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			out = append(out, fromSDK(m))
		}
	}
	return out, nil
}

// Close closes every sender and the client.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, s := range c.senders {
		errs = append(errs, s.Close(ctx))
		delete(c.senders, q)
	}
	if c.sb != nil {
		errs = append(errs, c.sb.Close(ctx))
	}
	return errors.Join(errs...)
}

// toSDK is the one place an Outgoing message becomes an azservicebus message. Empty strings stay unset,
// as Service Bus would show them.
func toSDK(m message.Outgoing) *azservicebus.Message {
	out := &azservicebus.Message{Body: m.Body, ContentType: nonEmpty(m.ContentType), CorrelationID: nonEmpty(m.CorrelationID),
		ApplicationProperties: m.Properties}
	if m.MessageID != "" {
		id := m.MessageID
		out.MessageID = &id
	}
	if !m.ScheduledAt.IsZero() {
		at := m.ScheduledAt.UTC()
		out.ScheduledEnqueueTime = &at
	}
	return out
}

// fromSDK is the one place a received azservicebus message becomes a Delivery.
func fromSDK(m *azservicebus.ReceivedMessage) message.Delivery {
	d := message.Delivery{Body: m.Body, MessageID: m.MessageID, DeliveryCount: int(m.DeliveryCount), Properties: m.ApplicationProperties}
	if m.CorrelationID != nil {
		d.CorrelationID = *m.CorrelationID
	}
	if m.ContentType != nil {
		d.ContentType = *m.ContentType
	}
	if m.SequenceNumber != nil {
		d.SequenceNumber = *m.SequenceNumber
	}
	if m.EnqueuedTime != nil {
		d.EnqueuedTime = m.EnqueuedTime.UTC()
	}
	if d.Properties == nil {
		d.Properties = map[string]any{}
	}
	return d
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// defaultEmptyWait is how long an empty receive waits before a queue counts as drained.
const defaultEmptyWait = 3 * time.Second

// Temporary reports whether a Service Bus error may pass by itself (a lost connection, a timeout), as
// opposed to one that needs a fix (a missing queue, a refused key).
func Temporary(err error) bool {
	if sbErr, ok := errors.AsType[*azservicebus.Error](err); ok {
		return sbErr.Code == azservicebus.CodeConnectionLost || sbErr.Code == azservicebus.CodeTimeout
	}
	return false
}
