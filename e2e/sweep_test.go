package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	msg "github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// lines keeps the handler's JSON log lines, for the sweep's summary lines and the purge lines.
type lines struct {
	io.Writer // the handler's stdout
	mu        sync.Mutex
	all       []map[string]any
}

func newLines() *lines {
	l := &lines{}
	l.Writer = syncio.Lines(func(raw []byte) {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			l.mu.Lock()
			l.all = append(l.all, m)
			l.mu.Unlock()
		}
	})
	return l
}

// with returns the lines that have field set.
func (l *lines) with(field string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.all {
		if _, ok := m[field]; ok {
			out = append(out, m)
		}
	}
	return out
}

// poll waits for cond, bounded.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweepBin seeds a recycle bin of several types and ages over more than one page (999 per page) and
// returns the ids the sweep must enqueue, the protected id and the synced user's id.
func sweepBin(g *graphsim.Server) (want []string, protected, synced string) {
	const day = 24 * time.Hour
	now := time.Now()
	obj := func(id, typ string, ago time.Duration) graphsim.Object {
		return graphsim.Object{ID: id, Type: typ, DisplayName: typ + " " + id[:8], DeletedAt: now.Add(-ago)}
	}
	// 1,100 users deleted an hour ago fill the first page and part of the second; the ids sort them.
	var recent []graphsim.Object
	for i := range 1100 {
		recent = append(recent, obj(fmt.Sprintf("5%07d-0000-4000-8000-000000000000", i), "user", time.Hour))
	}
	g.Add(recent...)
	yes := true
	syncedUser := obj("00000003-0000-4000-8000-000000000000", "user", 10*day)
	syncedUser.OnPremisesSyncEnabled = &yes
	g.Add(
		obj("00000001-0000-4000-8000-000000000000", "user", 8*day),  // first page: enqueued
		obj("f0000001-0000-4000-8000-000000000000", "user", 9*day),  // second page: enqueued
		obj("00000002-0000-4000-8000-000000000000", "user", 12*day), // protected: skipped
		obj("00000004-0000-4000-8000-000000000000", "user", 6*day),  // not yet past 7 days
		syncedUser, // enqueued, then refused by the purge path
		obj("a0000001-0000-4000-8000-000000000000", "application", 15*day),      // enqueued
		obj("b0000001-0000-4000-8000-000000000000", "servicePrincipal", 20*day), // enqueued
		obj("c0000001-0000-4000-8000-000000000000", "group", 20*day),            // never listed
		obj("d0000001-0000-4000-8000-000000000000", "administrativeUnit", 20*day),
	)
	want = []string{"00000001-0000-4000-8000-000000000000", "00000003-0000-4000-8000-000000000000", "a0000001-0000-4000-8000-000000000000",
		"b0000001-0000-4000-8000-000000000000", "f0000001-0000-4000-8000-000000000000"}
	return want, "00000002-0000-4000-8000-000000000000", syncedUser.ID
}

