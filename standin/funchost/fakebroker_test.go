package funchost

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
)

// fakeBroker is an in-memory peek-lock queue behind the receiver interface, for
// unit tests that must not depend on the emulator: abandon redelivers with
// DeliveryCount+1 and dead-letters past maxDelivery, as Service Bus does.
type fakeBroker struct {
	mu           sync.Mutex
	lockDuration time.Duration
	maxDelivery  uint32
	queue        []*azservicebus.ReceivedMessage
	locked       map[[16]byte]*azservicebus.ReceivedMessage
	maxLocked    int
	completed    []*azservicebus.ReceivedMessage
	deadLettered []*azservicebus.ReceivedMessage
	abandons     int
	renewals     int
	renewCalls   int
	// renewErrs are returned, in order, by the next lock renewals.
	renewErrs []error
	seq       int64
	wake      chan struct{}
}

var _ receiver = (*fakeBroker)(nil)

func newFakeBroker(maxDelivery uint32, lock time.Duration) *fakeBroker {
	return &fakeBroker{maxDelivery: maxDelivery, lockDuration: lock, locked: map[[16]byte]*azservicebus.ReceivedMessage{}, wake: make(chan struct{})}
}

func (b *fakeBroker) source() source {
	return source{rcv: b, client: NewClientInfo("fake.servicebus.windows.net")}
}

// send enqueues a message with body and returns its id.
func (b *fakeBroker) send(body string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	now := time.Now().UTC()
	m := &azservicebus.ReceivedMessage{
		Body: []byte(body), MessageID: uuid.NewString(), SequenceNumber: ptr(b.seq), EnqueuedTime: &now,
		ContentType: ptr("text/plain"), ApplicationProperties: map[string]any{},
	}
	b.queue = append(b.queue, m)
	b.signal()
	return m.MessageID
}

func (b *fakeBroker) signal() {
	close(b.wake)
	b.wake = make(chan struct{})
}

func (b *fakeBroker) ReceiveMessages(ctx context.Context, maxMessages int, _ *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	for {
		b.mu.Lock()
		if len(b.queue) > 0 {
			n := min(maxMessages, len(b.queue))
			var out []*azservicebus.ReceivedMessage
			for _, m := range b.queue[:n] {
				d := *m // each delivery is a fresh struct, as the SDK returns
				d.DeliveryCount = m.DeliveryCount + 1
				d.LockToken = uuid.New()
				d.LockedUntil = ptr(time.Now().Add(b.lockDuration))
				b.locked[d.LockToken] = m
				out = append(out, &d)
			}
			b.queue = b.queue[n:]
			b.maxLocked = max(b.maxLocked, len(b.locked))
			b.mu.Unlock()
			return out, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

func (b *fakeBroker) settle(m *azservicebus.ReceivedMessage) (*azservicebus.ReceivedMessage, error) {
	orig, ok := b.locked[m.LockToken]
	if !ok {
		return nil, &azservicebus.Error{Code: azservicebus.CodeLockLost}
	}
	delete(b.locked, m.LockToken)
	return orig, nil
}

func (b *fakeBroker) CompleteMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.CompleteMessageOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	orig, err := b.settle(m)
	if err != nil {
		return err
	}
	b.completed = append(b.completed, orig)
	return nil
}

func (b *fakeBroker) AbandonMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.AbandonMessageOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	orig, err := b.settle(m)
	if err != nil {
		return err
	}
	b.abandons++
	orig.DeliveryCount++
	if orig.DeliveryCount >= b.maxDelivery {
		b.deadLettered = append(b.deadLettered, orig)
		return nil
	}
	b.queue = append(b.queue, orig)
	b.signal()
	return nil
}

func (b *fakeBroker) RenewMessageLock(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.RenewMessageLockOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.renewCalls++
	if len(b.renewErrs) > 0 {
		err := b.renewErrs[0]
		b.renewErrs = b.renewErrs[1:]
		return err
	}
	if _, ok := b.locked[m.LockToken]; !ok {
		return &azservicebus.Error{Code: azservicebus.CodeLockLost}
	}
	b.renewals++
	m.LockedUntil = ptr(time.Now().Add(b.lockDuration))
	return nil
}

// counts is a consistent snapshot of where messages are.
func (b *fakeBroker) counts() (queued, locked, completed, dead int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue), len(b.locked), len(b.completed), len(b.deadLettered)
}

var errNoBroker = errors.New("no broker")

// useBroker makes the host receive from b instead of Service Bus.
func (hs *harness) useBroker(b *fakeBroker) {
	hs.h.openSource = func(ctx context.Context, fn *Function) (source, error) {
		if b == nil {
			return source{}, errNoBroker
		}
		return b.source(), nil
	}
}
