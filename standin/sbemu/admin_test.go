package sbemu

// The admin commands through the Go wrapper, seen by the real azservicebus client: a missing queue is
// CodeNotFound and keeps its messages, an unreachable one makes sends time out without storing them, and a
// held acknowledgement keeps SendMessage waiting although the message is stored.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
)

func TestMissingQueueIsNotFoundAndComesBack(t *testing.T) {
	t.Parallel()
	e, c, _ := start(t, Queue{Name: "q"}, Queue{Name: "other"})
	s := newSender(t, c, "q")
	send(t, s, msg("before", "x"))

	if err := e.SetEntityState(timeout(t, 5*time.Second), "q", EntityMissing); err != nil {
		t.Fatal(err)
	}
	// The open link is detached: the next send on it fails, and so does a new sender (put-token 404).
	err := s.SendMessage(timeout(t, 10*time.Second), msg("during", "x"), nil)
	if amqpErr, ok := errors.AsType[*amqp.Error](err); !ok || amqpErr.Condition != amqp.ErrCondNotFound {
		t.Fatalf("send on the detached link: %v, want amqp:not-found", err)
	}
	err = newSender(t, c, "q").SendMessage(timeout(t, 10*time.Second), msg("during", "x"), nil)
	wantCode(t, err, azservicebus.CodeNotFound, "404")
	send(t, newSender(t, c, "other"), msg("elsewhere", "x")) // other queues are not affected

	if err := e.SetEntityState(timeout(t, 5*time.Second), "q", EntityActive); err != nil {
		t.Fatal(err)
	}
	send(t, newSender(t, c, "q"), msg("after", "x"))
	got := receiveN(t, newReceiver(t, c, "q", nil), 2, 5*time.Second)
	if ids := ids(got); len(ids) != 2 || ids[0] != "before" || ids[1] != "after" {
		t.Errorf("queue holds %v, want [before after]: kept through the outage, nothing sent during it", ids)
	}
}

func TestUnreachableQueueTimesSendsOut(t *testing.T) {
	t.Parallel()
	e, c, log := start(t, Queue{Name: "q"})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)
	warmUp(t, s, r)

	if err := e.SetEntityState(timeout(t, 5*time.Second), "q", EntityUnreachable); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := s.SendMessage(ctx, msg("lost", "x"), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send to an unreachable queue: %v, want the caller's deadline", err)
	}
	log.waitEvents(t, "unanswered", 1, 5*time.Second)

	if err := e.SetEntityState(timeout(t, 5*time.Second), "q", EntityActive); err != nil {
		t.Fatal(err)
	}
	send(t, newSender(t, c, "q"), msg("kept", "x"))
	got := receiveN(t, r, 1, 5*time.Second)
	if got[0].MessageID != "kept" {
		t.Fatalf("received %q, want kept", got[0].MessageID)
	}
	if err := r.CompleteMessage(timeout(t, 5*time.Second), got[0], nil); err != nil {
		t.Fatal(err)
	}
	queueEmpty(t, r) // "lost" was never stored
}

func TestHeldAckKeepsTheSenderWaitingUntilReleased(t *testing.T) {
	t.Parallel()
	e, c, log := start(t, Queue{Name: "q"})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)
	warmUp(t, s, r)

	if err := e.HoldAck(timeout(t, 5*time.Second), "q", false); err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- s.SendMessage(context.Background(), msg("held", "x"), nil) }()
	held := log.waitEvents(t, "ack-held", 1, 5*time.Second)[0]
	if held["messageId"] != "held" {
		t.Fatalf("ack-held event %v", held)
	}
	peeked, err := r.PeekMessages(timeout(t, 5*time.Second), 10, nil)
	if err != nil || len(peeked) != 1 {
		t.Fatalf("peek: %d messages, %v: the held message must already be stored", len(peeked), err)
	}
	select {
	case err := <-sent:
		t.Fatalf("SendMessage returned (%v) before the acknowledgement was released", err)
	default:
	}
	n, err := e.ReleaseAcks(timeout(t, 5*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("ReleaseAcks = %d, %v; want 1", n, err)
	}
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("SendMessage after release: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SendMessage did not return after release")
	}
}

func TestAdminCommandsRefusedWithAReason(t *testing.T) {
	t.Parallel()
	e, _, _ := start(t, Queue{Name: "q"})
	err := e.SetEntityState(timeout(t, 5*time.Second), "nope", EntityMissing)
	if !errors.Is(err, ErrAdmin) || err.Error() != `sbemu: admin command refused: entity: no queue "nope"` {
		t.Fatalf("err = %v", err)
	}
	err = e.SetEntityState(timeout(t, 5*time.Second), "q", EntityState("deleted"))
	if !errors.Is(err, ErrAdmin) {
		t.Fatalf("err = %v", err)
	}
}
