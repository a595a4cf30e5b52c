package localstack

// The demo is `make run`: the whole entra-purge pipeline on one machine. It starts the local stack (the
// Service Bus emulator, the Graph simulator, the managed-identity endpoint), runs the real ./handler under
// the Functions host stand-in exactly as Azure would, seeds the recycle bin, enqueues one message per
// scenario, and follows each message — through its retries — to where it ends.
//
// The demo is also a test (demo_test.go): the table a newcomer sees is the table CI checks.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// Scenario is one demo message and what it must come to.
type Scenario struct {
	Name string
	// Body is the message body sent to the trigger queue.
	Body string
	// Want is the terminal outcome (purged, absent, failed) and, for failures, the reason.
	Want, WantReason string
	// Explain says in a few words what the scenario shows.
	Explain string
}

// Result is where one scenario's message ended.
type Result struct {
	Scenario
	ObjectID string
	Outcome  string
	Reason   string
	Attempts int
	// Path lists the outcomes of every invocation, e.g. "retry-scheduled → purged".
	Path []string
	// EndedIn says where the request ended: the recycle bin emptied, the failure queue, nowhere.
	EndedIn string
	// Description is the last invocation's description.
	Description string
}

// OK reports whether the scenario ended as it should.
func (r Result) OK() bool { return r.Outcome == r.Want && r.Reason == r.WantReason }

// Report is RunDemo's result.
type Report struct {
	Results []Result
	Elapsed time.Duration
	// FailureQueue is what `handler failed` would list at the end.
	FailureQueue []message.FailedMessage
	// Host are the host stand-in's counters (restarts, hangs…).
	Host funchost.Stats
	// Sweep is the retention sweep's summary, in words.
	Sweep string
}

// DemoOptions configure RunDemo.
type DemoOptions struct {
	// AppRoot is the function app root; default: the module root.
	AppRoot string
	// Progress receives one line per invocation and per step; nil discards it.
	Progress io.Writer
	// LogDir receives the full logs (host, handler, stand-ins); empty means a new temporary directory.
	LogDir string
	// Timeout bounds the whole demo; default 90 s.
	Timeout time.Duration
}

// Demo timings: the sample settings are production values (30 s base delay, 15 min grace); the demo
// shortens them so every path, retries included, finishes in well under a minute.
var demoOverrides = map[string]string{
	"PURGE_RETRY_BASE_DELAY": "2s",
	"PURGE_RETRY_MAX_DELAY":  "6s",
	"PURGE_NOT_FOUND_GRACE":  "15s",
	"PURGE_MAX_ATTEMPTS":     "3",
}

