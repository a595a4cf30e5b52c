package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

// Batches are sent through the real client against the emulator (standin/sbemu, e2e): an
// azservicebus.MessageBatch can only be made by a sender that reached a namespace.
func (f *fakeSender) NewMessageBatch(context.Context, *azservicebus.MessageBatchOptions) (*azservicebus.MessageBatch, error) {
	return nil, errors.New("fake sender: no batches")
}
func (f *fakeSender) SendMessageBatch(context.Context, *azservicebus.MessageBatch, *azservicebus.SendMessageBatchOptions) error {
	return errors.New("fake sender: no batches")
}

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

// fakeReceiver is a failure queue in peek-lock mode: a received message stays locked (invisible) until it
// is completed or abandoned. An empty receive answers at once, as the SDK does when its wait runs out.
type fakeReceiver struct {
	queue     []*azservicebus.ReceivedMessage
	locked    map[*azservicebus.ReceivedMessage]bool
	completed []string
	abandoned []string
	fail      error
}

func newFakeReceiver(msgs ...*azservicebus.ReceivedMessage) *fakeReceiver {
	return &fakeReceiver{queue: msgs, locked: map[*azservicebus.ReceivedMessage]bool{}}
}

func (f *fakeReceiver) ReceiveMessages(ctx context.Context, n int, _ *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	var out []*azservicebus.ReceivedMessage
	for _, m := range f.queue {
		if len(out) < n && !f.locked[m] {
			f.locked[m] = true
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, context.DeadlineExceeded
	}
	return out, nil
}

func (f *fakeReceiver) CompleteMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.CompleteMessageOptions) error {
	for i, q := range f.queue {
		if q == m {
			f.queue = append(f.queue[:i], f.queue[i+1:]...)
			f.completed = append(f.completed, m.MessageID)
			return nil
		}
	}
	return errors.New("lock lost")
}

func (f *fakeReceiver) AbandonMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.AbandonMessageOptions) error {
	delete(f.locked, m)
	f.abandoned = append(f.abandoned, m.MessageID)
	return nil
}

func failedMsg(id string, seq int64, reason string) *azservicebus.ReceivedMessage {
	return &azservicebus.ReceivedMessage{MessageID: id, SequenceNumber: &seq, Body: []byte(id),
		ApplicationProperties: map[string]any{message.PropDeadLetterReason: reason, message.PropOriginalMessageID: "orig-" + id}}
}

// snapshotOf is the snapshot a run would take of r's queue now.
func snapshotOf(r *fakeReceiver) Snapshot {
	snap := Snapshot{Queue: "purge-failed"}
	for _, m := range r.queue {
		d := fromSDK(m)
		snap.Messages = append(snap.Messages, d.Failed())
		snap.Last = max(snap.Last, d.SequenceNumber)
	}
	return snap
}

func runReplay(r *fakeReceiver, send func(context.Context, message.Outgoing) error, opts ReplayOptions) (ReplayResult, error) {
	return replay(context.Background(), r, send, Plan(snapshotOf(r), opts), "purge-failed", "purge-requests", opts)
}

