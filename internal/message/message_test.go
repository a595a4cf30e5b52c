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
	if m.MessageID != RetryMessageID("m-1", 3, time.Time{}) {
		t.Errorf("message id %s", m.MessageID)
	}
}

func TestRetryMessageIDDeterministic(t *testing.T) {
	a := RetryMessageID("m-1", 2, time.Time{})
	if a != RetryMessageID("m-1", 2, time.Time{}) {
		t.Error("same retry, different ids")
	}
	distinct := map[string]bool{a: true}
	for _, other := range []string{
		RetryMessageID("m-1", 3, time.Time{}), RetryMessageID("m-2", 2, time.Time{}),
		RetryMessageID("m-1", 2, now), RetryMessageID("m-1", 2, now.Add(time.Hour)),
	} {
		if distinct[other] {
			t.Errorf("collision: %s", other)
		}
		distinct[other] = true
	}
	if RetryMessageID("m-1", 2, now) != RetryMessageID("m-1", 2, now.Add(300*time.Millisecond)) {
		t.Error("a deferral's id must not depend on sub-second noise")
	}
}

func TestDeferralKeepsAttemptAndUsesTime(t *testing.T) {
	d := purge.Decision{Outcome: purge.RetryScheduled, Attempt: 2, FirstRequested: first, NextAttempt: 2, Deferred: true, RetryAt: now.Add(24 * time.Hour)}
	m := RetryCopy(original(), d)
	if m.Properties[PropAttempt] != int64(2) || m.MessageID != RetryMessageID("m-1", 2, now.Add(24*time.Hour)) {
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

