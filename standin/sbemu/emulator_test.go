package sbemu

// These tests run the real azservicebus client against the emulator and check the acceptance
// items of docs/servicebus.md §4.11 that the handler and the host stand-in rely on
// (numbered in the comments), plus duplicate detection, scheduled messages arriving after their
// time, case-insensitive names, and a clear failure for what the emulator does not implement.

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
)

// §3.11 item 1, and scheduled messages arriving after their time.
func TestScheduledEnqueueTimeIsWithheldUntilDue(t *testing.T) {
	t.Parallel()
	_, c, _ := start(t, Queue{Name: "q"})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)
	warmUp(t, s, r) // so that link set-up time does not eat into the schedule

	due := time.Now().Add(time.Second).Truncate(time.Millisecond)
	later := msg("later", "scheduled")
	later.ScheduledEnqueueTime = &due
	send(t, s, later, msg("now", "plain"))

	first := receiveN(t, r, 1, 5*time.Second)
	if first[0].MessageID != "now" {
		t.Fatalf("first message = %q, want the unscheduled one", first[0].MessageID)
	}
	if err := r.CompleteMessage(timeout(t, 5*time.Second), first[0], nil); err != nil {
		t.Fatal(err)
	}

	second := receiveN(t, r, 1, 5*time.Second)[0]
	if arrived := time.Now(); arrived.Before(due) {
		t.Errorf("scheduled message arrived at %s, before its time %s", arrived.Format(time.StampMilli), due.Format(time.StampMilli))
	}
	if second.MessageID != "later" || second.ScheduledEnqueueTime == nil || !second.ScheduledEnqueueTime.Equal(due) {
		t.Errorf("got %q scheduled for %v, want \"later\" scheduled for %v", second.MessageID, second.ScheduledEnqueueTime, due)
	}
	if second.EnqueuedTime == nil || second.EnqueuedTime.Before(due) {
		t.Errorf("EnqueuedTime = %v, want the time it became available (not before %v)", second.EnqueuedTime, due)
	}
}

// §3.11 item 2.
func TestReceivedFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	_, c, _ := start(t, Queue{Name: "q", LockDuration: 30 * time.Second})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)

	firstSeen := time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	scheduled := time.Now().Add(-time.Second).Truncate(time.Millisecond) // in the past: available at once
	props := map[string]any{
		"attempt":   int64(3),
		"small":     int32(7),
		"ratio":     0.5,
		"final":     true,
		"firstSeen": firstSeen,
		"tenant":    "contoso",
	}
	before := time.Now().Add(-time.Second)
	send(t, s, &azservicebus.Message{
		MessageID:             ptr("m-1"),
		Subject:               ptr("purge"),
		ContentType:           ptr("application/json"),
		CorrelationID:         ptr("TKT-42"),
		TimeToLive:            ptr(10 * time.Minute),
		ScheduledEnqueueTime:  &scheduled,
		ApplicationProperties: props,
		Body:                  []byte(`{"id":"x"}`),
	})
	got := receiveN(t, r, 1, 5*time.Second)[0]
	after := time.Now().Add(time.Second)

	if got.MessageID != "m-1" || deref(got.Subject) != "purge" || deref(got.ContentType) != "application/json" || deref(got.CorrelationID) != "TKT-42" {
		t.Errorf("properties: id %q subject %q content-type %q correlation %q", got.MessageID, deref(got.Subject), deref(got.ContentType), deref(got.CorrelationID))
	}
	if string(got.Body) != `{"id":"x"}` {
		t.Errorf("Body = %q", got.Body)
	}
	if got.TimeToLive == nil || *got.TimeToLive != 10*time.Minute {
		t.Errorf("TimeToLive = %v, want 10m0s", got.TimeToLive)
	}
	if got.DeliveryCount != 1 {
		t.Errorf("DeliveryCount = %d, want 1", got.DeliveryCount)
	}
	if got.SequenceNumber == nil || *got.SequenceNumber != 1 {
		t.Errorf("SequenceNumber = %v, want 1", got.SequenceNumber)
	}
	if got.EnqueuedTime == nil || got.EnqueuedTime.Before(before) || got.EnqueuedTime.After(after) {
		t.Errorf("EnqueuedTime = %v, want about now", got.EnqueuedTime)
	}
	if got.ScheduledEnqueueTime == nil || !got.ScheduledEnqueueTime.Equal(scheduled) {
		t.Errorf("ScheduledEnqueueTime = %v, want %v", got.ScheduledEnqueueTime, scheduled)
	}
	if got.LockedUntil == nil || got.LockedUntil.Before(time.Now().Add(20*time.Second)) || got.LockedUntil.After(after.Add(30*time.Second)) {
		t.Errorf("LockedUntil = %v, want about now + 30s", got.LockedUntil)
	}
	if got.LockToken == ([16]byte{}) {
		t.Error("LockToken is zero")
	}
	if got.State != azservicebus.MessageStateActive {
		t.Errorf("State = %v, want active", got.State)
	}
	for k, want := range props {
		v, ok := got.ApplicationProperties[k]
		if !ok {
			t.Errorf("application property %s missing", k)
			continue
		}
		if reflect.TypeOf(v) != reflect.TypeOf(want) {
			t.Errorf("application property %s = %v (%T), want type %T", k, v, v, want)
			continue
		}
		if wt, ok := want.(time.Time); ok {
			if !v.(time.Time).Equal(wt) {
				t.Errorf("application property %s = %v, want %v", k, v, wt)
			}
		} else if v != want {
			t.Errorf("application property %s = %v, want %v", k, v, want)
		}
	}
	if err := r.CompleteMessage(timeout(t, 5*time.Second), got, nil); err != nil {
		t.Fatalf("CompleteMessage: %v", err)
	}
	queueEmpty(t, r)
}

