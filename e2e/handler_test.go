package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	purgemsg "github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/sbemu"
)

func deleted(typ string, ago time.Duration) graphsim.Object {
	id := uuid.NewString()
	return graphsim.Object{ID: id, Type: typ, DisplayName: typ + " " + id[:8], DeletedAt: time.Now().Add(-ago)}
}

func body(id string) []byte {
	return []byte(`{"id":"` + id + `","reason":"leaver","requestedBy":"hr-flow","correlationId":"TKT-42"}`)
}

// The whole happy path: GET then DELETE with a managed-identity token, answer 200 with the log line in
// Logs, nothing written to Service Bus.
func TestPurged(t *testing.T) {
	s := startStack(t, localstack.Options{})
	obj := deleted("user", time.Hour)
	s.Graph.Add(obj)
	h := startHandler(t, s.Settings)

	a := h.invoke(t, message{Body: body(strings.ToUpper(obj.ID)), CorrelationID: "TKT-42"})
	if a.Status != 200 || a.Line["outcome"] != "purged" {
		t.Fatalf("answer %d %v", a.Status, a.Line)
	}
	if !s.Graph.Purged(obj.ID) {
		t.Error("the simulator says the object was not purged")
	}
	reqs := s.Graph.RequestsFor(obj.ID)
	if len(reqs) != 2 || reqs[0].Method != "GET" || reqs[1].Method != "DELETE" || reqs[1].Status != 204 || !reqs[1].Authorization || reqs[1].ClientRequestID == "" {
		t.Errorf("graph requests %+v", reqs)
	}
	for _, k := range []string{"outcome", "objectId", "messageId", "deliveryCount", "attempt", "graphStatus", "graphRequestId", "durationMs", "reason", "requestedBy", "correlationId"} {
		if _, ok := a.Line[k]; !ok {
			t.Errorf("log line lacks %s: %v", k, a.Line)
		}
	}
	if a.Line["objectId"] != obj.ID || a.Line["graphRequestId"] != reqs[1].RequestID || a.Line["requestedBy"] != "hr-flow" {
		t.Errorf("log line %v", a.Line)
	}
	if !waitFor(t, h.stdout, `"outcome":"purged"`) {
		t.Error("the log line did not go to stdout")
	}
	c := busClient(t, s)
	if n := len(peek(t, c, "purge-failed")) + len(peek(t, c, "purge-requests")); n != 0 {
		t.Errorf("%d messages written for a purge", n)
	}
	noSecrets(t, s, h.stdout.String(), h.stderr.String(), strings.Join(a.Logs, "\n"))
}

// Malformed messages make no Graph call at all and land on the failure queue, body intact, with every
// property docs/contract.md §6.2 names.
func TestInvalidMessagesNeverReachGraph(t *testing.T) {
	s := startStack(t, localstack.Options{})
	h := startHandler(t, s.Settings)
	bodies := []string{"alice@contoso.com", "../users/" + uuid.NewString(), `["` + uuid.NewString() + `"]`, "", `{"type":"user"}`,
		`{"id":"` + uuid.NewString() + `","notBefore":"next week"}`, `{"id":"` + uuid.NewString() + `","type":"printer"}`}
	for _, b := range bodies {
		a := h.invoke(t, message{Body: []byte(b), MessageID: "msg-" + fmt.Sprint(len(b)), CorrelationID: "corr"})
		if a.Status != 200 || a.Line["outcome"] != "failed" || a.Line["deadLetterReason"] != "InvalidMessage" {
			t.Errorf("%q: answer %d %v", b, a.Status, a.Line)
		}
	}
	if n := len(s.Graph.Requests()); n != 0 {
		t.Fatalf("%d Graph requests for invalid messages", n)
	}
	got := receiveN(t, busClient(t, s), "purge-failed", len(bodies), 20*time.Second)
	seen := map[string]bool{}
	for _, m := range got {
		seen[string(m.Body)] = true
		p := m.ApplicationProperties
		if p[purgemsg.PropDeadLetterReason] != "InvalidMessage" || p[purgemsg.PropAttempts] != int64(1) || p[purgemsg.PropOriginalMessageID] == "" ||
			p[purgemsg.PropFailedAt] == "" || *m.CorrelationID != "corr" || !strings.Contains(p[purgemsg.PropDeadLetterDescription].(string), "not a purge request") {
			t.Errorf("failure message %q: %v", m.Body, p)
		}
		for _, k := range []string{purgemsg.PropObjectID, purgemsg.PropGraphStatus, purgemsg.PropGraphErrorCode, purgemsg.PropGraphRequestID} {
			if _, ok := p[k]; !ok {
				t.Errorf("failure message lacks %s", k)
			}
		}
		if m.DeadLetterReason == nil || *m.DeadLetterReason != "InvalidMessage" {
			t.Error("DeadLetterReason is not readable as Service Bus's own dead-letter reason")
		}
	}
	for _, b := range bodies {
		if !seen[b] {
			t.Errorf("body %q not on the failure queue", b)
		}
	}
}

