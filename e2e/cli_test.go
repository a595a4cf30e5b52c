package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	purgemsg "github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
)

func cli(t *testing.T, s *localstack.Stack, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, code := runCmd(ctx, t, s.Settings, stdin, args...)
	noSecrets(t, s, out)
	return out, code
}

func TestCLIPurge(t *testing.T) {
	s := startStack(t, localstack.Options{})
	user, group, throttled := deleted("user", time.Hour), deleted("group", time.Hour), deleted("user", time.Hour)
	s.Graph.Add(user, group, throttled)
	s.Graph.Always(throttled.ID, graphsim.Step{Method: "DELETE", Status: 429, RetryAfter: "60"})

	out, code := cli(t, s, "", "purge", "--dry-run", user.ID)
	if code != 0 || !strings.Contains(out, "dry-run") || s.Graph.Purged(user.ID) {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	out, code = cli(t, s, "", "purge", "--output", "json", strings.ToUpper(user.ID))
	var res []map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res) != 1 || res[0]["outcome"] != "purged" || !s.Graph.Purged(user.ID) {
		t.Fatalf("purge: exit %d %v\n%s", code, err, out)
	}
	out, code = cli(t, s, "", "purge", user.ID)
	if code != 0 || !strings.Contains(out, "absent") {
		t.Errorf("second purge: exit %d\n%s", code, out)
	}
	if out, code = cli(t, s, "", "purge", group.ID); code != 1 || !strings.Contains(out, "Forbidden") && !strings.Contains(out, "failed") {
		t.Errorf("group: exit %d\n%s", code, out)
	}
	if out, code = cli(t, s, "", "purge", throttled.ID); code != 3 || !strings.Contains(out, "retry-later") {
		t.Errorf("throttled: exit %d\n%s", code, out)
	}
	if out, code = cli(t, s, "", "purge", "alice@contoso.com"); code != 2 || !strings.Contains(out, "not a GUID") {
		t.Errorf("bad id: exit %d\n%s", code, out)
	}
	if out, code = runHandler(t, map[string]string{"PURGE_MAX_ATTEMPTS": "x", "ServiceBusConnection": s.Settings["ServiceBusConnection"]}, "purge", user.ID); code != 4 || !strings.Contains(out, "PURGE_MAX_ATTEMPTS") {
		t.Errorf("bad setting: exit %d\n%s", code, out)
	}
	if c := len(peek(t, busClient(t, s), "purge-failed")); c != 0 {
		t.Errorf("handler purge wrote %d failure messages", c)
	}
}