// §3.11 item 4.
func TestAbandonAppliesPropertiesAndCountsDelivery(t *testing.T) {
	t.Parallel()
	_, c, log := start(t, Queue{Name: "q"})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)
	send(t, s, &azservicebus.Message{MessageID: ptr("a"), ApplicationProperties: map[string]any{"keep": "me"}})

	first := receiveN(t, r, 1, 5*time.Second)[0]
	err := r.AbandonMessage(timeout(t, 5*time.Second), first, &azservicebus.AbandonMessageOptions{
		PropertiesToModify: map[string]any{"abandonedBy": "goclient", "tries": int64(1)},
	})
	if err != nil {
		t.Fatalf("AbandonMessage: %v", err)
	}
	again := receiveN(t, r, 1, 5*time.Second)[0]
	if again.DeliveryCount != 2 {
		t.Errorf("DeliveryCount = %d, want 2", again.DeliveryCount)
	}
	p := again.ApplicationProperties
	if p["abandonedBy"] != "goclient" || p["keep"] != "me" || p["tries"] != int64(1) {
		t.Errorf("application properties = %v, want abandonedBy=goclient, keep=me, tries=int64(1)", p)
	}
	if len(log.events("abandon")) != 1 {
		t.Errorf("abandon events = %v", log.events("abandon"))
	}
}

// §3.11 item 5.
func TestRenewMessageLockExtendsTheLock(t *testing.T) {
	t.Parallel()
	_, c, log := start(t, Queue{Name: "q", LockDuration: 1500 * time.Millisecond})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)
	send(t, s, msg("r", "renew me"))

	m := receiveN(t, r, 1, 5*time.Second)[0]
	original := *m.LockedUntil
	// Renew (as the host does, repeatedly) until the lock has moved by at least 600 ms; every
	// renewal must succeed, and the lock must not run out meanwhile.
	for !m.LockedUntil.After(original.Add(600 * time.Millisecond)) {
		if err := r.RenewMessageLock(timeout(t, 5*time.Second), m, nil); err != nil {
			t.Fatalf("RenewMessageLock: %v", err)
		}
		if time.Now().After(original) {
			t.Fatalf("LockedUntil moved from %v to %v only, by the original expiry", original, *m.LockedUntil)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	// Past the original expiry (the emulator reports the renewed lock outliving it) but inside the
	// renewed lock, completing must still work.
	log.waitEvents(t, "lock-extended", 1, 5*time.Second)
	if err := r.CompleteMessage(timeout(t, 5*time.Second), m, nil); err != nil {
		t.Fatalf("CompleteMessage after renewal: %v", err)
	}
	if n := len(log.events("lock-expired")); n != 0 {
		t.Errorf("%d lock-expired events, want none", n)
	}
}

// §3.11 item 7: a peek shows a scheduled message (as the handler's retry copies are) with its state.
func TestPeekShowsScheduledMessages(t *testing.T) {
	t.Parallel()
	_, c, _ := start(t, Queue{Name: "q"})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)

	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	later := msg("s1", "in an hour")
	later.ScheduledEnqueueTime = &at
	send(t, s, later, msg("now", "plain"))
	peeked, err := r.PeekMessages(timeout(t, 5*time.Second), 10, nil)
	if err != nil {
		t.Fatalf("PeekMessages: %v", err)
	}
	if len(peeked) != 2 || peeked[0].MessageID != "s1" || *peeked[0].SequenceNumber != 1 || peeked[0].State != azservicebus.MessageStateScheduled {
		t.Fatalf("peeked %v", describe(peeked))
	}
	if !peeked[0].ScheduledEnqueueTime.Equal(at) {
		t.Errorf("peeked ScheduledEnqueueTime = %v, want %v", peeked[0].ScheduledEnqueueTime, at)
	}
	if peeked[1].MessageID != "now" || peeked[1].State != azservicebus.MessageStateActive {
		t.Errorf("peeked %v, state %v", describe(peeked), peeked[1].State)
	}
	peeked, err = r.PeekMessages(timeout(t, 5*time.Second), 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: ptr(int64(3))})
	if err != nil || len(peeked) != 0 {
		t.Fatalf("PeekMessages past the end = %v, %v", describe(peeked), err)
	}
}

