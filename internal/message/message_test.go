package message

import (
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/purge"
)

var (
	now   = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	first = time.Date(2026, 11, 28, 11, 0, 0, 123e6, time.UTC)
	id    = directory.MustParseObjectID("8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
)

// original is a retry copy delivered again: its own id m-2, the first message's m-1.
func original() *Delivery {
	return &Delivery{Body: []byte(`{"id":"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"}`), MessageID: "m-2", CorrelationID: "TKT-42",
		ContentType: "application/json", Properties: map[string]any{PropOriginalMessageID: "m-1"}}
}

func TestRetryCopy(t *testing.T) {
	d := purge.Decision{Outcome: purge.RetryScheduled, Attempt: 2, FirstRequested: first, NextAttempt: 3, RetryAt: now.Add(time.Minute), LastError: "503"}
	m := RetryCopy(original(), d)
	if string(m.Body) != string(original().Body) || m.ContentType != "application/json" || m.CorrelationID != "TKT-42" {
		t.Errorf("copy lost the original: %+v", m)
	}
	if !m.ScheduledAt.Equal(now.Add(time.Minute)) {
		t.Errorf("scheduled %v", m.ScheduledAt)
	}
	p := m.Properties
	if p[PropAttempt] != int64(3) || p[PropFirstRequested] != "2026-11-28T11:00:00.123Z" || p[PropOriginalMessageID] != "m-1" || p[PropLastError] != "503" {
		t.Errorf("properties %v", p)
	}
	if m.MessageID != RetryMessageID("m-2") {
		t.Errorf("message id %s", m.MessageID)
	}
}

// A retry copy's id follows the delivery it came from: the same delivery handled twice makes the same copy
// (duplicate detection drops the second), different deliveries different ones, and a chain of copies never
// repeats an id.
func TestRetryMessageIDFollowsTheDelivery(t *testing.T) {
	// The same delivery handled twice (a crash, then redelivery).
	var handled []string
	for range 2 {
		handled = append(handled, RetryMessageID("m-1"))
	}
	if handled[0] != handled[1] {
		t.Error("the same delivery, two ids")
	}
	seen := map[string]bool{"m-1": true, FailureMessageID("m-1"): true}
	for id, i := "m-1", 0; i < 1000; i++ {
		id = RetryMessageID(id)
		if seen[id] {
			t.Fatalf("hop %d repeats the id %s", i+1, id)
		}
		seen[id] = true
	}
	var anonymous []string
	for range 2 {
		anonymous = append(anonymous, RetryMessageID(""))
	}
	if anonymous[0] == anonymous[1] {
		t.Error("deliveries without an id share a copy id")
	}
}

// A deferral deferred again a few milliseconds later (a paced call's turn) is a new copy, not its own
// delivery again: with ids derived from the attempt and the deferral's second, the second copy got the
// delivered message's id, the trigger queue dropped it as a duplicate, and the request was lost.
func TestADeferralDeferredAgainIsANewCopy(t *testing.T) {
	dec := purge.Decision{Outcome: purge.RetryScheduled, Attempt: 1, FirstRequested: first, NextAttempt: 1, Deferred: true, RetryAt: now.Add(858 * time.Millisecond)}
	copy1 := RetryCopy(&Delivery{Body: []byte("x"), MessageID: "m-1"}, dec)
	delivered := &Delivery{Body: copy1.Body, MessageID: copy1.MessageID, Properties: copy1.Properties}
	dec.RetryAt = now.Add(874 * time.Millisecond)
	second := RetryCopy(delivered, dec)
	if second.MessageID == delivered.MessageID || second.MessageID == "m-1" {
		t.Fatalf("the second deferral has id %s, the id of a message already sent", second.MessageID)
	}
	if second.Properties[PropOriginalMessageID] != "m-1" || second.Properties[PropAttempt] != int64(1) {
		t.Errorf("bookkeeping %v", second.Properties)
	}
}

func TestDeferralKeepsAttempt(t *testing.T) {
	d := purge.Decision{Outcome: purge.RetryScheduled, Attempt: 2, FirstRequested: first, NextAttempt: 2, Deferred: true, RetryAt: now.Add(24 * time.Hour)}
	m := RetryCopy(original(), d)
	if m.Properties[PropAttempt] != int64(2) || m.MessageID != RetryMessageID("m-2") {
		t.Errorf("deferral copy %v %s", m.Properties, m.MessageID)
	}
	if _, ok := m.Properties[PropLastError]; ok {
		t.Error("PurgeLastError set without an error")
	}
}

func TestFailureCopy(t *testing.T) {
	d := purge.Decision{Outcome: purge.Failed, Reason: purge.ReasonForbidden, Why: "needs User.DeleteRestore.All",
		Request: purge.Request{ID: id}, Attempt: 4, FirstRequested: first, Graph: directory.Call{Status: 403, Code: "Authorization_RequestDenied", RequestID: "rid"}}
	m := FailureCopy(original(), d, now)
	want := map[string]any{
		PropDeadLetterReason: "Forbidden", PropDeadLetterDescription: "needs User.DeleteRestore.All", PropObjectID: id.String(),
		PropAttempts: int64(4), PropGraphStatus: int64(403), PropGraphErrorCode: "Authorization_RequestDenied", PropGraphRequestID: "rid",
		PropOriginalMessageID: "m-1", PropFailedAt: "2026-11-28T12:00:00Z", PropFirstRequested: "2026-11-28T11:00:00.123Z",
	}
	for k, v := range want {
		if m.Properties[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m.Properties[k], v)
		}
	}
	if !m.ScheduledAt.IsZero() || string(m.Body) != string(original().Body) || m.CorrelationID != "TKT-42" {
		t.Errorf("failure copy %+v", m)
	}
	if m.MessageID != FailureMessageID("m-2") || FailureMessageID("m-2") == FailureMessageID("m-3") {
		t.Error("failure id not derived from the delivered message")
	}
}

