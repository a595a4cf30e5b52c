package bus

import (
	"context"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/internal/message"
)

type fakeSender struct {
	sent   []*azservicebus.Message
	fail   error
	closed bool
}

func (f *fakeSender) SendMessage(_ context.Context, m *azservicebus.Message, _ *azservicebus.SendMessageOptions) error {
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, m)
	return nil
}
func (f *fakeSender) Close(context.Context) error { f.closed = true; return nil }

func TestSendersReusedAndReplacedAfterFailure(t *testing.T) {
	var made []*fakeSender
	c := &Client{senders: map[string]sender{}}
	c.newSender = func(q string) (sender, error) {
		s := &fakeSender{}
		if len(made) == 0 {
			s.fail = errors.New("amqp:not-found")
		}
		made = append(made, s)
		return s, nil
	}
	msg := message.Outgoing{Body: []byte("x")}
	if err := c.Send(context.Background(), "q", msg); err == nil {
		t.Fatal("first send should fail")
	}
	for range 3 {
		if err := c.Send(context.Background(), "q", msg); err != nil {
			t.Fatal(err)
		}
	}
	if len(made) != 2 || len(made[1].sent) != 3 {
		t.Errorf("senders made %d, sent on second %d", len(made), len(made[1].sent))
	}
}