// 404 then present: the first invocation schedules a copy back to the trigger queue; the copy, delivered
// as the host would, purges. The copy carries the bookkeeping forward.
func TestReplicationLagThenPurged(t *testing.T) {
	s := startStack(t, localstack.Options{})
	obj := deleted("user", 0)
	obj.LagReads = 1
	s.Graph.Add(obj)
	h := startHandler(t, s.Settings)
	c := busClient(t, s)

	a := h.invoke(t, message{Body: body(obj.ID), MessageID: "first-msg"})
	if a.Status != 200 || a.Line["outcome"] != "retry-scheduled" {
		t.Fatalf("first answer %d %v", a.Status, a.Line)
	}
	copies := receiveN(t, c, "purge-requests", 1, 15*time.Second)
	cp := copies[0]
	if cp.ScheduledEnqueueTime == nil || cp.ApplicationProperties[purgemsg.PropAttempt] != int64(2) ||
		cp.ApplicationProperties[purgemsg.PropOriginalMessageID] != "first-msg" || cp.ApplicationProperties[purgemsg.PropFirstRequested] == nil ||
		cp.MessageID != purgemsg.RetryMessageID("first-msg") || string(cp.Body) != string(body(obj.ID)) {
		t.Fatalf("retry copy %+v %v", cp, cp.ApplicationProperties)
	}
	a = h.invoke(t, fromReceived(cp))
	if a.Status != 200 || a.Line["outcome"] != "purged" || a.Line["attempt"] != 2.0 || a.Line["originalMessageId"] != "first-msg" {
		t.Fatalf("second answer %d %v", a.Status, a.Line)
	}
	if got := strings.Join(graphCalls(s.Graph, obj.ID), ","); got != "GET 404,GET 200,DELETE 204" {
		t.Errorf("graph calls %s", got)
	}
}

// 404 for longer than the grace window is "absent": logged as a warning, nothing written, no DELETE.
func TestAbsentAfterGrace(t *testing.T) {
	s := startStack(t, localstack.Options{})
	h := startHandler(t, s.Settings)
	id := uuid.NewString()
	a := h.invoke(t, message{Body: body(id), Enqueued: time.Now().Add(-2 * time.Minute)})
	if a.Status != 200 || a.Line["outcome"] != "absent" || a.Line["level"] != "warn" || a.Line["graphStatus"] != 404.0 {
		t.Fatalf("answer %d %v", a.Status, a.Line)
	}
	if got := strings.Join(graphCalls(s.Graph, id), ","); got != "GET 404" {
		t.Errorf("graph calls %s", got)
	}
	if n := len(peek(t, busClient(t, s), "purge-failed")); n != 0 {
		t.Errorf("%d failure messages for an absent object", n)
	}
}

// A short Retry-After is honoured in-process, never sooner; a long one becomes a scheduled copy no earlier
// than Retry-After.
func TestThrottling(t *testing.T) {
	s := startStack(t, localstack.Options{})
	short, long := deleted("user", time.Hour), deleted("user", time.Hour)
	s.Graph.Add(short, long)
	s.Graph.Script(short.ID, graphsim.Step{Method: "DELETE", Status: 429, RetryAfter: "1"})
	s.Graph.Always(long.ID, graphsim.Step{Method: "DELETE", Status: 429, RetryAfter: "120"})
	h := startHandler(t, s.Settings)

	a := h.invoke(t, message{Body: body(short.ID)})
	if a.Line["outcome"] != "purged" {
		t.Fatalf("short throttle: %v", a.Line)
	}
	reqs := s.Graph.RequestsFor(short.ID)
	if len(reqs) != 3 || reqs[1].Status != 429 || reqs[2].Status != 204 {
		t.Fatalf("requests %+v", reqs)
	}
	if gap := reqs[2].Time.Sub(reqs[1].Time); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}

	before := time.Now()
	a = h.invoke(t, message{Body: body(long.ID), MessageID: "throttled"})
	if a.Line["outcome"] != "retry-scheduled" || a.Line["graphStatus"] != 429.0 {
		t.Fatalf("long throttle: %v", a.Line)
	}
	if n := len(s.Graph.RequestsFor(long.ID)); n != 2 {
		t.Errorf("%d requests: a long Retry-After must not be waited for in-process", n)
	}
	msgs := peek(t, busClient(t, s), "purge-requests")
	if len(msgs) != 1 || msgs[0].ScheduledEnqueueTime == nil || msgs[0].ScheduledEnqueueTime.Before(before.Add(119*time.Second)) {
		t.Fatalf("scheduled copy %+v", msgs)
	}
	if !strings.Contains(msgs[0].ApplicationProperties[purgemsg.PropLastError].(string), "429") {
		t.Errorf("PurgeLastError %v", msgs[0].ApplicationProperties[purgemsg.PropLastError])
	}
}

