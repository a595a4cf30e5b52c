package sbemu

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/standin/syncio"
)

// eventLog collects the emulator's JSON events so tests can wait for what the broker did
// (a lock expiring, a release) instead of sleeping for a guessed time.
type eventLog struct{ syncio.Buffer }

type event map[string]any

func (l *eventLog) events(name string) []event {
	var out []event
	for _, line := range strings.Split(l.String(), "\n") {
		var e event
		if len(line) == 0 || json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if e["event"] == name {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents waits until at least n events with the name have been logged.
func (l *eventLog) waitEvents(t *testing.T, name string, n int, timeout time.Duration) []event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := l.events(name)
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %d %q events, have %d", timeout, n, name, len(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start runs an emulator with the given queues and returns it, a client and the event log.
func start(t *testing.T, queues ...Queue) (*Emulator, *azservicebus.Client, *eventLog) {
	t.Helper()
	log := &eventLog{}
	e := StartT(t, Options{Queues: queues, Log: log})
	return e, newClient(t, e.ConnectionString()), log
}

func newClient(t *testing.T, connStr string) *azservicebus.Client {
	t.Helper()
	client, err := azservicebus.NewClientFromConnectionString(connStr, &azservicebus.ClientOptions{
		// The emulator answers at once; never let a test sit in the SDK's 4 s back-off.
		RetryOptions: azservicebus.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		t.Fatalf("NewClientFromConnectionString: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Close(ctx)
	})
	return client
}

func timeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newSender(t *testing.T, c *azservicebus.Client, queue string) *azservicebus.Sender {
	t.Helper()
	s, err := c.NewSender(queue, nil)
	if err != nil {
		t.Fatalf("NewSender(%s): %v", queue, err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func newReceiver(t *testing.T, c *azservicebus.Client, queue string, opts *azservicebus.ReceiverOptions) *azservicebus.Receiver {
	t.Helper()
	r, err := c.NewReceiverForQueue(queue, opts)
	if err != nil {
		t.Fatalf("NewReceiverForQueue(%s): %v", queue, err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func send(t *testing.T, s *azservicebus.Sender, msgs ...*azservicebus.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := s.SendMessage(timeout(t, 10*time.Second), m, nil); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
}

// receiveN receives until it has n messages or the timeout passes.
func receiveN(t *testing.T, r *azservicebus.Receiver, n int, d time.Duration) []*azservicebus.ReceivedMessage {
	t.Helper()
	ctx := timeout(t, d)
	var got []*azservicebus.ReceivedMessage
	for len(got) < n {
		msgs, err := r.ReceiveMessages(ctx, n-len(got), nil)
		if err != nil {
			t.Fatalf("ReceiveMessages: got %d of %d messages: %v", len(got), n, err)
		}
		got = append(got, msgs...)
	}
	return got
}

// warmUp attaches the sender's and the receiver's links (put-tokens, attach, $management)
// without sending or receiving anything, so later timing depends only on the messages.
func warmUp(t *testing.T, s *azservicebus.Sender, r *azservicebus.Receiver) {
	t.Helper()
	if _, err := s.NewMessageBatch(timeout(t, 10*time.Second), nil); err != nil {
		t.Fatalf("warming up the sender: %v", err)
	}
	if _, err := r.PeekMessages(timeout(t, 10*time.Second), 1, nil); err != nil {
		t.Fatalf("warming up the receiver: %v", err)
	}
}

// queueEmpty asserts that the receiver's queue holds no message in any state (active, locked or
// scheduled), so nothing can still arrive: a check that needs no waiting.
func queueEmpty(t *testing.T, r *azservicebus.Receiver) {
	t.Helper()
	msgs, err := r.PeekMessages(timeout(t, 5*time.Second), 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: ptr(int64(1))})
	if err != nil {
		t.Fatalf("PeekMessages: %v", err)
	}
	if len(msgs) > 0 {
		t.Fatalf("expected an empty queue, found %d message(s) (first: id %q)", len(msgs), msgs[0].MessageID)
	}
}

func msg(id string, body string) *azservicebus.Message {
	return &azservicebus.Message{MessageID: &id, Body: []byte(body)}
}

func ptr[T any](v T) *T { return &v }

func ids(msgs []*azservicebus.ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.MessageID
	}
	return out
}
