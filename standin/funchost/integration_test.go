package funchost

// These tests run the host against the Service Bus emulator (standin/sbemu)
// with the real azservicebus client: what the host does to a message must be what
// the broker sees.

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/entra-purge/entra-purge/standin/sbemu"
	"github.com/google/uuid"
)

// busHarness is a host wired to an emulator queue, plus a client for the test.
type busHarness struct {
	*harness
	client *azservicebus.Client
	sender *azservicebus.Sender
	queue  string
}

func newBusHarness(t *testing.T, q sbemu.Queue, spec appSpec, edit func(*Options)) *busHarness {
	t.Helper()
	e := sbemu.StartT(t, sbemu.Options{Queues: []sbemu.Queue{q}})
	client, err := azservicebus.NewClientFromConnectionString(e.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	sender, err := client.NewSender(q.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, makeApp(t, spec), func(o *Options) {
		o.Settings = map[string]string{"ServiceBusConnection": e.ConnectionString(), "PURGE_QUEUE_NAME": q.Name}
		if edit != nil {
			edit(o)
		}
	})
	return &busHarness{harness: hs, client: client, sender: sender, queue: q.Name}
}

func (b *busHarness) send(body string) string {
	b.t.Helper()
	id := uuid.NewString()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.sender.SendMessage(ctx, &azservicebus.Message{MessageID: &id, Body: []byte(body)}, nil); err != nil {
		b.t.Fatal(err)
	}
	return id
}

// peek returns what is left in the queue or one of its sub-queues.
func (b *busHarness) peek(sub azservicebus.SubQueue) []*azservicebus.ReceivedMessage {
	b.t.Helper()
	r, err := b.client.NewReceiverForQueue(b.queue, &azservicebus.ReceiverOptions{SubQueue: sub})
	if err != nil {
		b.t.Fatal(err)
	}
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := r.PeekMessages(ctx, 100, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return msgs
}

func TestBusCompletesOnSuccess(t *testing.T) {
	t.Parallel()
	b := newBusHarness(t, sbemu.Queue{Name: "purge-requests"}, appSpec{}, nil)
	b.start()
	id := b.send("ok")
	inv := b.next(15 * time.Second)
	if inv.MessageID != id || inv.Outcome != OutcomeSuccess || inv.Settlement != SettlementCompleted || inv.SettleErr != nil || inv.DeliveryCount != 1 {
		t.Fatalf("invocation = %+v", inv)
	}
	if left := b.peek(0); len(left) != 0 {
		t.Errorf("%d messages left in the queue after completion", len(left))
	}
	waitFor(t, 5*time.Second, "the handler's invocation line", func() bool { return len(b.stdout.events("invocation")) == 1 })
	ev := b.stdout.events("invocation")[0]
	if ev["messageId"] != id || ev["deliveryCount"] != 1.0 {
		t.Errorf("the handler decoded %v", ev)
	}
}

func TestBusFailuresReachTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	b := newBusHarness(t, sbemu.Queue{Name: "purge-requests", MaxDeliveryCount: 3}, appSpec{}, nil)
	b.start()
	id := b.send("status 500")
	for range 3 {
		if inv := b.next(15 * time.Second); inv.MessageID != id || inv.Outcome != OutcomeHTTPStatus || inv.Settlement != SettlementAbandoned || inv.SettleErr != nil {
			t.Fatalf("invocation = %+v", inv)
		}
	}
	var dead []*azservicebus.ReceivedMessage
	waitFor(t, 10*time.Second, "the message in $DeadLetterQueue", func() bool { dead = b.peek(azservicebus.SubQueueDeadLetter); return len(dead) == 1 })
	if dead[0].MessageID != id || dead[0].DeadLetterReason == nil || *dead[0].DeadLetterReason != "MaxDeliveryCountExceeded" {
		t.Errorf("dead letter = id %s reason %v", dead[0].MessageID, dead[0].DeadLetterReason)
	}
	if left := b.peek(0); len(left) != 0 {
		t.Errorf("%d messages left in the queue", len(left))
	}
	select {
	case inv := <-b.invCh:
		t.Errorf("a fourth delivery: %+v", inv)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestBusHandlerKilledMidInvocationIsRestartedAndTheMessageRedelivered(t *testing.T) {
	t.Parallel()
	b := newBusHarness(t, sbemu.Queue{Name: "purge-requests"}, appSpec{}, nil)
	b.start()
	id := b.send("once:sleep 30s")
	waitFor(t, 15*time.Second, "the handler to receive the message", func() bool { return len(b.stdout.events("invocation")) == 1 })
	pid := b.h.HandlerPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	inv := b.nextWhere(15*time.Second, "delivery 1", delivery(1))
	if inv.MessageID != id || inv.Outcome != OutcomeConnection || inv.Settlement != SettlementAbandoned || inv.SettleErr != nil {
		t.Errorf("killed invocation = %+v", inv)
	}
	inv = b.nextWhere(15*time.Second, "delivery 2", delivery(2))
	if inv.MessageID != id || inv.Outcome != OutcomeSuccess || inv.Settlement != SettlementCompleted || inv.SettleErr != nil || inv.HandlerPID == pid {
		t.Errorf("redelivery = %+v", inv)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("killed handler %d still exists: %v", pid, err)
	}
	if s := b.h.Stats(); s.Restarts != 1 || s.WorkerErrors != 1 || s.Completed != 1 || s.Hangs != 0 {
		t.Errorf("stats = %+v", s)
	}
	if left := b.peek(0); len(left) != 0 {
		t.Errorf("%d messages left in the queue", len(left))
	}
}

func TestBusTimeoutKillsAndRestartsTheHandler(t *testing.T) {
	t.Parallel()
	b := newBusHarness(t, sbemu.Queue{Name: "purge-requests"}, appSpec{functionTimeout: "00:00:01"}, nil)
	b.start()
	id := b.send("once:sleep 30s")
	inv := b.nextWhere(15*time.Second, "delivery 1", delivery(1))
	if inv.MessageID != id || inv.Outcome != OutcomeTimeout || inv.Settlement != SettlementAbandoned || inv.SettleErr != nil {
		t.Errorf("timed-out invocation = %+v", inv)
	}
	if inv.Duration < time.Second || inv.Duration > 5*time.Second {
		t.Errorf("the timeout took %s, want about 1 s", inv.Duration)
	}
	inv = b.nextWhere(15*time.Second, "delivery 2", delivery(2))
	if inv.Outcome != OutcomeSuccess || inv.Settlement != SettlementCompleted {
		t.Errorf("redelivery = %+v", inv)
	}
	// The timed-out request is still open: the handler is killed once the grace period has passed.
	waitFor(t, 10*time.Second, "the handler restarted", func() bool { return b.h.Stats().Restarts == 1 })
	if s := b.h.Stats(); s.Timeouts != 1 || s.Restarts != 1 || s.WorkerErrors != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestBusLockIsRenewedDuringALongInvocation(t *testing.T) {
	t.Parallel()
	b := newBusHarness(t, sbemu.Queue{Name: "purge-requests", LockDuration: time.Second}, appSpec{}, nil)
	b.start()
	b.send("sleep 2500ms")
	inv := b.next(20 * time.Second)
	if inv.Outcome != OutcomeSuccess || inv.Settlement != SettlementCompleted || inv.SettleErr != nil || inv.DeliveryCount != 1 {
		t.Errorf("invocation = %+v", inv)
	}
	if inv.LockRenewals < 2 {
		t.Errorf("%d lock renewals in 2.5 s with a 1 s lock", inv.LockRenewals)
	}
	select {
	case inv := <-b.invCh:
		t.Errorf("the message was delivered again (lock lost?): %+v", inv)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestBusConcurrencyAndGracefulStop(t *testing.T) {
	t.Parallel()
	b := newBusHarness(t, sbemu.Queue{Name: "purge-requests"}, appSpec{maxConcurrent: 4}, nil)
	b.start()
	for range 8 {
		b.send("sleep 400ms")
	}
	for range 8 {
		if inv := b.next(20 * time.Second); inv.Outcome != OutcomeSuccess || inv.Settlement != SettlementCompleted {
			t.Errorf("invocation = %+v", inv)
		}
	}
	waitFor(t, 5*time.Second, "the handler's invocation lines", func() bool { return len(b.stdout.events("invocation")) == 8 })
	maxSeen := 0.0
	for _, e := range b.stdout.events("invocation") {
		maxSeen = max(maxSeen, e["inFlight"].(float64))
	}
	if maxSeen < 2 || maxSeen > 4 {
		t.Errorf("at most %v invocations ran at once; want parallelism bounded by maxConcurrentCalls 4", maxSeen)
	}
	pid := b.h.HandlerPID()
	if err := b.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("handler %d left behind: %v", pid, err)
	}
}