// A delivery's bookkeeping reads the same whether it came through the host's JSON (float64) or a
// receiver (int64), and a first delivery has none.
func TestDeliveryAttempt(t *testing.T) {
	enqueued := time.Date(2026, 11, 28, 11, 30, 0, 0, time.UTC)
	for name, tt := range map[string]struct {
		props map[string]any
		want  purge.Attempt
	}{
		"first delivery":    {nil, purge.Attempt{Number: 1, FirstRequested: enqueued}},
		"host JSON":         {map[string]any{PropAttempt: 3.0, PropFirstRequested: "2026-11-28T11:00:00.123Z"}, purge.Attempt{Number: 3, FirstRequested: first}},
		"receiver":          {map[string]any{PropAttempt: int64(2), PropFirstRequested: first}, purge.Attempt{Number: 2, FirstRequested: first}},
		"zone-less time":    {map[string]any{PropFirstRequested: "2026-11-28T11:00:00.123"}, purge.Attempt{Number: 1, FirstRequested: first}},
		"nonsense attempt":  {map[string]any{PropAttempt: -4.0, PropFirstRequested: "yesterday"}, purge.Attempt{Number: 1, FirstRequested: enqueued}},
		"attempt as string": {map[string]any{PropAttempt: "7"}, purge.Attempt{Number: 1, FirstRequested: enqueued}},
	} {
		d := &Delivery{MessageID: "m-9", EnqueuedTime: enqueued, Properties: tt.props}
		if got := d.Attempt(now); got != tt.want {
			t.Errorf("%s: %+v, want %+v", name, got, tt.want)
		}
	}
	if got := (&Delivery{}).Attempt(now); got.FirstRequested != now || got.Number != 1 {
		t.Errorf("no enqueue time: %+v, want now", got)
	}
}

func TestOriginalMessageIDAndReplayMarks(t *testing.T) {
	d := &Delivery{MessageID: "m-2"}
	if d.OriginalMessageID() != "m-2" {
		t.Errorf("first message: original %q", d.OriginalMessageID())
	}
	if _, ok := d.Replayed(); ok {
		t.Error("a plain request reads as replayed")
	}
	failed := &Delivery{MessageID: "f-1", Body: []byte("b"), ContentType: "text/plain", CorrelationID: "c",
		Properties: map[string]any{PropDeadLetterReason: "Forbidden", PropOriginalMessageID: "m-1", PropAttempts: int64(2)}}
	cp := ReplayCopy(failed)
	if cp.MessageID != ReplayMessageID("f-1") || string(cp.Body) != "b" || cp.ContentType != "text/plain" || cp.CorrelationID != "c" || !cp.ScheduledAt.IsZero() {
		t.Errorf("replay copy %+v", cp)
	}
	if _, ok := cp.Properties[PropAttempt]; ok {
		t.Error("a replay carries retry bookkeeping: it must start afresh")
	}
	replayed := &Delivery{MessageID: cp.MessageID, Properties: cp.Properties}
	r, ok := replayed.Replayed()
	if !ok || r != (Replay{Of: "m-1", FromFailure: "f-1", AfterReason: "Forbidden"}) {
		t.Errorf("replay marks %+v %v", r, ok)
	}
	if at := replayed.Attempt(now); at.Number != 1 {
		t.Errorf("a replay starts at attempt %d", at.Number)
	}
}