// Receive-and-delete, which the emulator does not implement, fails instead of seeming to work.
func TestUnsupportedOperationsFail(t *testing.T) {
	t.Parallel()
	_, c, _ := start(t, Queue{Name: "q"})
	rd := newReceiver(t, c, "q", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if _, err := rd.ReceiveMessages(timeout(t, 10*time.Second), 1, nil); err == nil || !strings.Contains(err.Error(), "not-implemented") {
		t.Errorf("receive-and-delete: err = %v, want amqp:not-implemented", err)
	}
}

// §3.11 item 9.
func TestErrorsTheClientUnderstands(t *testing.T) {
	t.Parallel()
	e, c, _ := start(t, Queue{Name: "q"})

	t.Run("wrong key is unauthorized", func(t *testing.T) {
		bad := strings.Replace(e.ConnectionString(), "SharedAccessKey="+DefaultKey, "SharedAccessKey=wrong", 1)
		err := newSender(t, newClient(t, bad), "q").SendMessage(timeout(t, 10*time.Second), msg("x", "x"), nil)
		wantCode(t, err, azservicebus.CodeUnauthorizedAccess, "401")
	})
	t.Run("wrong key name is unauthorized", func(t *testing.T) {
		bad := strings.Replace(e.ConnectionString(), "SharedAccessKeyName="+DefaultKeyName, "SharedAccessKeyName=Other", 1)
		err := newSender(t, newClient(t, bad), "q").SendMessage(timeout(t, 10*time.Second), msg("x", "x"), nil)
		wantCode(t, err, azservicebus.CodeUnauthorizedAccess, "401")
	})
	t.Run("unknown queue is not found", func(t *testing.T) {
		err := newSender(t, c, "no-such-queue").SendMessage(timeout(t, 10*time.Second), msg("x", "x"), nil)
		wantCode(t, err, azservicebus.CodeNotFound, "404")
		_, err = newReceiver(t, c, "no-such-queue", nil).ReceiveMessages(timeout(t, 10*time.Second), 1, nil)
		wantCode(t, err, azservicebus.CodeNotFound, "404")
	})
	t.Run("sending to the dead-letter queue is not allowed", func(t *testing.T) {
		err := newSender(t, c, "q/$DeadLetterQueue").SendMessage(timeout(t, 10*time.Second), msg("x", "x"), nil)
		var amqpErr *amqp.Error
		if !errors.As(err, &amqpErr) || amqpErr.Condition != amqp.ErrCondNotAllowed {
			t.Fatalf("err = %v, want *amqp.Error amqp:not-allowed", err)
		}
	})
}

// §3.11 item 10, first half.
func TestCompleteAfterLockExpiryIsLockLost(t *testing.T) {
	t.Parallel()
	_, c, log := start(t, Queue{Name: "q", LockDuration: 300 * time.Millisecond})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)
	send(t, s, msg("late", "x"))

	m := receiveN(t, r, 1, 5*time.Second)[0]
	log.waitEvents(t, "lock-expired", 1, 5*time.Second)
	err := r.CompleteMessage(timeout(t, 10*time.Second), m, nil)
	wantCode(t, err, azservicebus.CodeLockLost, "")

	again := receiveN(t, r, 1, 5*time.Second)[0]
	if again.MessageID != "late" || again.DeliveryCount != 2 {
		t.Fatalf("redelivered %q with DeliveryCount %d, want late with 2", again.MessageID, again.DeliveryCount)
	}
	if err := r.CompleteMessage(timeout(t, 5*time.Second), again, nil); err != nil {
		t.Fatalf("completing the redelivery: %v", err)
	}
}

