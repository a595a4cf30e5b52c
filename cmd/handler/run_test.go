package main

// In-process tests of the executable through its run seam: the real commands, flags, settings and exit
// codes, against the Graph simulator and the managed-identity endpoint served in this process. (The
// commands that need Service Bus run end to end in e2e/, against the emulator.)

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/identity"
)

// settings are an environment for run.
type settings map[string]string

// runHandler runs the executable's main logic in-process and returns its exit code and output.
func runHandler(t *testing.T, s settings, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	environ := make([]string, 0, len(s))
	for k, v := range s {
		environ = append(environ, k+"="+v)
	}
	code := run(ctx, args, environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

// stack serves a Graph simulator and an identity endpoint in this process and returns settings for them.
// azidentity reads the identity endpoint from the process environment, so these tests do not run in
// parallel.
func stack(t *testing.T, roles ...string) (*graphsim.Server, settings) {
	t.Helper()
	if roles == nil {
		roles = []string{"User.DeleteRestore.All", "User.Read.All", "Application.ReadWrite.All"}
	}
	id := identity.New(identity.Options{Header: "test-header", Roles: roles})
	idSrv := httptest.NewServer(id)
	t.Cleanup(idSrv.Close)
	g := graphsim.New(graphsim.Options{})
	gSrv := httptest.NewServer(g)
	t.Cleanup(gSrv.Close)
	t.Setenv("IDENTITY_ENDPOINT", idSrv.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "test-header")
	return g, settings{
		"ServiceBusConnection": "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=never-used;UseDevelopmentEmulator=true",
		"PURGE_GRAPH_ENDPOINT": gSrv.URL,
		"IDENTITY_ENDPOINT":    idSrv.URL + "/msi/token",
	}
}

func deletedObject(g *graphsim.Server, typ string, ago time.Duration) string {
	id := uuid.NewString()
	g.Add(graphsim.Object{ID: id, Type: typ, DisplayName: typ + " " + id[:8], DeletedAt: time.Now().Add(-ago)})
	return id
}

func TestHelpAndUsage(t *testing.T) {
	code, out, _ := runHandler(t, settings{}, "help")
	if code != exitOK || !strings.Contains(out, "handler purge ID...") || !strings.Contains(out, "Exit codes") {
		t.Errorf("help: %d %q", code, out)
	}
	code, out, _ = runHandler(t, settings{}, "help", "replay")
	if code != exitOK || !strings.Contains(out, "Usage: handler replay") {
		t.Errorf("help replay: %d %q", code, out)
	}
	for _, r := range []string{"InvalidMessage", "RetriesExhausted", "GraphRejected"} {
		if !strings.Contains(out, r) {
			t.Errorf("help replay does not list the reason %s", r)
		}
	}
	if code, _, errOut := runHandler(t, settings{}, "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := runHandler(t, settings{}, "purge"); code != exitUsage || !strings.Contains(errOut, "at least one object id") {
		t.Errorf("purge without ids: %d %q", code, errOut)
	}
	if code, _, errOut := runHandler(t, settings{}, "purge", "alice@contoso.com"); code != exitUsage || !strings.Contains(errOut, "not a GUID") {
		t.Errorf("purge of a UPN: %d %q", code, errOut)
	}
	if code, _, errOut := runHandler(t, settings{}, "purge", "--type", "users", uuid.NewString()); code != exitUsage || !strings.Contains(errOut, "--type") {
		t.Errorf("bad --type: %d %q", code, errOut)
	}
	if code, _, errOut := runHandler(t, settings{}, "replay", "--reason", "forbidden"); code != exitUsage || !strings.Contains(errOut, "Forbidden") {
		t.Errorf("bad --reason: %d %q", code, errOut)
	}
}

// A bad setting stops every entry point with exit code 4 and one line naming the setting.
func TestBadSettingExits4(t *testing.T) {
	e := settings{"ServiceBusConnection__fullyQualifiedNamespace": "contoso.servicebus.windows.net", "PURGE_MAX_ATTEMPTS": "lots"}
	for _, args := range [][]string{{}, {"purge", uuid.NewString()}, {"send", uuid.NewString()}, {"failed"}, {"replay"}} {
		code, _, errOut := runHandler(t, e, args...)
		if code != exitConfig || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "PURGE_MAX_ATTEMPTS") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	code, out, _ := runHandler(t, e, "check")
	if code != exitConfig || !strings.Contains(out, "PURGE_MAX_ATTEMPTS") {
		t.Errorf("check: exit %d, stdout %q", code, out)
	}
}

func TestPurgeCommand(t *testing.T) {
	g, e := stack(t)
	user := deletedObject(g, "user", 48*time.Hour)
	group := deletedObject(g, "group", 48*time.Hour)
	never := uuid.NewString()

	code, out, _ := runHandler(t, e, "purge", "--dry-run", user)
	if code != exitOK || !strings.Contains(out, "dry-run") || g.Purged(user) {
		t.Fatalf("dry run: exit %d %q (purged %v)", code, out, g.Purged(user))
	}
	code, out, _ = runHandler(t, e, "purge", "--output", "json", user, never)
	var results []purgeResult
	if err := json.Unmarshal([]byte(out), &results); err != nil || code != exitOK || len(results) != 2 {
		t.Fatalf("purge: exit %d %q %v", code, out, err)
	}
	if results[0].Outcome != "purged" || results[0].GraphStatus != 204 || results[0].ObjectType != "user" || !g.Purged(user) {
		t.Errorf("user: %+v", results[0])
	}
	if results[1].Outcome != "absent" {
		t.Errorf("never-deleted id: %+v (an operator asking now is told at once, no grace)", results[1])
	}
	code, out, _ = runHandler(t, e, "purge", "--type", "group", group)
	if code != exitFailure || !strings.Contains(out, "failed") || g.Purged(group) {
		t.Errorf("group: exit %d %q", code, out)
	}
	code, out, _ = runHandler(t, e, "purge", "--type", "servicePrincipal", deletedObject(g, "user", time.Hour))
	if code != exitFailure || !strings.Contains(out, "expects a servicePrincipal") {
		t.Errorf("type mismatch: exit %d %q", code, out)
	}
}

// A temporary error is reported as retry-later, exit 3, with a description that says when to run again.
func TestPurgeRetryLater(t *testing.T) {
	g, e := stack(t)
	user := deletedObject(g, "user", 48*time.Hour)
	g.Always(user, graphsim.Step{Method: "DELETE", Status: 503})
	code, out, _ := runHandler(t, e, "purge", "--output", "json", user)
	var results []purgeResult
	if err := json.Unmarshal([]byte(out), &results); err != nil || code != exitRetryLater || len(results) != 1 {
		t.Fatalf("exit %d %q %v", code, out, err)
	}
	r := results[0]
	if r.Outcome != "retry-later" || !strings.HasPrefix(r.Description, "Not retried; run again after ") || strings.Count(r.Description, "(") != strings.Count(r.Description, ")") {
		t.Errorf("result %+v", r)
	}
}

// handler sweep --dry-run lists the bin, reports what would be enqueued with a chart, and needs no Service
// Bus; the command line and the retention are checked before anything is done.
func TestSweepCommandDryRun(t *testing.T) {
	g, e := stack(t, "User.Read.All", "Application.Read.All", "Group.Read.All")
	old := deletedObject(g, "user", 9*24*time.Hour)
	deletedObject(g, "user", 24*time.Hour)
	app := deletedObject(g, "application", 20*24*time.Hour)
	deletedObject(g, "group", 20*24*time.Hour)
	delete(e, "ServiceBusConnection")

	code, out, errOut := runHandler(t, e, "sweep", "--dry-run", "--after", "7d")
	if code != exitOK || !strings.Contains(out, "dry run: nothing enqueued") || !strings.Contains(out, "Would enqueue 2 request(s)") ||
		!strings.Contains(out, old) || !strings.Contains(out, app) || !strings.Contains(out, "█") || !strings.Contains(out, "░") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, r := range g.Requests() {
		if strings.Contains(r.Path, "microsoft.graph.group") || r.Method != "GET" {
			t.Errorf("request %s %s", r.Method, r.Path)
		}
	}
	code, out, _ = runHandler(t, e, "sweep", "--dry-run", "--after", "7d", "--output", "json")
	var rep struct {
		Outcome      string `json:"outcome"`
		After        string `json:"after"`
		WouldEnqueue []struct {
			ID, MessageID string
		} `json:"wouldEnqueue"`
		Totals struct{ Listed, Eligible, Enqueued int } `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK || rep.Outcome != "completed" || rep.After != "7d" ||
		len(rep.WouldEnqueue) != 2 || rep.Totals.Listed != 3 || rep.Totals.Eligible != 2 || rep.Totals.Enqueued != 0 {
		t.Fatalf("json: exit %d %v\n%s", code, err, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sweep", "--dry-run"}, exitUsage, "give --after"},
		{[]string{"sweep", "--after", "12h", "--dry-run"}, exitUsage, "at least 1d"},
		{[]string{"sweep", "--after", "forever"}, exitUsage, "--after"},
		{[]string{"sweep", "--after", "7d", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"sweep", "--after", "7d"}, exitConfig, "ServiceBusConnection__fullyQualifiedNamespace"},
	} {
		code, _, errOut := runHandler(t, e, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q", tc.args, code, errOut)
		}
	}
}

// A real run against a namespace that refuses connections stops before listing anything, exit 3.
func TestSweepCommandUnreachableBus(t *testing.T) {
	g, e := stack(t)
	deletedObject(g, "user", 9*24*time.Hour)
	e["PURGE_SWEEP_AFTER"] = "7d"
	code, _, errOut := runHandler(t, e, "sweep", "--wait", "2s")
	if code != exitRetryLater || !strings.Contains(errOut, "cannot reach Service Bus") || len(g.Requests()) != 0 {
		t.Errorf("exit %d %q, %d Graph requests", code, errOut, len(g.Requests()))
	}
}