func TestSettle(t *testing.T) {
	q := Queues{Trigger: "purge-requests", Failed: "purge-failed"}
	for _, tt := range []struct {
		dec   purge.Decision
		kind  purge.Settlement
		queue string
		text  string
	}{
		{purge.Decision{Outcome: purge.Purged}, purge.SettleNothing, "", "none"},
		{purge.Decision{Outcome: purge.Absent}, purge.SettleNothing, "", "none"},
		{purge.Decision{Outcome: purge.RetryScheduled, NextAttempt: 2, RetryAt: now}, purge.SettleRetryCopy, "purge-requests", "retry-copy:purge-requests"},
		{purge.Decision{Outcome: purge.Failed, Reason: purge.ReasonProtected}, purge.SettleFailureCopy, "purge-failed", "failure-queue:purge-failed"},
		{purge.Decision{Outcome: purge.Failed, Reason: purge.ReasonProtected, DryRunOnly: true}, purge.SettleNothing, "", "none"},
		{purge.Decision{Outcome: purge.RetryScheduled, DryRunOnly: true}, purge.SettleNothing, "", "none"},
	} {
		s := Settle(original(), tt.dec, q, now)
		if s.Kind != tt.kind || s.Queue != tt.queue || s.String() != tt.text {
			t.Errorf("%s/%v: %v %q %q", tt.dec.Outcome, tt.dec.DryRunOnly, s.Kind, s.Queue, s.String())
		}
		if s.Kind == purge.SettleFailureCopy && s.Copy.Properties[PropDeadLetterReason] != "Protected" {
			t.Errorf("failure copy %v", s.Copy.Properties)
		}
		if s.Kind == purge.SettleRetryCopy && !s.Copy.ScheduledAt.Equal(now) {
			t.Errorf("retry copy at %v", s.Copy.ScheduledAt)
		}
	}
}

// The failure view reads what FailureCopy writes, through either property encoding.
func TestFailedReadsFailureCopy(t *testing.T) {
	d := purge.Decision{Outcome: purge.Failed, Reason: purge.ReasonGraphRejected, Why: "Graph rejected it.", Request: purge.Request{ID: id},
		Attempt: 2, Graph: directory.Call{Status: 400, Code: "Request_BadRequest", RequestID: "rid"}}
	cp := FailureCopy(original(), d, now)
	got := (&Delivery{MessageID: cp.MessageID, SequenceNumber: 12, Body: cp.Body, Properties: cp.Properties}).Failed()
	want := FailedMessage{SequenceNumber: 12, MessageID: cp.MessageID, Reason: purge.ReasonGraphRejected, Description: "Graph rejected it.",
		ObjectID: id.String(), Attempts: 2, GraphStatus: 400, GraphErrorCode: "Request_BadRequest", GraphRequestID: "rid",
		OriginalMessageID: "m-1", FailedAt: "2026-11-28T12:00:00Z", Body: string(original().Body)}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	hand := (&Delivery{MessageID: "by-hand", Body: []byte("x")}).Failed()
	if hand.Reason != "" || hand.ObjectID != "" || hand.Body != "x" {
		t.Errorf("a message sent by hand: %+v", hand)
	}
}

func TestNewRequest(t *testing.T) {
	a, b := NewRequest([]byte(`{"id":"x"}`), "TKT-1"), NewRequest([]byte(`{"id":"x"}`), "")
	if a.MessageID == "" || a.MessageID == b.MessageID || a.ContentType != "application/json" || a.CorrelationID != "TKT-1" || b.CorrelationID != "" {
		t.Errorf("requests %+v %+v", a, b)
	}
}

// A sweep request is an ordinary request the parser accepts, and its id repeats within a UTC day only.
func TestSweepRequest(t *testing.T) {
	day := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	m := SweepRequest(id, directory.ServicePrincipal, day)
	if string(m.Body) != `{"id":"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b","type":"servicePrincipal","reason":"retention","requestedBy":"sweep"}` ||
		m.ContentType != "application/json" || !m.ScheduledAt.IsZero() || m.Properties != nil {
		t.Fatalf("request %+v %s", m, m.Body)
	}
	req, err := purge.ParseRequest(m.Body)
	if err != nil || req.ID != id || req.Type != directory.ServicePrincipal || req.Reason != SweepReason || req.RequestedBy != SweepRequestedBy {
		t.Fatalf("parsed %+v %v", req, err)
	}
	// 23:30 UTC-1 is 00:30 UTC the next day: the day is the UTC one.
	late := time.Date(2026, 11, 28, 23, 30, 0, 0, time.FixedZone("UTC-1", -3600))
	if SweepMessageID(id, day.Add(20*time.Hour)) != m.MessageID || SweepMessageID(id, late) == m.MessageID {
		t.Error("the id must be the same all UTC day and change with the UTC day")
	}
	other := directory.MustParseObjectID("9f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
	if SweepMessageID(other, day) == m.MessageID || SweepMessageID(id, day) == RetryMessageID(m.MessageID) {
		t.Error("ids collide")
	}
}