// §3.11 item 10, second half: lock expiries and abandons both count towards MaxDeliveryCount.
func TestMaxDeliveryCountMovesToDeadLetterQueue(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"lock expiry", "abandon"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			_, c, _ := start(t, Queue{Name: "q", MaxDeliveryCount: 3, LockDuration: 300 * time.Millisecond})
			s := newSender(t, c, "q")
			r := newReceiver(t, c, "q", nil)
			send(t, s, &azservicebus.Message{MessageID: ptr("poison"), ApplicationProperties: map[string]any{"attempt": int64(1)}})

			var counts []uint32
			for range 3 {
				m := receiveN(t, r, 1, 5*time.Second)[0]
				counts = append(counts, m.DeliveryCount)
				if how == "abandon" {
					if err := r.AbandonMessage(timeout(t, 5*time.Second), m, nil); err != nil {
						t.Fatalf("AbandonMessage: %v", err)
					}
				}
			}
			if !slices.Equal(counts, []uint32{1, 2, 3}) {
				t.Fatalf("delivery counts = %v, want [1 2 3]", counts)
			}
			dlq := newReceiver(t, c, "q", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
			d := receiveN(t, dlq, 1, 5*time.Second)[0]
			if d.MessageID != "poison" || deref(d.DeadLetterReason) != "MaxDeliveryCountExceeded" || deref(d.DeadLetterSource) != "q" {
				t.Fatalf("dead-lettered %q, reason %q, source %q", d.MessageID, deref(d.DeadLetterReason), deref(d.DeadLetterSource))
			}
			if d.ApplicationProperties["attempt"] != int64(1) {
				t.Errorf("original properties lost: %v", d.ApplicationProperties)
			}
			queueEmpty(t, r)
		})
	}
}

// §3.11 item 11.
func TestMessagesOnLeftoverCreditAreReleasedWithoutCounting(t *testing.T) {
	t.Parallel()
	_, c, log := start(t, Queue{Name: "q"})
	s := newSender(t, c, "q")
	r := newReceiver(t, c, "q", nil)
	send(t, s, msg("m1", "1"))

	// Five credits, one message: four credits stay on the link after ReceiveMessages returns.
	first, err := r.ReceiveMessages(timeout(t, 5*time.Second), 5, nil)
	if err != nil || len(first) != 1 {
		t.Fatalf("ReceiveMessages = %d messages, %v; want 1", len(first), err)
	}
	if err := r.CompleteMessage(timeout(t, 5*time.Second), first[0], nil); err != nil {
		t.Fatal(err)
	}
	send(t, s, msg("m2", "2"), msg("m3", "3"))
	log.waitEvents(t, "release", 2, 5*time.Second)

	got := receiveN(t, r, 2, 5*time.Second)
	for _, m := range got {
		if m.DeliveryCount != 1 {
			t.Errorf("%s: DeliveryCount = %d after release, want 1", m.MessageID, m.DeliveryCount)
		}
	}
	// Released messages go back in sequence order, but the client may already hold one of them
	// in its prefetch buffer, so the order in which they come back is not fixed.
	if g := ids(got); !slices.Equal(slices.Sorted(slices.Values(g)), []string{"m2", "m3"}) {
		t.Errorf("received %v, want m2 and m3", g)
	}
}