// The timer fires under the host stand-in: exactly the objects past PURGE_SWEEP_AFTER and not protected
// are enqueued once, over two pages of users, and purged by the normal path (the synced user refused by
// it); a throttled list call is retried after its Retry-After; groups and administrative units are never
// listed; a second run the same day enqueues nothing new; and a dry run before it enqueued nothing and
// reported the same set.
func TestSweepUnderTheHost(t *testing.T) {
	s := startStack(t, localstack.Options{})
	want, protected, synced := sweepBin(s.Graph)
	settings := map[string]string{"PURGE_PROTECTED_IDS": protected, "PURGE_SWEEP_AFTER": "7d"}

	// The operator's dry run first: nothing enqueued, the same set reported.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, code := runCmd(ctx, t, withSettings(s, settings), "", "sweep", "--dry-run", "--output", "json")
	var dry struct {
		Outcome      string
		WouldEnqueue []struct{ ID, MessageID string } `json:"wouldEnqueue"`
	}
	if err := json.Unmarshal([]byte(out), &dry); err != nil || code != 0 || dry.Outcome != "completed" {
		t.Fatalf("dry run: exit %d %v\n%s", code, err, out)
	}
	var wouldIDs []string
	for _, o := range dry.WouldEnqueue {
		wouldIDs = append(wouldIDs, o.ID)
	}
	slices.Sort(wouldIDs)
	if !slices.Equal(wouldIDs, want) {
		t.Fatalf("dry run would enqueue %v, want %v", wouldIDs, want)
	}
	c := busClient(t, s)
	if n := len(peek(t, c, "purge-requests")); n != 0 {
		t.Fatalf("the dry run enqueued %d messages", n)
	}

	// Throttle the first application list with a Retry-After too long to wait in-process.
	s.Graph.ScriptList("application", graphsim.Step{Status: 429, RetryAfter: "5"})
	hostSettings := map[string]string{"AzureWebJobs_sweep_Disabled": "false", "PURGE_SWEEP_SCHEDULE": "*/3 * * * * *"}
	for k, v := range settings {
		hostSettings[k] = v
	}
	log := newLines()
	var mu sync.Mutex
	var timerRuns []funchost.Invocation
	runHost(t, hostRoot(t), s, hostSettings, func(inv funchost.Invocation) {
		if inv.Function == "sweep" {
			mu.Lock()
			timerRuns = append(timerRuns, inv)
			mu.Unlock()
		}
	}, log)

	poll(t, 60*time.Second, "two sweep runs", func() bool { return len(log.with("sweep")) >= 2 })
	sweeps := log.with("sweep")
	first := sweeps[0]
	if first["sweep"] != "completed" || first["enqueued"] != 5.0 || first["protected"] != 1.0 || first["eligible"] != 6.0 || first["listed"] != 1107.0 {
		t.Errorf("first run: %v", first)
	}
	types := first["types"].(map[string]any)
	users, apps := types["user"].(map[string]any), types["application"].(map[string]any)
	if users["pages"] != 2.0 || users["enqueued"] != 3.0 || apps["retries"] != 1.0 || apps["enqueued"] != 1.0 {
		t.Errorf("per type: users %v, applications %v", users, apps)
	}
	if _, ok := types["group"]; ok {
		t.Error("groups were listed")
	}

	// The requests end where the purge path puts them: purged, or the synced user on the failure queue.
	day := time.Now().UTC()
	ids := map[string]string{} // MessageId → object
	for _, id := range want {
		ids[msg.SweepMessageID(directory.MustParseObjectID(id), day)] = id
	}
	poll(t, 60*time.Second, "every sweep request to end", func() bool {
		ended := 0
		for _, l := range log.with("outcome") {
			if _, ok := ids[fmt.Sprint(l["originalMessageId"])]; ok && (l["outcome"] == "purged" || l["outcome"] == "failed") {
				ended++
			}
		}
		return ended == len(want)
	})
	for _, id := range want {
		purged := s.Graph.Purged(id)
		if purged == (id == synced) {
			t.Errorf("%s purged %v", id, purged)
		}
	}
	if s.Graph.Purged(protected) || s.Graph.Purged("00000004-0000-4000-8000-000000000000") {
		t.Error("a protected or too recent object was purged")
	}

	// A later run the same day enqueues nothing new: wait for a run that started after every request ended.
	ended := len(log.with("sweep"))
	poll(t, 30*time.Second, "a later sweep run", func() bool { return len(log.with("sweep")) > ended })
	perMessage := map[string]int{}
	for _, l := range log.with("outcome") {
		if l["requestedBy"] != "sweep" {
			t.Errorf("a purge line not from the sweep: %v", l)
		}
		if l["reason"] != "retention" {
			t.Errorf("reason %v", l["reason"])
		}
		perMessage[fmt.Sprint(l["originalMessageId"])]++
	}
	for mid, n := range perMessage {
		if _, ok := ids[mid]; !ok || n != 1 {
			t.Errorf("message %s decided %d times (object %q)", mid, n, ids[mid])
		}
	}
	if len(perMessage) != len(want) {
		t.Errorf("%d requests decided, want %d", len(perMessage), len(want))
	}
	if n := len(peek(t, c, "purge-requests")); n != 0 {
		t.Errorf("%d messages left on the trigger queue", n)
	}
	failed := peek(t, c, "purge-failed")
	if len(failed) != 1 || failed[0].ApplicationProperties["DeadLetterReason"] != "SyncedObject" || failed[0].ApplicationProperties["PurgeObjectId"] != synced {
		t.Errorf("failure queue %v", failed)
	}

	// Listing: groups and administrative units never; the throttled application list retried no sooner
	// than its Retry-After.
	var appLists []graphsim.Request
	for _, r := range s.Graph.Requests() {
		if strings.Contains(r.Path, "microsoft.graph.group") || strings.Contains(r.Path, "microsoft.graph.administrativeUnit") {
			t.Errorf("listed %s", r.Path)
		}
		if r.Op == graphsim.OpList && strings.HasSuffix(r.Path, "microsoft.graph.application") && r.Status != 0 {
			appLists = append(appLists, r)
		}
	}
	if len(appLists) < 4 || appLists[1].Status != 429 || appLists[2].Status != 200 { // [0] is the dry run's
		t.Fatalf("application lists %+v", appLists)
	}
	if gap := appLists[2].Time.Sub(appLists[1].Time); gap < 5*time.Second {
		t.Errorf("the throttled list was retried after %s, sooner than its Retry-After of 5 s", gap)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, inv := range timerRuns {
		if inv.Outcome != funchost.OutcomeSuccess || inv.StatusCode != 200 || len(inv.Logs) != 1 {
			t.Errorf("timer invocation %+v", inv)
		}
	}
	noSecrets(t, s, log.bufAll())
}

// An occurrence missed while no host ran (the recorded next occurrence has passed) is run once at start-up,
// past due; the real handler decodes the host's TimerInfo and says so in its summary line. A disabled sweep
// never runs, whatever its schedule.
func TestSweepPastDueOnStart(t *testing.T) {
	s := startStack(t, localstack.Options{})
	old := deleted("user", 8*24*time.Hour)
	s.Graph.Add(old)
	dir := t.TempDir()
	missed := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	if err := funchost.WriteTimerStatus(dir, "sweep", funchost.TimerStatus{Last: missed.Add(-24 * time.Hour), Next: missed, LastUpdated: missed.Add(-24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Daily at the missed hour, so that only the past-due run happens during the test.
	schedule := fmt.Sprintf("0 0 %d * * *", missed.Hour())
	log := newLines()
	h := startHost(t, funchost.Options{AppRoot: hostRoot(t), Settings: withSettings(s, map[string]string{"AzureWebJobs_sweep_Disabled": "false",
		"PURGE_SWEEP_SCHEDULE": schedule, "PURGE_SWEEP_AFTER": "7d"}), HandlerStdout: log, TimerStatusDir: dir})
	poll(t, 30*time.Second, "the past-due run", func() bool { return len(log.with("sweep")) == 1 })
	line := log.with("sweep")[0]
	if line["isPastDue"] != true || line["sweep"] != "completed" || line["enqueued"] != 1.0 || line["scheduleNext"] != missed.Format(time.RFC3339) {
		t.Errorf("summary %v", line)
	}
	poll(t, 30*time.Second, "the purge", func() bool { return s.Graph.Purged(old.ID) })
	if n := h.Stats().TimerRuns; n != 1 {
		t.Errorf("%d timer runs, want the one past-due run", n)
	}
}

func (l *lines) bufAll() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, _ := json.Marshal(l.all)
	return string(b)
}