// RunDemo runs the demo and returns its report. It stops everything it started before returning.
func RunDemo(ctx context.Context, opts DemoOptions) (*Report, error) {
	start := time.Now()
	if opts.Timeout == 0 {
		opts.Timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	root := opts.AppRoot
	if root == "" {
		var err error
		if root, err = ModuleRoot(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(root, "handler")); err != nil {
		return nil, errors.New("localstack: ./handler is missing; build it first (make build)")
	}
	var progress io.Writer = io.Discard
	if opts.Progress != nil {
		// Progress lines come from the demo and from the handler's output goroutine.
		progress = syncio.Writer(opts.Progress)
	}
	logDir := opts.LogDir
	if logDir == "" {
		var err error
		if logDir, err = os.MkdirTemp("", "entra-purge-demo-"); err != nil {
			return nil, err
		}
	}
	logs, err := openLogs(logDir)
	if err != nil {
		return nil, err
	}
	defer logs.Close()

	// The objects in the recycle bin and the misbehaviour scripted for them.
	objs := newObjects()
	overrides := map[string]string{"PURGE_PROTECTED_IDS": objs.breakGlass.ID}
	for k, v := range demoOverrides {
		overrides[k] = v
	}
	// The retention sweep is enabled, and its last daily occurrence was missed (no host ran), so the host
	// runs it once at start-up, past due, as Azure's would.
	for k, v := range sweepOverrides {
		overrides[k] = v
	}
	timers := filepath.Join(logDir, "timers")
	if err := missedDailyRun(timers, time.Now().UTC()); err != nil {
		return nil, err
	}
	say(progress, start, "starting the Service Bus emulator, Graph simulator and managed-identity endpoint")
	// The stack must outlive an interruption until the host has stopped: the handler's in-flight
	// invocations send to the emulator and the host settles their messages there. So it is not tied
	// to ctx; the deferred Close stops it last.
	stack, err := Start(context.WithoutCancel(ctx), Options{AppRoot: root, Overrides: overrides,
		GraphLog: logs.graph, IdentityLog: logs.identity, BusLog: logs.bus})
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	objs.seed(stack.Graph)
	say(progress, start, "Service Bus emulator (pid %d) on port %d; recycle bin seeded with %d deleted objects at %s; logs in %s",
		stack.Bus.PID(), stack.Bus.Port(), len(objs.all), stack.GraphURL, logDir)

	tracker := newTracker(progress, start)
	host, err := funchost.New(funchost.Options{
		AppRoot: root, Settings: stack.Settings,
		Stdout: logs.host, Stderr: logs.host,
		HandlerStdout: io.MultiWriter(logs.handler, tracker), HandlerStderr: logs.handler,
		// Stopping (at the end, or on Ctrl-C) takes seconds, not the host's 30 s: in-flight
		// invocations get 2 s, then are abandoned (their messages are in the emulator, which stops
		// next), and the handler is killed.
		DrainTimeout:   2 * time.Second,
		TimerStatusDir: timers,
	})
	if err != nil {
		return nil, err
	}
	hostCtx, stopHost := context.WithCancel(ctx)
	hostDone := make(chan error, 1)
	go func() { hostDone <- host.Run(hostCtx) }()
	defer func() {
		stopHost()
		select {
		case <-hostDone:
		case <-time.After(30 * time.Second):
		}
	}()
	if err := host.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("localstack: the handler did not become ready: %w", err)
	}
	say(progress, start, "Functions host stand-in running ./handler (pid %d) on %s", host.HandlerPID(), stack.Settings["PURGE_QUEUE_NAME"])

	scenarios := objs.scenarios()
	client, err := azservicebus.NewClientFromConnectionString(stack.Bus.ConnectionString(), nil)
	if err != nil {
		return nil, err
	}
	defer client.Close(context.Background())
	sender, err := client.NewSender(stack.Settings["PURGE_QUEUE_NAME"], nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(scenarios))
	for i, sc := range scenarios {
		ids[i] = fmt.Sprintf("demo-%d-%s", i+1, slug(sc.Name))
		ct := "application/json"
		if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte(sc.Body), MessageID: &ids[i], ContentType: &ct}, nil); err != nil {
			return nil, fmt.Errorf("localstack: enqueueing %s: %w", sc.Name, err)
		}
	}
	_ = sender.Close(ctx)
	say(progress, start, "enqueued %d purge requests; following each to where it ends", len(scenarios))

	// The sweep's requests, once its summary line says which day their ids are for.
	sum, err := tracker.waitSweep(ctx)
	if err != nil {
		return nil, err
	}
	swept := objs.swept()
	for _, sc := range swept {
		id, err := directory.ParseObjectID(sc.ObjectID)
		if err != nil {
			return nil, err
		}
		ids = append(ids, message.SweepMessageID(id, sum.day))
		scenarios = append(scenarios, sc.Scenario)
	}
	if err := tracker.waitTerminal(ctx, ids); err != nil {
		return nil, err
	}
	report := &Report{Elapsed: time.Since(start), Host: host.Stats(), Sweep: sum.line}
	bc, err := bus.NewClient(stack.Bus.ConnectionString(), "", nil, nil)
	if err != nil {
		return nil, err
	}
	defer bc.Close(context.Background())
	peeked, err := bc.Peek(ctx, stack.Settings["PURGE_FAILED_QUEUE_NAME"], 100)
	if err != nil {
		return nil, err
	}
	for _, d := range peeked {
		report.FailureQueue = append(report.FailureQueue, d.Failed())
	}
	failed := map[string]message.FailedMessage{}
	for _, f := range report.FailureQueue {
		failed[f.OriginalMessageID] = f
	}
	for i, sc := range scenarios {
		r := tracker.result(ids[i])
		r.Scenario = sc
		switch r.Outcome {
		case "purged":
			if stack.Graph.Purged(r.ObjectID) {
				r.EndedIn = "purged from the recycle bin"
			} else {
				r.EndedIn = "NOT purged (simulator disagrees)"
			}
		case "absent":
			r.EndedIn = "nothing to purge (logged)"
		case "failed":
			if f, ok := failed[ids[i]]; ok {
				r.EndedIn = "failure queue: " + string(f.Reason)
			} else {
				r.EndedIn = "NOT on the failure queue"
			}
		}
		report.Results = append(report.Results, r)
	}
	return report, nil
}