// 503 on every attempt: copies until PURGE_MAX_ATTEMPTS, then RetriesExhausted with the total attempts
// and the first message's id.
func TestRetriesExhausted(t *testing.T) {
	s := startStack(t, localstack.Options{})
	obj := deleted("user", time.Hour)
	s.Graph.Add(obj)
	s.Graph.Always(obj.ID, graphsim.Step{Method: "DELETE", Status: 503, Code: "ServiceUnavailable"})
	h := startHandler(t, s.Settings)
	c := busClient(t, s)

	m := message{Body: body(obj.ID), MessageID: "orig-503"}
	for attempt := 1; attempt <= 3; attempt++ {
		a := h.invoke(t, m)
		want := "retry-scheduled"
		if attempt == 3 {
			want = "failed"
		}
		if a.Line["outcome"] != want || a.Line["attempt"] != float64(attempt) {
			t.Fatalf("attempt %d: %v", attempt, a.Line)
		}
		if attempt < 3 {
			m = fromReceived(receiveN(t, c, "purge-requests", 1, 20*time.Second)[0])
		}
	}
	f := receiveN(t, c, "purge-failed", 1, 10*time.Second)[0]
	p := f.ApplicationProperties
	if p[purgemsg.PropDeadLetterReason] != "RetriesExhausted" || p[purgemsg.PropAttempts] != int64(3) || p[purgemsg.PropOriginalMessageID] != "orig-503" ||
		p[purgemsg.PropGraphStatus] != int64(503) || p[purgemsg.PropGraphErrorCode] != "ServiceUnavailable" || p[purgemsg.PropGraphRequestID] == "" {
		t.Errorf("failure %v", p)
	}
	if s.Graph.Purged(obj.ID) {
		t.Error("purged despite 503s")
	}
}

func TestGraphRefusals(t *testing.T) {
	s := startStack(t, localstack.Options{})
	forbidden, rejected := deleted("user", time.Hour), deleted("user", time.Hour)
	s.Graph.Add(forbidden, rejected)
	s.Graph.Always(forbidden.ID, graphsim.Step{Method: "DELETE", Status: 403})
	s.Graph.Always(rejected.ID, graphsim.Step{Method: "DELETE", Status: 400, Code: "Request_BadRequest", Message: "Invalid request."})
	h := startHandler(t, s.Settings)

	for id, want := range map[string]string{forbidden.ID: "Forbidden", rejected.ID: "GraphRejected"} {
		a := h.invoke(t, message{Body: body(id)})
		if a.Line["outcome"] != "failed" || a.Line["deadLetterReason"] != want {
			t.Errorf("%s: %v", want, a.Line)
		}
	}
	msgs := receiveN(t, busClient(t, s), "purge-failed", 2, 10*time.Second)
	for _, m := range msgs {
		p := m.ApplicationProperties
		if p[purgemsg.PropDeadLetterReason] == "Forbidden" && !strings.Contains(p[purgemsg.PropDeadLetterDescription].(string), "User.DeleteRestore.All") {
			t.Errorf("Forbidden does not name the permission: %s", p[purgemsg.PropDeadLetterDescription])
		}
	}
}

// An identity without User.DeleteRestore.All gets Graph's real 403; the failure names the permission.
func TestMissingPermission(t *testing.T) {
	s := startStack(t, localstack.Options{Roles: []string{"User.Read.All"}})
	obj := deleted("user", time.Hour)
	s.Graph.Add(obj)
	h := startHandler(t, s.Settings)
	a := h.invoke(t, message{Body: body(obj.ID)})
	if a.Line["deadLetterReason"] != "Forbidden" || a.Line["graphErrorCode"] != "Authorization_RequestDenied" ||
		!strings.Contains(a.Line["description"].(string), "User.DeleteRestore.All") {
		t.Fatalf("%v", a.Line)
	}
}

// The managed-identity endpoint failing is a temporary error: a retry is scheduled and Graph is not called.
func TestTokenEndpointFailure(t *testing.T) {
	s := startStack(t, localstack.Options{})
	obj := deleted("user", time.Hour)
	s.Graph.Add(obj)
	s.Identity.SetFailing(500)
	h := startHandler(t, s.Settings)
	a := h.invoke(t, message{Body: body(obj.ID)})
	if a.Status != 200 || a.Line["outcome"] != "retry-scheduled" || !strings.Contains(a.Line["description"].(string), "token") {
		t.Fatalf("%d %v", a.Status, a.Line)
	}
	if n := len(s.Graph.Requests()); n != 0 {
		t.Errorf("%d Graph requests without a token", n)
	}
	if s.Identity.Calls() == 0 {
		t.Error("the identity endpoint was never asked")
	}
	if n := len(peek(t, busClient(t, s), "purge-requests")); n != 1 {
		t.Errorf("%d retry copies", n)
	}
	noSecrets(t, s, h.stdout.String(), h.stderr.String())
}

