// Package bus is entra-purge's Service Bus side: it secures each message by sending a copy — a scheduled
// retry back to the trigger queue, or a failure to the failure queue — because a custom handler cannot
// settle the trigger message itself (functions-host.md §3.2). It also reads the failure queue for the
// operator's commands.
package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// Sender is the part of *azservicebus.Sender this package uses; tests substitute a fake.
type Sender interface {
	SendMessage(ctx context.Context, msg *azservicebus.Message, opts *azservicebus.SendMessageOptions) error
	Close(ctx context.Context) error
}

var _ Sender = (*azservicebus.Sender)(nil)

// Client holds one Service Bus client and one sender per queue, created on first use and reused: each
// sender link costs two CBS token exchanges and a management link to set up (servicebus.md Part 5).
type Client struct {
	sb *azservicebus.Client

	mu      sync.Mutex
	senders map[string]Sender
	// newSender is sb.NewSender unless a test replaces it.
	newSender func(queue string) (Sender, error)
}

// NewClient connects with a connection string when one is given (the local emulator) and otherwise to the
// namespace with cred (the managed identity in Azure). Nothing touches the network until the first send,
// so a missing queue shows up as a send error, not a start-up error.
func NewClient(connectionString, namespace string, cred azcore.TokenCredential) (*Client, error) {
	var (
		sb  *azservicebus.Client
		err error
	)
	opts := &azservicebus.ClientOptions{ApplicationID: "entra-purge"}
	if connectionString != "" {
		sb, err = azservicebus.NewClientFromConnectionString(connectionString, opts)
		if err != nil {
			// azservicebus's parse errors can quote the connection string; never pass that on.
			return nil, errors.New("service bus: the connection string could not be parsed")
		}
	} else {
		sb, err = azservicebus.NewClient(namespace, cred, opts)
		if err != nil {
			return nil, fmt.Errorf("service bus: %w", err)
		}
	}
	c := &Client{sb: sb, senders: map[string]Sender{}}
	c.newSender = func(queue string) (Sender, error) { return sb.NewSender(queue, nil) }
	return c, nil
}

// NewClientWithSenders returns a Client whose senders come from newSender: for tests.
func NewClientWithSenders(newSender func(queue string) (Sender, error)) *Client {
	return &Client{senders: map[string]Sender{}, newSender: newSender}
}

// SB returns the underlying azservicebus client (for receivers); nil for a test client.
func (c *Client) SB() *azservicebus.Client { return c.sb }

func (c *Client) sender(queue string) (Sender, error) {
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

// Send sends msg to queue. On failure the cached sender is dropped, so the next send starts a fresh link
// (a link that failed once, e.g. because the queue was missing, is not reused).
func (c *Client) Send(ctx context.Context, queue string, msg *azservicebus.Message) error {
	s, err := c.sender(queue)
	if err != nil {
		return err
	}
	if err := s.SendMessage(ctx, msg, nil); err != nil {
		c.mu.Lock()
		if c.senders[queue] == s {
			delete(c.senders, queue)
		}
		c.mu.Unlock()
		go func() { _ = s.Close(context.Background()) }()
		return fmt.Errorf("service bus: sending to %s: %w", queue, err)
	}
	return nil
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