// PrintTable writes the final table.
func (r *Report) PrintTable(w io.Writer) {
	fmt.Fprintf(w, "\n%-3s %-30s %-16s %-9s %s\n", "#", "SCENARIO", "OUTCOME", "ATTEMPTS", "ENDED IN")
	for i, res := range r.Results {
		mark := "✓"
		if !res.OK() {
			mark = "✗ expected " + res.Want + " " + res.WantReason
		}
		fmt.Fprintf(w, "%-3d %-30s %-16s %-9d %s %s\n", i+1, res.Name, res.Outcome, res.Attempts, res.EndedIn, mark)
		fmt.Fprintf(w, "    %s — path: %s\n", res.Explain, strings.Join(res.Path, " → "))
	}
	fmt.Fprintf(w, "\nRetention sweep (rows 11–12): %s\n", r.Sweep)
	fmt.Fprintf(w, "%d requests in %s; failure queue holds %d; handler restarts %d, hung answers %d.\n",
		len(r.Results), r.Elapsed.Round(100*time.Millisecond), len(r.FailureQueue), r.Host.Restarts, r.Host.Hangs)
}

// OK reports whether every scenario ended as expected.
func (r *Report) OK() bool {
	for _, res := range r.Results {
		if !res.OK() {
			return false
		}
	}
	return true
}

