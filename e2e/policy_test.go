package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	purgemsg "github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
)

func deletes(g *graphsim.Server, id string) int {
	n := 0
	for _, r := range g.RequestsFor(id) {
		if r.Method == "DELETE" {
			n++
		}
	}
	return n
}

// Every refusal of docs/contract.md §3.2–§3.3, end to end: the reason on the failure queue, a description a person can
// act on, and no DELETE sent to Graph.
func TestPolicyRefusals(t *testing.T) {
	protected := deleted("user", time.Hour)
	// Directory.Read.All lets the identity read every type, so the type checks run on what Graph reports.
	s := startStack(t, localstack.Options{Roles: append([]string{"Directory.Read.All"}, localstack.DefaultRoles...), Overrides: map[string]string{
		"PURGE_PROTECTED_IDS": " " + strings.ToUpper(protected.ID) + " , " + uuid.NewString(),
	}})
	group := deleted("group", time.Hour)
	au := deleted("administrativeUnit", time.Hour)
	app := deleted("application", time.Hour)
	synced := deleted("user", time.Hour)
	yes := true
	synced.OnPremisesSyncEnabled = &yes
	s.Graph.Add(protected, group, au, app, synced)
	h := startHandler(t, s.Settings)

	cases := []struct {
		name, body, reason, says string
	}{
		{"protected id", protected.ID, "Protected", "PURGE_PROTECTED_IDS"},
		{"group (app-only not supported)", group.ID, "TypeNotAllowed", "app-only"},
		{"administrative unit", au.ID, "TypeNotAllowed", "cannot be permanently deleted"},
		{"type mismatch", `{"id":"` + app.ID + `","type":"user"}`, "TypeMismatch", "expects a user"},
		{"synced user", synced.ID, "SyncedObject", "on-premises"},
	}
	for _, c := range cases {
		a := h.invoke(t, message{Body: []byte(c.body)})
		if a.Status != 200 || a.Line["outcome"] != "failed" || a.Line["deadLetterReason"] != c.reason || !strings.Contains(a.Line["description"].(string), c.says) {
			t.Errorf("%s: %d %v", c.name, a.Status, a.Line)
		}
	}
	for _, o := range []graphsim.Object{protected, group, au, app, synced} {
		if n := deletes(s.Graph, o.ID); n != 0 {
			t.Errorf("%s %s: %d DELETE requests", o.Type, o.ID, n)
		}
		if _, ok := s.Graph.Object(o.ID); !ok {
			t.Errorf("%s %s is gone", o.Type, o.ID)
		}
	}
	if n := len(s.Graph.RequestsFor(protected.ID)); n != 0 {
		t.Errorf("a protected id reached Graph %d times", n)
	}
	msgs := receiveN(t, busClient(t, s), "purge-failed", len(cases), 15*time.Second)
	reasons := map[string]int{}
	for _, m := range msgs {
		reasons[m.ApplicationProperties[purgemsg.PropDeadLetterReason].(string)]++
	}
	if reasons["TypeNotAllowed"] != 2 || reasons["Protected"] != 1 || reasons["TypeMismatch"] != 1 || reasons["SyncedObject"] != 1 {
		t.Errorf("reasons on the failure queue: %v", reasons)
	}
}

// An identity granted least privilege cannot read a deleted group at all: a message that says it is a group
// is refused by type, one that does not say is refused as Forbidden with both possible causes spelled out.
func TestLeastPrivilegeGroup(t *testing.T) {
	s := startStack(t, localstack.Options{})
	group := deleted("group", time.Hour)
	s.Graph.Add(group)
	h := startHandler(t, s.Settings)
	a := h.invoke(t, message{Body: []byte(`{"id":"` + group.ID + `","type":"group"}`)})
	if a.Line["deadLetterReason"] != "TypeNotAllowed" || !strings.Contains(a.Line["description"].(string), "app-only") {
		t.Errorf("declared group: %v", a.Line)
	}
	a = h.invoke(t, message{Body: []byte(group.ID)})
	if a.Line["deadLetterReason"] != "Forbidden" || !strings.Contains(a.Line["description"].(string), "PURGE_ALLOWED_TYPES") {
		t.Errorf("undeclared group: %v", a.Line)
	}
	if n := deletes(s.Graph, group.ID); n != 0 {
		t.Errorf("%d DELETEs for a group", n)
	}
}