func TestReplayMovesMatchingAndPutsTheRestBack(t *testing.T) {
	r := newFakeReceiver(failedMsg("a", 1, "Forbidden"), failedMsg("b", 2, "InvalidMessage"), failedMsg("c", 3, "Forbidden"))
	var sent []message.Outgoing
	send := func(_ context.Context, m message.Outgoing) error { sent = append(sent, m); return nil }
	res, err := runReplay(r, send, ReplayOptions{Reason: "Forbidden"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replayed) != 2 || res.Replayed[0].MessageID != "a" || res.Replayed[1].MessageID != "c" || res.Skipped != 1 {
		t.Fatalf("result %+v", res)
	}
	if len(sent) != 2 || sent[0].MessageID != message.ReplayMessageID("a") || sent[0].Properties[message.PropReplayOf] != "orig-a" {
		t.Errorf("sent %+v", sent)
	}
	if strings.Join(r.completed, ",") != "a,c" || strings.Join(r.abandoned, ",") != "b" || len(r.queue) != 1 {
		t.Errorf("completed %v abandoned %v left %d", r.completed, r.abandoned, len(r.queue))
	}
}

// A replayed request whose cause is not fixed fails again and lands on the failure queue with a new
// sequence number: the run does not take it again, and ends.
func TestReplayTakesEachMessageOnce(t *testing.T) {
	r := newFakeReceiver(failedMsg("a", 1, "Forbidden"), failedMsg("b", 2, "Forbidden"))
	next := int64(2)
	send := func(_ context.Context, m message.Outgoing) error {
		next++
		r.queue = append(r.queue, failedMsg("again-"+m.MessageID, next, "Forbidden"))
		return nil
	}
	res, err := runReplay(r, send, ReplayOptions{})
	if err != nil || len(res.Replayed) != 2 || res.NotReceived != 0 {
		t.Fatalf("err %v result %+v", err, res)
	}
	if strings.Join(r.completed, ",") != "a,b" || len(r.queue) != 2 {
		t.Errorf("completed %v, %d left", r.completed, len(r.queue))
	}
}

// A copy that could not be sent leaves its message on the failure queue (abandoned, not completed).
func TestReplaySendFailureLosesNothing(t *testing.T) {
	r := newFakeReceiver(failedMsg("a", 1, "Forbidden"), failedMsg("b", 2, "Forbidden"))
	send := func(context.Context, message.Outgoing) error { return errors.New("amqp:not-found") }
	res, err := runReplay(r, send, ReplayOptions{})
	if err == nil || len(res.Replayed) != 0 || len(r.completed) != 0 || len(r.queue) != 2 || res.NotReceived != 2 {
		t.Fatalf("err %v result %+v completed %v", err, res, r.completed)
	}
	for _, m := range r.queue {
		if r.locked[m] {
			t.Errorf("%s still locked after the run", m.MessageID)
		}
	}
}

func TestReplayMaxAndReceiveErrors(t *testing.T) {
	r := newFakeReceiver(failedMsg("a", 1, "Forbidden"), failedMsg("b", 2, "Forbidden"), failedMsg("c", 3, "Forbidden"))
	send := func(context.Context, message.Outgoing) error { return nil }
	res, err := runReplay(r, send, ReplayOptions{Max: 2})
	if err != nil || len(res.Replayed) != 2 || len(r.queue) != 1 || res.BeyondMax != 1 {
		t.Fatalf("max 2: err %v result %+v left %d", err, res, len(r.queue))
	}
	broken := newFakeReceiver(failedMsg("a", 1, "Forbidden"))
	plan := Plan(snapshotOf(broken), ReplayOptions{})
	broken.fail = errors.New("connection refused")
	if _, err := replay(context.Background(), broken, send, plan, "purge-failed", "purge-requests", ReplayOptions{}); err == nil || !strings.Contains(err.Error(), "purge-failed") {
		t.Errorf("receive error: %v", err)
	}
}

// A selected message locked by another receiver cannot be taken: the run ends and says so.
func TestReplayReportsWhatItCouldNotReceive(t *testing.T) {
	a, b := failedMsg("a", 1, "Forbidden"), failedMsg("b", 2, "Forbidden")
	r := newFakeReceiver(a, b)
	plan := Plan(snapshotOf(r), ReplayOptions{})
	r.locked[b] = true
	res, err := replay(context.Background(), r, func(context.Context, message.Outgoing) error { return nil }, plan, "purge-failed", "purge-requests", ReplayOptions{})
	if err != nil || len(res.Replayed) != 1 || res.NotReceived != 1 {
		t.Errorf("err %v result %+v", err, res)
	}
}

func TestPlan(t *testing.T) {
	snap := Snapshot{Messages: []message.FailedMessage{{SequenceNumber: 3, Reason: "Forbidden"}, {SequenceNumber: 1, Reason: "Forbidden"},
		{SequenceNumber: 2, Reason: "Protected"}, {SequenceNumber: 4, Reason: "Forbidden"}}, Last: 4}
	p := Plan(snap, ReplayOptions{Reason: "Forbidden", Max: 2})
	if len(p.Selected) != 2 || p.Selected[0].SequenceNumber != 1 || p.Selected[1].SequenceNumber != 3 || p.Skipped != 1 || p.BeyondMax != 1 {
		t.Errorf("plan %+v", p)
	}
}

// Conversions to and from the SDK keep every field the copies rely on, and leave empty strings unset.
func TestSDKConversions(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	m := toSDK(message.Outgoing{Body: []byte("b"), MessageID: "id", ScheduledAt: at, Properties: map[string]any{"k": int64(1)}})
	if *m.MessageID != "id" || !m.ScheduledEnqueueTime.Equal(at) || m.ContentType != nil || m.CorrelationID != nil || m.ApplicationProperties["k"] != int64(1) {
		t.Errorf("toSDK %+v", m)
	}
	if toSDK(message.Outgoing{}).ScheduledEnqueueTime != nil {
		t.Error("an unscheduled message got a ScheduledEnqueueTime")
	}
	seq, ct, corr := int64(5), "application/json", "TKT"
	d := fromSDK(&azservicebus.ReceivedMessage{MessageID: "r", Body: []byte("x"), SequenceNumber: &seq, ContentType: &ct, CorrelationID: &corr,
		DeliveryCount: 2, EnqueuedTime: &at})
	if d.MessageID != "r" || d.SequenceNumber != 5 || d.ContentType != ct || d.CorrelationID != corr || d.DeliveryCount != 2 || !d.EnqueuedTime.Equal(at) || d.Properties == nil {
		t.Errorf("fromSDK %+v", d)
	}
}
