package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/standin/graphsim"
)

const (
	userID  = "11111111-1111-4111-8111-111111111111"
	neverID = "22222222-2222-4222-8222-222222222222"
	protID  = "33333333-3333-4333-8333-333333333333"
	baitID  = "44444444-4444-4444-8444-444444444444"
)

var at0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// clean is the evidence of a run in which everything ended where it should.
func clean() Evidence {
	return Evidence{
		Requests: []Request{
			{MessageID: "m-user", Kind: Purgeable, ObjectID: userID},
			{MessageID: "m-never", Kind: NeverDeleted, ObjectID: neverID},
			{MessageID: "m-prot", Kind: Protected, ObjectID: protID},
			{MessageID: "m-bad", Kind: Invalid, Bait: []string{baitID}},
			{MessageID: "m-bad2", Kind: Invalid},
		},
		Completions: []Completion{
			{DeliveredID: "m-user", OriginalID: "m-user", Outcome: "retry-scheduled"},
			{DeliveredID: "r-user", OriginalID: "m-user", Outcome: "purged"},
			{DeliveredID: "m-never", OriginalID: "m-never", Outcome: "absent"},
			{DeliveredID: "m-prot", OriginalID: "m-prot", Outcome: "failed", Reason: "Protected"},
			{DeliveredID: "m-bad", OriginalID: "m-bad", Outcome: "failed", Reason: "InvalidMessage"},
		},
		FailureQueue: []Copy{
			{MessageID: "f-prot", OriginalID: "m-prot", Reason: "Protected", SequenceNumber: 1},
			{MessageID: "f-bad", OriginalID: "m-bad", Reason: "InvalidMessage", SequenceNumber: 2},
		},
		DeadLettered: []Copy{{MessageID: "m-bad2", OriginalID: "m-bad2", Reason: "MaxDeliveryCountExceeded", SequenceNumber: 9}},
		Purged:       map[string]bool{userID: true},
		Graph: []graphsim.Request{
			{Time: at0, Method: "GET", ObjectID: userID, Status: 429, RetryAfter: "2", RequestID: "a"},
			{Time: at0.Add(100 * time.Millisecond), Method: "DELETE", ObjectID: userID, Status: 204, RequestID: "b"}, // another call
			{Time: at0.Add(2 * time.Second), Method: "GET", ObjectID: userID, Status: 200, RequestID: "c"},
			{Time: at0.Add(3 * time.Second), Method: "GET", ObjectID: neverID, Status: 404, RequestID: "d"},
		},
		Outputs: []Output{{Name: "handler.stdout.log", Data: []byte(`{"outcome":"purged"}`)},
			// A random link name may hold "eyJ"; only a token's shape is a token.
			{Name: "servicebus.log", Data: []byte(`{"event":"attach","name":"eJW4a_MXQM0pn68KViQ2RASebh8aSKTE7hLXg6Lws98tLeXf0_eyJA"}`)}},
		Secrets: []string{"SAS_KEY_VALUE", ""},
	}
}

func TestACleanRunHasNoViolation(t *testing.T) {
	l := Audit(clean())
	if len(l.Violations) != 0 {
		t.Fatalf("violations: %+v", l.Violations)
	}
	want := map[string]int{PlacePurged: 1, PlaceAbsent: 1, "failure:Protected": 1, "failure:InvalidMessage": 1, PlaceDeadLettered: 1}
	for p, n := range want {
		if l.ByPlace[p] != n {
			t.Errorf("ByPlace %v, want %v", l.ByPlace, want)
		}
	}
	if l.RetryAfter.Answers != 1 || l.RetryAfter.Retried != 1 || l.RetryAfter.MinMargin != 0 {
		t.Errorf("retry-after audit %+v: the GET two seconds after its Retry-After: 2 is on time", l.RetryAfter)
	}
}