// send enqueues exactly what the function reads; the messages then purge when the function runs.
func TestCLISendThenFunction(t *testing.T) {
	s := startStack(t, localstack.Options{})
	a, b := deleted("user", time.Hour), deleted("application", time.Hour)
	s.Graph.Add(a, b)
	out, code := cli(t, s, a.ID+"\n# comment\n"+b.ID+"\n", "send", "--reason", "leaver", "--requested-by", "ops", "--correlation-id", "TKT-9", "-")
	if code != 0 || strings.Count(out, "sent ") != 2 {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	if out, code := cli(t, s, "", "send", "nope"); code != 2 {
		t.Errorf("invalid id sent: exit %d\n%s", code, out)
	}
	h := startHandler(t, s.Settings)
	for _, m := range receiveN(t, busClient(t, s), "purge-requests", 2, 10*time.Second) {
		if *m.CorrelationID != "TKT-9" || *m.ContentType != "application/json" {
			t.Errorf("message %+v", m)
		}
		ans := h.invoke(t, fromReceived(m))
		if ans.Line["outcome"] != "purged" || ans.Line["requestedBy"] != "ops" || ans.Line["reason"] != "leaver" {
			t.Errorf("function: %v", ans.Line)
		}
	}
	if !s.Graph.Purged(a.ID) || !s.Graph.Purged(b.ID) {
		t.Error("not purged")
	}
}

// failed lists the failure queue without removing anything; replay moves exactly the messages it reports,
// each removed only after its copy was sent, and a replayed request starts afresh.
func TestCLIFailedAndReplay(t *testing.T) {
	s := startStack(t, localstack.Options{})
	users := []graphsim.Object{deleted("user", time.Hour), deleted("user", time.Hour)}
	s.Graph.Add(users...)
	for _, u := range users {
		s.Graph.Always(u.ID, graphsim.Step{Method: "DELETE", Status: 403})
	}
	h := startHandler(t, s.Settings)
	for _, u := range users {
		if a := h.invoke(t, message{Body: []byte(u.ID), Props: map[string]any{purgemsg.PropAttempt: int64(2), purgemsg.PropOriginalMessageID: "orig-" + u.ID[:4]}}); a.Line["deadLetterReason"] != "Forbidden" {
			t.Fatalf("%v", a.Line)
		}
	}
	h.invoke(t, message{Body: []byte("garbage")})

	out, code := cli(t, s, "", "failed")
	if code != 0 || strings.Count(out, "Forbidden") != 2 || !strings.Contains(out, "InvalidMessage") || !strings.Contains(out, "3 message(s)") {
		t.Fatalf("failed: exit %d\n%s", code, out)
	}
	out, code = cli(t, s, "", "failed", "--output", "json")
	var listed []purgemsg.FailedMessage
	if err := json.Unmarshal([]byte(out), &listed); err != nil || code != 0 || len(listed) != 3 {
		t.Fatalf("failed --output json: %v\n%s", err, out)
	}
	for _, f := range listed {
		if f.Reason == "Forbidden" && (f.Attempts != 2 || f.GraphStatus != 403 || f.GraphRequestID == "" || f.ObjectID == "") {
			t.Errorf("listed %+v", f)
		}
	}

	out, code = cli(t, s, "", "replay", "--reason", "Forbidden", "--dry-run")
	if code != 0 || !strings.Contains(out, "would replay 2") {
		t.Fatalf("replay --dry-run: exit %d\n%s", code, out)
	}
	c := busClient(t, s)
	if n := len(peek(t, c, "purge-failed")); n != 3 {
		t.Fatalf("a dry run moved messages: %d left", n)
	}

	// The permission is granted: replay the Forbidden ones only.
	for _, u := range users {
		s.Graph.ClearFaults(u.ID)
	}
	out, code = cli(t, s, "", "replay", "--reason", "Forbidden", "--output", "json")
	var rep struct {
		Replayed []purgemsg.FailedMessage
		Count    int
		Skipped  int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Count != 2 || rep.Skipped != 1 {
		t.Fatalf("replay: exit %d %v\n%s", code, err, out)
	}
	left := peek(t, c, "purge-failed")
	if len(left) != 1 || left[0].ApplicationProperties[purgemsg.PropDeadLetterReason] != "InvalidMessage" {
		t.Fatalf("left on the failure queue: %d", len(left))
	}
	moved := receiveN(t, c, "purge-requests", 2, 10*time.Second)
	replayedIDs := map[string]bool{}
	for _, r := range rep.Replayed {
		replayedIDs[r.ObjectID] = true
	}
	for _, m := range moved {
		if !replayedIDs[strings.TrimSpace(string(m.Body))] {
			t.Errorf("moved %q, which replay did not report", m.Body)
		}
		if _, ok := m.ApplicationProperties[purgemsg.PropAttempt]; ok || m.ApplicationProperties[purgemsg.PropReplayOf] == nil {
			t.Errorf("replayed copy props %v", m.ApplicationProperties)
		}
		if a := h.invoke(t, fromReceived(m)); a.Line["outcome"] != "purged" || a.Line["attempt"] != 1.0 {
			t.Errorf("replayed request: %v", a.Line)
		}
	}
	for _, u := range users {
		if !s.Graph.Purged(u.ID) {
			t.Errorf("%s not purged after replay", u.ID)
		}
	}
	if out, code := cli(t, s, "", "replay", "--reason", "Sometimes"); code != 2 {
		t.Errorf("bad reason: exit %d\n%s", code, out)
	}
}

func TestCLICheck(t *testing.T) {
	s := startStack(t, localstack.Options{})
	out, code := cli(t, s, "", "check")
	if code != 0 || !strings.Contains(out, "All checks passed") || !strings.Contains(out, "User.DeleteRestore.All") || strings.Contains(out, "SAS_KEY_VALUE") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}

	weak := startStack(t, localstack.Options{Roles: []string{"User.Read.All"}})
	out, code = cli(t, weak, "", "check", "--output", "json")
	var res struct {
		Checks []struct{ Check, Status, Detail string }
		Failed int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.Failed == 0 {
		t.Fatalf("weak check: exit %d %v\n%s", code, err, out)
	}
	found := false
	for _, c := range res.Checks {
		if c.Check == "permissions" && c.Status == "fail" && strings.Contains(c.Detail, "User.DeleteRestore.All") {
			found = true
		}
	}
	if !found {
		t.Errorf("missing User.DeleteRestore.All not reported: %s", out)
	}

	noQueue := startStack(t, localstack.Options{Queues: nil, Overrides: map[string]string{"PURGE_FAILED_QUEUE_NAME": "does-not-exist-" + uuid.NewString()[:8]}})
	if out, code := cli(t, noQueue, "", "check"); code != 1 || !strings.Contains(out, "does-not-exist") {
		t.Errorf("missing queue: exit %d\n%s", code, out)
	}
}

func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "replay"}, {"purge", "--help"}, {"send", "-h"}, {"failed", "--help"}, {"check", "--help"}} {
		out, code := runHandler(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage") && !strings.Contains(out, "handler") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	if out, code := runHandler(t, nil, "frobnicate"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Errorf("unknown command: exit %d\n%s", code, out)
	}
}