func say(w io.Writer, start time.Time, format string, args ...any) {
	fmt.Fprintf(w, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func slug(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// objects are the demo's recycle bin.
type objects struct {
	leaver, lagging, throttledApp, flaky, synced, breakGlass, group, adminGroup graphsim.Object
	// Found by the retention sweep: deleted by hand and never requested, one of them too recently.
	forgotten, removedApp, recentByHand graphsim.Object
	absentID                            string
	all                                 []graphsim.Object
}

func newObjects() *objects {
	user := func(name string, ago time.Duration) graphsim.Object {
		id := uuid.NewString()
		return graphsim.Object{ID: id, Type: "user", DisplayName: name, UserPrincipalName: slug(name) + "@contoso.example", DeletedAt: time.Now().Add(-ago)}
	}
	o := &objects{
		leaver:     user("Ada Leaver", 48*time.Hour),
		lagging:    user("Just Deleted", 0),
		flaky:      user("Unlucky Leaver", 72*time.Hour),
		synced:     user("Synced From AD", 24*time.Hour),
		breakGlass: user("Break Glass Admin", 24*time.Hour),
		absentID:   uuid.NewString(),
	}
	o.lagging.LagReads = 1 // the soft delete has not replicated yet: one 404, then visible
	yes := true
	o.synced.OnPremisesSyncEnabled = &yes
	o.throttledApp = graphsim.Object{ID: uuid.NewString(), Type: "application", DisplayName: "Old Integration", DeletedAt: time.Now().Add(-96 * time.Hour)}
	o.group = graphsim.Object{ID: uuid.NewString(), Type: "group", DisplayName: "Project Team", DeletedAt: time.Now().Add(-24 * time.Hour)}
	o.adminGroup = graphsim.Object{ID: uuid.NewString(), Type: "group", DisplayName: "Finance Team", DeletedAt: time.Now().Add(-24 * time.Hour)}
	o.forgotten = user("Forgotten Leaver", 9*24*time.Hour)
	o.removedApp = graphsim.Object{ID: uuid.NewString(), Type: "application", DisplayName: "Removed In Portal", DeletedAt: time.Now().Add(-12 * 24 * time.Hour)}
	o.recentByHand = user("Deleted By Hand", 2*24*time.Hour)
	o.all = []graphsim.Object{o.leaver, o.lagging, o.throttledApp, o.flaky, o.synced, o.breakGlass, o.group, o.adminGroup,
		o.forgotten, o.removedApp, o.recentByHand}
	return o
}

// sweptScenario is a row the retention sweep's request fills: its object id is known, its message id only
// once the sweep says for which day.
type sweptScenario struct {
	Scenario
	ObjectID string
}

func (o *objects) swept() []sweptScenario {
	return []sweptScenario{
		{Scenario{Name: "swept: deleted by hand 9 d ago", Want: "purged", Explain: "never requested; the sweep enqueued it (past PURGE_SWEEP_AFTER=7d)"}, o.forgotten.ID},
		{Scenario{Name: "swept: app removed 12 d ago", Want: "purged", Explain: "an application removed in the portal, found by the sweep"}, o.removedApp.ID},
	}
}

// Settings of the sweep in the demo: enabled, daily at 03:00 UTC (the sample's schedule), 7 days.
var sweepOverrides = map[string]string{
	"AzureWebJobs_sweep_Disabled": "false",
	"PURGE_SWEEP_SCHEDULE":        "0 0 3 * * *",
	"PURGE_SWEEP_AFTER":           "7d",
}

// missedDailyRun records the sweep's schedule status as a host that stopped before today's (or
// yesterday's) 03:00 run would have left it, so the host stand-in runs it at start-up, past due.
func missedDailyRun(dir string, now time.Time) error {
	missed := now.Truncate(24 * time.Hour).Add(3 * time.Hour)
	if !missed.Before(now) {
		missed = missed.Add(-24 * time.Hour)
	}
	last := missed.Add(-24 * time.Hour)
	return funchost.WriteTimerStatus(dir, "sweep", funchost.TimerStatus{Last: last, Next: missed, LastUpdated: last.Add(2 * time.Second)})
}

func (o *objects) seed(g *graphsim.Server) {
	g.Add(o.all...)
	// Throttled: one 429 whose Retry-After is too long to wait in-process, so a retry is scheduled.
	g.Script(o.throttledApp.ID, graphsim.Step{Method: "DELETE", Status: 429, RetryAfter: "5"})
	// Graph keeps failing for this one.
	g.Always(o.flaky.ID, graphsim.Step{Method: "DELETE", Status: 503})
}

func (o *objects) scenarios() []Scenario {
	req := func(id, typ string) string {
		if typ == "" {
			return `{"id":"` + id + `","reason":"leaver","requestedBy":"make-run"}`
		}
		return `{"id":"` + id + `","type":"` + typ + `","reason":"leaver","requestedBy":"make-run"}`
	}
	return []Scenario{
		{Name: "purged", Body: req(o.leaver.ID, "user"), Want: "purged", Explain: "a user deleted two days ago: GET, then DELETE 204"},
		{Name: "replication lag, then purged", Body: req(o.lagging.ID, ""), Want: "purged", Explain: "just soft-deleted: 404 at first, retried within PURGE_NOT_FOUND_GRACE"},
		{Name: "throttled, then purged", Body: req(o.throttledApp.ID, "application"), Want: "purged", Explain: "429 with Retry-After 5 s: scheduled copy, then 204"},
		{Name: "already absent", Body: o.absentID, Want: "absent", Explain: "not in the recycle bin: 404 until the grace ends, then a warning"},
		{Name: "invalid message", Body: "ada.leaver@contoso.example", Want: "failed", WantReason: "InvalidMessage", Explain: "a UPN, not an object id: no Graph call"},
		{Name: "forbidden group", Body: req(o.adminGroup.ID, ""), Want: "failed", WantReason: "Forbidden", Explain: "the identity may not read groups (least privilege): 403"},
		{Name: "group refused by type", Body: req(o.group.ID, "group"), Want: "failed", WantReason: "TypeNotAllowed", Explain: "groups cannot be purged app-only: refused before any DELETE"},
		{Name: "protected id", Body: req(o.breakGlass.ID, "user"), Want: "failed", WantReason: "Protected", Explain: "listed in PURGE_PROTECTED_IDS: never sent to Graph"},
		{Name: "synced user", Body: req(o.synced.ID, "user"), Want: "failed", WantReason: "SyncedObject", Explain: "synced from on-premises: a re-sync would bring it back"},
		{Name: "retries exhausted", Body: req(o.flaky.ID, "user"), Want: "failed", WantReason: "RetriesExhausted", Explain: "503 on every attempt: PURGE_MAX_ATTEMPTS copies, then the failure queue"},
	}
}

// tracker reads the handler's JSON log lines and follows each request by its original message id.
type tracker struct {
	progress io.Writer
	start    time.Time

	mu      sync.Mutex
	buf     []byte
	results map[string]*Result
	sweep   *sweepSeen
	changed chan struct{}
}

// sweepSeen is the sweep's summary line: the day of its request ids and the run in words.
type sweepSeen struct {
	day  time.Time
	line string
}

func newTracker(progress io.Writer, start time.Time) *tracker {
	return &tracker{progress: progress, start: start, results: map[string]*Result{}, changed: make(chan struct{}, 1)}
}

// Write receives the handler's stdout, in arbitrary chunks.
func (t *tracker) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	var lines [][]byte
	for {
		i := strings.IndexByte(string(t.buf), '\n')
		if i < 0 {
			break
		}
		lines = append(lines, append([]byte(nil), t.buf[:i]...))
		t.buf = t.buf[i+1:]
	}
	t.mu.Unlock()
	for _, l := range lines {
		t.line(l)
	}
	return len(p), nil
}

func (t *tracker) line(l []byte) {
	var sw struct {
		Sweep                                 string
		IsPastDue                             bool
		Day                                   string
		Listed, Eligible, Protected, Enqueued int
		After                                 string
	}
	if json.Unmarshal(l, &sw) == nil && sw.Sweep != "" {
		day, _ := time.Parse(time.DateOnly, sw.Day)
		words := fmt.Sprintf("%s (past due at start-up: %v): %d listed, %d deleted more than %s ago, %d protected, %d enqueued",
			sw.Sweep, sw.IsPastDue, sw.Listed, sw.Eligible, sw.After, sw.Protected, sw.Enqueued)
		t.mu.Lock()
		t.sweep = &sweepSeen{day: day, line: words}
		t.mu.Unlock()
		say(t.progress, t.start, "retention sweep %s", words)
		select {
		case t.changed <- struct{}{}:
		default:
		}
		return
	}
	var ev struct {
		Outcome           string `json:"outcome"`
		DeadLetterReason  string `json:"deadLetterReason"`
		ObjectID          string `json:"objectId"`
		OriginalMessageID string `json:"originalMessageId"`
		Attempt           int    `json:"attempt"`
		GraphStatus       int    `json:"graphStatus"`
		Description       string `json:"description"`
	}
	if json.Unmarshal(l, &ev) != nil || ev.Outcome == "" {
		return
	}
	t.mu.Lock()
	r, ok := t.results[ev.OriginalMessageID]
	if !ok {
		r = &Result{}
		t.results[ev.OriginalMessageID] = r
	}
	r.ObjectID, r.Outcome, r.Reason, r.Attempts, r.Description = ev.ObjectID, ev.Outcome, ev.DeadLetterReason, ev.Attempt, ev.Description
	r.Path = append(r.Path, ev.Outcome)
	t.mu.Unlock()
	graph := "no Graph call"
	if ev.GraphStatus != 0 {
		graph = fmt.Sprintf("Graph %d", ev.GraphStatus)
	}
	what := ev.Outcome
	if ev.DeadLetterReason != "" {
		what += " (" + ev.DeadLetterReason + ")"
	}
	say(t.progress, t.start, "%-40s attempt %d: %-28s %s", ev.OriginalMessageID, ev.Attempt, what, graph)
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func terminal(outcome string) bool {
	return outcome == "purged" || outcome == "absent" || outcome == "failed" || outcome == "dry-run"
}

// waitTerminal waits until every id reached a terminal outcome, or ctx ends.
func (t *tracker) waitTerminal(ctx context.Context, ids []string) error {
	for {
		t.mu.Lock()
		var pending []string
		for _, id := range ids {
			if r, ok := t.results[id]; !ok || !terminal(r.Outcome) {
				pending = append(pending, id)
			}
		}
		t.mu.Unlock()
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-t.changed:
		case <-ctx.Done():
			sort.Strings(pending)
			return fmt.Errorf("localstack: still waiting for %s: %w", strings.Join(pending, ", "), ctx.Err())
		}
	}
}

// waitSweep waits for the sweep's summary line.
func (t *tracker) waitSweep(ctx context.Context) (sweepSeen, error) {
	for {
		t.mu.Lock()
		sw := t.sweep
		t.mu.Unlock()
		if sw != nil {
			return *sw, nil
		}
		select {
		case <-t.changed:
		case <-ctx.Done():
			return sweepSeen{}, fmt.Errorf("localstack: still waiting for the retention sweep's run: %w", ctx.Err())
		}
	}
}

func (t *tracker) result(id string) Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.results[id]; ok {
		return *r
	}
	return Result{}
}

// logFiles are the demo's full logs, one file per component.
type logFiles struct {
	host, handler, graph, identity, bus *os.File
}

func openLogs(dir string) (*logFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &logFiles{}
	for name, dst := range map[string]**os.File{"host.log": &l.host, "handler.log": &l.handler, "graph.log": &l.graph, "identity.log": &l.identity, "servicebus.log": &l.bus} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			l.Close()
			return nil, err
		}
		*dst = f
	}
	return l, nil
}

func (l *logFiles) Close() {
	for _, f := range []*os.File{l.host, l.handler, l.graph, l.identity, l.bus} {
		if f != nil {
			_ = f.Close()
		}
	}
}