// Deferrals: a future notBefore (no Graph call), a minimum deletion age, and Graph's hard-delete
// protection all schedule the request for when it may go ahead, keep the attempt number, and fail nothing.
func TestDeferrals(t *testing.T) {
	s := startStack(t, localstack.Options{Overrides: map[string]string{"PURGE_MIN_DELETED_AGE": "2h"}})
	young := deleted("user", 30*time.Minute)
	protectedApp := deleted("application", 24*time.Hour)
	protectedApp.HardDeleteProtected = true
	later := deleted("user", 5*time.Hour)
	s.Graph.Add(young, protectedApp, later)
	h := startHandler(t, s.Settings)
	c := busClient(t, s)

	notBefore := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	checks := []struct {
		name string
		body string
		due  time.Time
	}{
		{"notBefore", `{"id":"` + later.ID + `","notBefore":"` + notBefore.Format(time.RFC3339) + `"}`, notBefore},
		{"min deleted age", young.ID, young.DeletedAt.Add(2 * time.Hour)},
		{"hard-delete protection", protectedApp.ID, protectedApp.DeletedAt.Add(7 * 24 * time.Hour)},
	}
	for _, ch := range checks {
		a := h.invoke(t, message{Body: []byte(ch.body), Props: map[string]any{purgemsg.PropAttempt: int64(2)}})
		if a.Line["outcome"] != "retry-scheduled" || a.Line["deferred"] != true || a.Line["nextAttempt"] != 2.0 {
			t.Errorf("%s: %v", ch.name, a.Line)
		}
	}
	if n := len(s.Graph.RequestsFor(later.ID)); n != 0 {
		t.Errorf("notBefore in the future still called Graph %d times", n)
	}
	if n := deletes(s.Graph, young.ID); n != 0 {
		t.Errorf("a too-young object got %d DELETEs", n)
	}
	copies := peek(t, c, "purge-requests")
	if len(copies) != 3 {
		t.Fatalf("%d scheduled copies", len(copies))
	}
	for _, ch := range checks {
		found := false
		for _, cp := range copies {
			if string(cp.Body) == ch.body {
				found = true
				if cp.ScheduledEnqueueTime == nil || cp.ScheduledEnqueueTime.Sub(ch.due).Abs() > 2*time.Second || cp.ApplicationProperties[purgemsg.PropAttempt] != int64(2) {
					t.Errorf("%s: scheduled %v (want %v), props %v", ch.name, cp.ScheduledEnqueueTime, ch.due, cp.ApplicationProperties)
				}
			}
		}
		if !found {
			t.Errorf("%s: no scheduled copy", ch.name)
		}
	}
	if n := len(peek(t, c, "purge-failed")); n != 0 {
		t.Errorf("%d failures for deferrals", n)
	}
}

// Dry run decides everything and writes nothing: no DELETE, no failure copy, no retry copy.
func TestDryRunWritesNothing(t *testing.T) {
	s := startStack(t, localstack.Options{Overrides: map[string]string{"PURGE_DRY_RUN": "true"}})
	user, group, lagging := deleted("user", time.Hour), deleted("group", time.Hour), deleted("user", 0)
	lagging.LagReads = 5
	s.Graph.Add(user, group, lagging)
	h := startHandler(t, s.Settings)
	want := map[string]string{user.ID: "dry-run", group.ID: "failed", lagging.ID: "retry-scheduled", "not-an-id": "failed"}
	for body, outcome := range want {
		a := h.invoke(t, message{Body: []byte(body)})
		if a.Status != 200 || a.Line["outcome"] != outcome || a.Line["dryRun"] != true || a.Line["settlement"] != "none" {
			t.Errorf("%s: %d %v", body, a.Status, a.Line)
		}
	}
	for _, r := range s.Graph.Requests() {
		if r.Method != "GET" {
			t.Errorf("dry run made a %s request: %+v", r.Method, r)
		}
	}
	c := busClient(t, s)
	if n := len(peek(t, c, "purge-requests")) + len(peek(t, c, "purge-failed")); n != 0 {
		t.Errorf("dry run wrote %d messages", n)
	}
	if s.Graph.Purged(user.ID) {
		t.Error("dry run purged")
	}
	if _, ok := s.Graph.Object(user.ID); !ok {
		t.Error("the user left the recycle bin in a dry run")
	}
}

// With verification off no GET is made; the message's type still meets the type policy.
func TestVerifyOff(t *testing.T) {
	s := startStack(t, localstack.Options{Overrides: map[string]string{"PURGE_VERIFY": "false", "PURGE_ALLOW_SYNCED": "true"}})
	user := deleted("user", time.Hour)
	s.Graph.Add(user)
	h := startHandler(t, s.Settings)
	if a := h.invoke(t, message{Body: []byte(user.ID)}); a.Line["outcome"] != "purged" {
		t.Fatalf("%v", a.Line)
	}
	if got := strings.Join(graphCalls(s.Graph, user.ID), ","); got != "DELETE 204" {
		t.Errorf("graph calls %s", got)
	}
	if a := h.invoke(t, message{Body: []byte(`{"id":"` + uuid.NewString() + `","type":"group"}`)}); a.Line["deadLetterReason"] != "TypeNotAllowed" {
		t.Errorf("%v", a.Line)
	}
}