// When the failure queue does not exist the message cannot be secured: the answer is 500 (the host
// abandons and Service Bus redelivers) and the reason is on stderr. A missing queue is no start-up error.
func TestUnsecuredMessageAnswers500(t *testing.T) {
	s := startStack(t, localstack.Options{Queues: []sbemu.Queue{{Name: "purge-requests"}}})
	h := startHandler(t, s.Settings)
	a := h.invoke(t, message{Body: []byte("not an id")})
	if a.Status != 500 {
		t.Fatalf("answer %d, want 500", a.Status)
	}
	if !waitFor(t, h.stderr, "not secured") {
		t.Errorf("stderr %q", h.stderr)
	}
	noSecrets(t, s, h.stdout.String(), h.stderr.String())
}

func TestBadSettingStopsStartup(t *testing.T) {
	for setting, value := range map[string]string{"PURGE_MAX_ATTEMPTS": "many", "PURGE_GRAPH_ENDPOINT": "http://graph.example.com", "PURGE_CLOUD": "Mars"} {
		s := map[string]string{"ServiceBusConnection": "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=secret-key;UseDevelopmentEmulator=true", setting: value}
		out, code := runHandler(t, s)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], setting) || strings.Contains(out, "secret-key") {
			t.Errorf("%s=%s: exit %d, output %q", setting, value, code, out)
		}
	}
}

// SIGTERM lets an in-flight invocation finish, then the handler exits (200: a clean restart for the host).
func TestSigtermDrains(t *testing.T) {
	s := startStack(t, localstack.Options{})
	obj := deleted("user", time.Hour)
	s.Graph.Add(obj)
	s.Graph.Script(obj.ID, graphsim.Step{Method: "DELETE", Delay: 1500 * time.Millisecond})
	h := startHandler(t, s.Settings)
	res := make(chan answer, 1)
	go func() { res <- h.invoke(t, message{Body: body(obj.ID)}) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Graph.RequestsFor(obj.ID)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-res:
		if a.Status != 200 || a.Line["outcome"] != "purged" {
			t.Errorf("in-flight answer %d %v", a.Status, a.Line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight invocation not answered after SIGTERM")
	}
	select {
	case <-h.done:
		if h.exit != 200 {
			t.Errorf("exit code %d, want 200", h.exit)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("handler did not exit after SIGTERM")
	}
}

func runHandler(t *testing.T, settings map[string]string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(ctx, t, settings, "", args...)
}

// Graph's own write quota (the simulator's token bucket, not a script): purges beyond the quota get 429
// with a Retry-After from the bucket; the handler waits it out in-process or schedules a copy, never
// retrying sooner, and every object is purged in the end.
func TestGraphWriteQuota(t *testing.T) {
	s := startStack(t, localstack.Options{Graph: graphsim.Options{Throttle: graphsim.ThrottleLimits{Writes: 2, WriteWindow: 4 * time.Second}}})
	objs := []graphsim.Object{deleted("user", time.Hour), deleted("user", time.Hour), deleted("user", time.Hour)}
	s.Graph.Add(objs...)
	h := startHandler(t, s.Settings)
	c := busClient(t, s)
	for _, o := range objs {
		m := message{Body: body(o.ID)}
		for try := 0; try < 5; try++ {
			a := h.invoke(t, m)
			if a.Line["outcome"] == "purged" {
				break
			}
			if a.Line["outcome"] != "retry-scheduled" {
				t.Fatalf("%s: %v", o.ID, a.Line)
			}
			m = fromReceived(receiveN(t, c, "purge-requests", 1, 20*time.Second)[0])
		}
	}
	throttled := 0
	var last time.Time
	for _, r := range s.Graph.Requests() {
		if r.Method != "DELETE" {
			continue
		}
		if r.Status == 429 {
			throttled++
			ra, _ := time.ParseDuration(r.RetryAfter + "s")
			last = r.Time.Add(ra)
			continue
		}
		if !last.IsZero() && r.Time.Before(last) {
			t.Errorf("a DELETE at %s came before the Retry-After of the last 429 (%s)", r.Time, last)
		}
	}
	if throttled == 0 {
		t.Error("the write quota never throttled: the test proves nothing")
	}
	for _, o := range objs {
		if !s.Graph.Purged(o.ID) {
			t.Errorf("%s not purged", o.ID)
		}
	}
}