// Each rule catches what it is there for.
func TestEveryRuleCatchesItsViolation(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(*Evidence)
		rule   string
		detail string
	}{
		{"a request nowhere", func(e *Evidence) {
			e.Completions = e.Completions[:2]
			e.Completions = append(e.Completions, Completion{OriginalID: "m-prot", Outcome: "failed"})
		},
			RuleOnePlace, "m-never"},
		{"failed without its copy", func(e *Evidence) { e.FailureQueue = e.FailureQueue[1:] },
			RuleOnePlace, "answered failed (Protected) but no failure copy"},
		{"two failure copies", func(e *Evidence) {
			e.FailureQueue = append(e.FailureQueue, Copy{MessageID: "f-bad-again", OriginalID: "m-bad", Reason: "InvalidMessage", SequenceNumber: 3})
		}, RuleOnePlace, "2 places"},
		{"a failure copy and a dead letter", func(e *Evidence) {
			e.DeadLettered = append(e.DeadLettered, Copy{MessageID: "m-prot", OriginalID: "m-prot", SequenceNumber: 4})
		}, RuleOnePlace, "2 places"},
		{"still queued", func(e *Evidence) { e.Left = []Copy{{MessageID: "r-never", OriginalID: "m-never"}} }, RuleOnePlace, "still has 1 message"},
		{"a purgeable object dead-lettered", func(e *Evidence) {
			e.Completions = e.Completions[:1]
			e.DeadLettered = append(e.DeadLettered, Copy{MessageID: "m-user", OriginalID: "m-user", SequenceNumber: 5})
			delete(e.Purged, userID)
		}, RuleRightPlace, "purgeable request ended as dead-lettered"},
		{"a purgeable object absent", func(e *Evidence) { delete(e.Purged, userID) }, RulePurged, "still in the recycle bin"},
		{"a protected request answered absent", func(e *Evidence) {
			e.FailureQueue = e.FailureQueue[1:]
			e.Completions[3] = Completion{OriginalID: "m-prot", Outcome: "absent"}
		}, RuleRightPlace, "protected request ended as absent"},
		{"a GET for a protected id", func(e *Evidence) {
			e.Graph = append(e.Graph, graphsim.Request{Time: at0, Method: "GET", ObjectID: protID, Status: 200})
		}, RuleNoCall, "GET " + protID},
		{"a DELETE for an id in an invalid body", func(e *Evidence) {
			e.Graph = append(e.Graph, graphsim.Request{Time: at0, Method: "DELETE", ObjectID: baitID, Status: 204})
			e.Purged[baitID] = true
		}, RuleNoCall, "DELETE " + baitID},
		{"a retry before Retry-After", func(e *Evidence) { e.Graph[2].Time = at0.Add(1999 * time.Millisecond) }, RuleRetryAfter, "called again 1.999s later"},
		{"a retry before an HTTP-date Retry-After", func(e *Evidence) {
			e.Graph[0].RetryAfter = at0.Add(5 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT")
		}, RuleRetryAfter, "called again 2s later"},
		{"a token in the output", func(e *Evidence) {
			e.Outputs = append(e.Outputs, Output{Name: "host.log", Data: []byte("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6W119.c2ln")})
		},
			RuleSecrets, "host.log contains a token"},
		{"a key in the output", func(e *Evidence) {
			e.Outputs = append(e.Outputs, Output{Name: "handler.stderr.log", Data: []byte("key=SAS_KEY_VALUE")})
		},
			RuleSecrets, "handler.stderr.log contains a secret"},
		{"a message from nowhere", func(e *Evidence) {
			e.FailureQueue = append(e.FailureQueue, Copy{MessageID: "f-x", OriginalID: "stranger"})
		},
			RuleUnknown, "failure copy f-x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := clean()
			c.break_(&ev)
			l := Audit(ev)
			var found bool
			for _, v := range l.Violations {
				if v.Rule == c.rule && strings.Contains(v.Request+" "+v.Detail, c.detail) {
					found = true
				}
			}
			if !found {
				t.Errorf("want a %s violation mentioning %q, got %+v", c.rule, c.detail, l.Violations)
			}
		})
	}
}

// Copies with the same MessageId count once (Service Bus would have dropped the second by duplicate
// detection), and purged or absent answers of two retry chains of one request are one place.
func TestSameCopiesAndRepeatedAnswersCountOnce(t *testing.T) {
	ev := clean()
	ev.FailureQueue = append(ev.FailureQueue, Copy{MessageID: "f-bad", OriginalID: "m-bad", Reason: "InvalidMessage", SequenceNumber: 7})
	ev.Completions = append(ev.Completions, Completion{DeliveredID: "r2-user", OriginalID: "m-user", Outcome: "absent"},
		Completion{DeliveredID: "r-never", OriginalID: "m-never", Outcome: "absent"})
	if l := Audit(ev); len(l.Violations) != 0 {
		t.Fatalf("violations: %+v", l.Violations)
	}
}