func TestDuplicateDetectionDropsRepeatedMessageIDs(t *testing.T) {
	t.Parallel()
	_, c, log := start(t,
		Queue{Name: "dedupe", DuplicateDetection: true},
		Queue{Name: "plain"},
	)

	t.Run("enabled", func(t *testing.T) {
		s := newSender(t, c, "dedupe")
		r := newReceiver(t, c, "dedupe", nil)
		send(t, s, msg("retry-1", "first copy"), msg("retry-1", "second copy"), msg("retry-2", "other"))
		got := receiveN(t, r, 2, 5*time.Second)
		if g := ids(got); !slices.Equal(g, []string{"retry-1", "retry-2"}) || string(got[0].Body) != "first copy" {
			t.Fatalf("received %v (first body %q), want [retry-1 retry-2] with the first copy", g, got[0].Body)
		}
		for _, m := range got {
			if err := r.CompleteMessage(timeout(t, 5*time.Second), m, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Still a duplicate after the first copy was completed, and also when scheduled:
		// a second copy of the same scheduled retry must never arrive.
		due := time.Now().Add(100 * time.Millisecond)
		again := msg("retry-1", "third copy")
		again.ScheduledEnqueueTime = &due
		send(t, s, again)
		if n := len(log.waitEvents(t, "duplicate-dropped", 2, 5*time.Second)); n != 2 {
			t.Errorf("%d duplicate-dropped events, want 2", n)
		}
		queueEmpty(t, r)
	})
	t.Run("disabled", func(t *testing.T) {
		s := newSender(t, c, "plain")
		r := newReceiver(t, c, "plain", nil)
		send(t, s, msg("same", "1"), msg("same", "2"))
		if got := receiveN(t, r, 2, 5*time.Second); string(got[1].Body) != "2" {
			t.Fatalf("second body = %q", got[1].Body)
		}
	})
}

// A batch (SendMessageBatch, what the retention sweep sends) delivers each of its messages, with duplicate
// detection applied to each one.
func TestBatchSendDeliversEachMessage(t *testing.T) {
	t.Parallel()
	_, c, log := start(t, Queue{Name: "dedupe", DuplicateDetection: true})
	s := newSender(t, c, "dedupe")
	r := newReceiver(t, c, "dedupe", nil)
	sendBatch := func(ms ...*azservicebus.Message) {
		t.Helper()
		batch, err := s.NewMessageBatch(timeout(t, 5*time.Second), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if err := batch.AddMessage(m, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SendMessageBatch(timeout(t, 10*time.Second), batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	a := msg("a", "first")
	a.ApplicationProperties = map[string]any{"n": int64(1)}
	sendBatch(a, msg("b", "second"), msg("c", "third"))
	got := receiveN(t, r, 3, 5*time.Second)
	if g := ids(got); !slices.Equal(g, []string{"a", "b", "c"}) || string(got[1].Body) != "second" || got[0].ApplicationProperties["n"] != int64(1) {
		t.Fatalf("received %v", g)
	}
	for _, m := range got {
		if err := r.CompleteMessage(timeout(t, 5*time.Second), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	sendBatch(msg("b", "again"), msg("d", "new"))
	second := receiveN(t, r, 1, 5*time.Second)
	if g := ids(second); !slices.Equal(g, []string{"d"}) {
		t.Fatalf("second batch delivered %v, want only the new message", g)
	}
	if err := r.CompleteMessage(timeout(t, 5*time.Second), second[0], nil); err != nil {
		t.Fatal(err)
	}
	if n := len(log.waitEvents(t, "duplicate-dropped", 1, 5*time.Second)); n != 1 {
		t.Errorf("%d duplicate-dropped events", n)
	}
	queueEmpty(t, r)
}

func TestQueueNamesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	_, c, _ := start(t, Queue{Name: "Purge-Requests"})
	send(t, newSender(t, c, "PURGE-REQUESTS"), msg("ci", "x"))
	got := receiveN(t, newReceiver(t, c, "purge-requests", nil), 1, 5*time.Second)
	if got[0].MessageID != "ci" {
		t.Fatalf("got %q", got[0].MessageID)
	}
}

func wantCode(t *testing.T, err error, code azservicebus.Code, inText string) {
	t.Helper()
	var sbErr *azservicebus.Error
	if !errors.As(err, &sbErr) || sbErr.Code != code {
		t.Fatalf("err = %v, want *azservicebus.Error with code %s", err, code)
	}
	if inText != "" && !strings.Contains(err.Error(), inText) {
		t.Errorf("err = %q, want it to mention %q", err, inText)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func describe(msgs []*azservicebus.ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.MessageID
		if m.SequenceNumber != nil {
			out[i] += "#" + strconv.FormatInt(*m.SequenceNumber, 10)
		}
	}
	return out
}

// A queue's maximum message size is advertised on its links (the Go client then refuses a larger message
// before sending it, as azservicebus.ErrMessageTooLarge) and enforced on what arrives: Standard's 256 KiB
// by default, Premium's 1 MiB when asked.
func TestMaxMessageSize(t *testing.T) {
	t.Parallel()
	_, c, _ := start(t, Queue{Name: "standard"}, Queue{Name: "premium", MaxMessageSize: 1 << 20})
	big := &azservicebus.Message{MessageID: ptr("big"), Body: make([]byte, 1_000_000)}
	err := newSender(t, c, "standard").SendMessage(timeout(t, 5*time.Second), big, nil)
	if !errors.Is(err, azservicebus.ErrMessageTooLarge) {
		t.Fatalf("a 1,000,000-byte message to a Standard queue: %v, want ErrMessageTooLarge", err)
	}
	s := newSender(t, c, "premium")
	send(t, s, big)
	got := receiveN(t, newReceiver(t, c, "premium", nil), 1, 5*time.Second)
	if len(got[0].Body) != 1_000_000 {
		t.Errorf("received %d bytes", len(got[0].Body))
	}
	if err := s.SendMessage(timeout(t, 5*time.Second), &azservicebus.Message{Body: make([]byte, 1100_000)}, nil); !errors.Is(err, azservicebus.ErrMessageTooLarge) {
		t.Errorf("1,100,000 bytes to a 1 MiB queue: %v", err)
	}
}
