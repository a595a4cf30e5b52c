package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/identity"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/sbemu"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// Options configure Run. Zero values take the defaults of `make chaos`.
type Options struct {
	// Requests is how many original requests are sent (default 2,000), evenly over Duration (default 150 s),
	// during which the faults happen.
	Requests int
	Duration time.Duration
	// Seed draws the requests and the fault schedule: the same seed, the same run plan (default 1).
	Seed uint64
	// Mix is how many faults of each kind the schedule holds (default DefaultMix).
	Mix Mix
	// Handler is the built handler executable; default ./handler under the module root (make build).
	Handler string
	// LogDir receives every output of the run; default a new temporary directory.
	LogDir string
	// Progress receives a line per step and fault; nil discards them.
	Progress io.Writer
	// Timeout bounds the whole run; default Duration + 5 minutes.
	Timeout time.Duration
}

// Settings the run gives the handler on top of the sample settings: a short invocation deadline (so that a
// call that never answers is ended by it), fast retries and a short not-found grace (so that every request
// ends within minutes), and enough attempts that the faults cannot exhaust a purgeable request.
var runSettings = map[string]string{
	"PURGE_INVOCATION_TIMEOUT": "5s",
	"PURGE_RETRY_BASE_DELAY":   "1s",
	"PURGE_RETRY_MAX_DELAY":    "8s",
	"PURGE_MAX_ATTEMPTS":       "10",
	"PURGE_NOT_FOUND_GRACE":    "10s",
}

// runner is one run in progress.
type runner struct {
	opts     Options
	start    time.Time
	t0       time.Time // when the first request was sent: the schedule's origin
	progress io.Writer
	stack    *localstack.Stack
	appRoot  string

	bus      *busLog
	handler  *handlerLog
	tokens   *tokenLog
	invs     *invocations
	hostLog  io.Writer
	handOut  io.Writer
	handErr  io.Writer
	settings map[string]string
	faults   []Fault // the schedule, as planned

	mu        sync.Mutex
	host      *funchost.Host
	instances int
	stats     []funchost.Stats
	kills     []KillRecord
	hostErr   error
}

// KillRecord is one SIGKILL of the handler.
type KillRecord struct {
	Kind FaultKind `json:"kind"`
	At   Seconds   `json:"at"`
	PID  int       `json:"pid"`
	// Queue and MessageID name the copy that had reached Service Bus, unacknowledged, when the handler was
	// killed (kills after a copy).
	Queue     string `json:"queue,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	// Broken counts the invocations the kill cut short (the host saw the connection drop and abandoned them).
	Broken int `json:"broken"`
	// SentAgain is true when the redelivered message sent the same copy again and duplicate detection
	// dropped it.
	SentAgain bool `json:"sentAgain,omitempty"`
}

// Run runs the chaos: the local stack, the real handler under the host stand-in, the requests and the faults
// of the plan; it waits until every request has ended, then draws up the ledger. An error means the run
// could not be carried out; violations of the ledger are in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Requests <= 0 {
		opts.Requests = 2000
	}
	if opts.Duration <= 0 {
		opts.Duration = 150 * time.Second
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Mix == (Mix{}) {
		opts.Mix = DefaultMix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = opts.Duration + 5*time.Minute
	}
	r := &runner{opts: opts, start: time.Now(), progress: io.Discard, bus: newBusLog(), handler: &handlerLog{}, tokens: &tokenLog{}, invs: &invocations{}}
	if opts.Progress != nil {
		r.progress = syncio.Writer(opts.Progress)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	root, err := localstack.ModuleRoot()
	if err != nil {
		return nil, err
	}
	handlerBin := opts.Handler
	if handlerBin == "" {
		handlerBin = filepath.Join(root, "handler")
	}
	if _, err := os.Stat(handlerBin); err != nil {
		return nil, fmt.Errorf("chaos: the handler executable %s is missing; build it first (make build)", handlerBin)
	}
	logDir := opts.LogDir
	if logDir == "" {
		if logDir, err = os.MkdirTemp("", "entra-purge-chaos-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	files, err := openFiles(logDir)
	if err != nil {
		return nil, err
	}
	defer files.close()
	r.hostLog, r.handErr = syncio.Writer(files["host.log"]), syncio.Writer(files["handler.stderr.log"])
	r.handOut = teeLines(files["handler.stdout.log"], r.handler.line)

	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed*0x9e3779b97f4a7c15+1))
	reqs := planRequests(opts.Requests, rng)
	faults, err := planFaults(opts.Duration, opts.Mix, rng)
	if err != nil {
		return nil, err
	}
	if r.appRoot, err = appRoot(root, handlerBin); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.appRoot)

	var protected []string
	for _, q := range reqs {
		if q.Kind == Protected {
			protected = append(protected, q.ObjectID)
		}
	}
	overrides := map[string]string{"PURGE_PROTECTED_IDS": strings.Join(protected, ",")}
	for k, v := range runSettings {
		overrides[k] = v
	}
	r.say("seed %d: %d requests over %s, %d faults; logs in %s", opts.Seed, len(reqs), opts.Duration, len(faults), logDir)
	// The stack outlives ctx until the hosts have stopped: their last invocations send to the emulator.
	// The trigger queue's lock is 10 s rather than infra's minute (still longer than the invocation deadline,
	// as infra requires): a message handed to a receiver that is closing — a host instance stopping after its
	// third worker error — stays locked until its lock expires, as on the real service, and comes back then.
	sample, err := localstack.SampleSettings(root)
	if err != nil {
		return nil, err
	}
	queues := sbemu.PurgeQueues(orDefault(sample["PURGE_QUEUE_NAME"], "purge-requests"), orDefault(sample["PURGE_FAILED_QUEUE_NAME"], "purge-failed"))
	queues[0].LockDuration = 10 * time.Second
	r.stack, err = localstack.Start(context.WithoutCancel(ctx), localstack.Options{AppRoot: root, Overrides: overrides, Queues: queues,
		GraphLog: syncio.Writer(files["graph.log"]), IdentityLog: teeLines(files["identity.log"], r.tokens.line),
		BusLog: teeLines(files["servicebus.log"], r.bus.line)})
	if err != nil {
		return nil, err
	}
	defer r.stack.Close()
	r.settings = r.stack.Settings
	r.seedGraph(reqs)

	hostCtx, stopHosts := context.WithCancel(context.WithoutCancel(ctx))
	hostsDone := make(chan struct{})
	go func() { defer close(hostsDone); r.runHosts(hostCtx) }()
	defer func() { stopHosts(); <-hostsDone }()
	if _, err := r.handlerPID(ctx); err != nil {
		return nil, fmt.Errorf("chaos: the handler did not become ready: %w", err)
	}

	client, err := azservicebus.NewClientFromConnectionString(r.stack.Bus.ConnectionString(), nil)
	if err != nil {
		return nil, err
	}
	defer client.Close(context.Background())

	r.faults = append([]Fault(nil), faults...)
	r.t0 = time.Now()
	var wg sync.WaitGroup
	sendErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); sendErr <- r.send(ctx, client, reqs) }()
	for i := range faults {
		wg.Add(1)
		go func() { defer wg.Done(); r.inject(ctx, &faults[i]) }()
	}
	wg.Wait()
	if err := <-sendErr; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("chaos: the run did not finish within %s: %w", opts.Timeout, err)
	}
	r.say("every request sent and every fault over; waiting until every request has ended")
	if err := r.quiesce(ctx, client); err != nil {
		return nil, err
	}
	stopHosts()
	<-hostsDone
	if r.hostErr != nil {
		return nil, r.hostErr
	}
	r.say("every request ended; drawing up the ledger")
	return r.report(ctx, client, reqs, faults, files, logDir)
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.progress, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// since is a time on the schedule's clock.
func (r *runner) since(t time.Time) Seconds { return Seconds(t.Sub(r.t0)) }

// openFiles creates the run's log files in dir.
func openFiles(dir string) (logFiles, error) {
	f := logFiles{}
	for _, name := range []string{"host.log", "handler.stdout.log", "handler.stderr.log", "graph.log", "identity.log", "servicebus.log"} {
		file, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			f.close()
			return nil, err
		}
		f[name] = file
	}
	return f, nil
}

type logFiles map[string]*os.File

func (f logFiles) close() {
	for _, file := range f {
		_ = file.Close()
	}
}

// appRoot makes the function app the host runs, as `make package` ships it: host.json, every
// <function>/function.json, the handler; and the sample settings (which leave the retention sweep disabled).
func appRoot(root, handlerBin string) (string, error) {
	dir, err := os.MkdirTemp("", "entra-purge-chaos-app-")
	if err != nil {
		return "", err
	}
	copyFile := func(src, dst string, mode os.FileMode) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, mode)
	}
	files := []string{"host.json", "local.settings.sample.json"}
	functions, err := filepath.Glob(filepath.Join(root, "*", "function.json"))
	if err != nil || len(functions) == 0 {
		os.RemoveAll(dir)
		return "", fmt.Errorf("chaos: no <function>/function.json in %s", root)
	}
	for _, f := range functions {
		rel, _ := filepath.Rel(root, f)
		files = append(files, rel)
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(root, f), filepath.Join(dir, f), 0o644); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	if err := copyFile(handlerBin, filepath.Join(dir, "handler"), 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// seedGraph puts the purgeable users in the recycle bin, and the protected ids and the ids invalid bodies
// mention too, so that a call that must never happen would succeed and show.
func (r *runner) seedGraph(reqs []Request) {
	deleted := time.Now().Add(-48 * time.Hour)
	user := func(id string) graphsim.Object {
		return graphsim.Object{ID: id, Type: "user", DisplayName: "Chaos " + id[:8], UserPrincipalName: id[:8] + "@contoso.example", DeletedAt: deleted}
	}
	var objs []graphsim.Object
	for _, q := range reqs {
		switch q.Kind {
		case Purgeable, Protected:
			objs = append(objs, user(q.ObjectID))
		case Invalid:
			for _, b := range q.Bait {
				objs = append(objs, user(b))
			}
		}
	}
	r.stack.Graph.Add(objs...)
}

// runHosts runs host stand-ins until ctx ends. The host shuts down after its third worker error within 30
// minutes — every kill is one — and then, as the platform does in Azure, a new host instance starts.
func (r *runner) runHosts(ctx context.Context) {
	for ctx.Err() == nil {
		h, err := funchost.New(funchost.Options{AppRoot: r.appRoot, Settings: r.settings,
			Stdout: r.hostLog, Stderr: r.hostLog, HandlerStdout: r.handOut, HandlerStderr: r.handErr,
			DrainTimeout: 5 * time.Second, OnInvocation: r.invs.add})
		if err != nil {
			r.mu.Lock()
			r.hostErr = err
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		r.host = h
		r.instances++
		n := r.instances
		r.mu.Unlock()
		if n > 1 {
			r.say("host instance %d starts (the previous one shut down after three worker errors, as the real host does)", n)
		}
		err = h.Run(ctx)
		r.mu.Lock()
		r.stats = append(r.stats, h.Stats())
		r.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, funchost.ErrWorkerErrors) {
			r.mu.Lock()
			r.hostErr = fmt.Errorf("chaos: the host stopped: %v", err)
			r.mu.Unlock()
			return
		}
	}
}

// handlerPID waits until the current host has a ready handler and returns its pid.
func (r *runner) handlerPID(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		r.mu.Lock()
		h, err := r.host, r.hostErr
		r.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if h != nil {
			wctx, wcancel := context.WithTimeout(ctx, time.Second)
			werr := h.WaitReady(wctx)
			wcancel()
			if pid := h.HandlerPID(); werr == nil && pid != 0 {
				return pid, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// send enqueues the requests evenly over the run's duration.
func (r *runner) send(ctx context.Context, client *azservicebus.Client, reqs []Request) error {
	sender, err := client.NewSender(r.settings["PURGE_QUEUE_NAME"], nil)
	if err != nil {
		return err
	}
	defer sender.Close(context.Background())
	every := r.opts.Duration / time.Duration(len(reqs))
	for i, q := range reqs {
		if !sleepUntil(ctx, r.t0.Add(time.Duration(i)*every)) {
			return ctx.Err()
		}
		m := &azservicebus.Message{MessageID: &q.MessageID, Body: []byte(q.Body)}
		if strings.HasPrefix(q.Body, "{") {
			ct := "application/json"
			m.ContentType = &ct
		}
		if err := sender.SendMessage(ctx, m, nil); err != nil {
			return fmt.Errorf("chaos: enqueueing %s: %w", q.MessageID, err)
		}
		if (i+1)%(max(1, len(reqs)/10)) == 0 {
			r.say("%d of %d requests sent", i+1, len(reqs))
		}
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// inject carries out one fault of the schedule.
func (r *runner) inject(ctx context.Context, f *Fault) {
	if !sleepUntil(ctx, r.t0.Add(f.At)) {
		return
	}
	g := r.stack.Graph
	window := func(on, off func()) {
		on()
		sleepUntil(ctx, r.t0.Add(f.At+f.For))
		off()
	}
	switch f.Kind {
	case GraphThrottle:
		r.say("%s for %s: every Graph call is answered 429 with Retry-After: 2, then every purge", f.Kind, f.For)
		g.Always(graphsim.AnyObject, graphsim.Step{Status: 429, RetryAfter: "2"})
		sleepUntil(ctx, r.t0.Add(f.At+f.For/2))
		g.Always(graphsim.AnyObject, graphsim.Step{Method: "DELETE", Status: 429, RetryAfter: "2"})
		sleepUntil(ctx, r.t0.Add(f.At+f.For))
		g.ClearAlways(graphsim.AnyObject)
	case GraphErrors:
		r.say("%s for %s: every Graph call is answered %v, a second each", f.Kind, f.For, f.Statuses)
		for i, st := range f.Statuses {
			sleepUntil(ctx, r.t0.Add(f.At+time.Duration(i)*burstStep))
			g.Always(graphsim.AnyObject, graphsim.Step{Status: st})
		}
		sleepUntil(ctx, r.t0.Add(f.At+f.For))
		g.ClearAlways(graphsim.AnyObject)
	case GraphHang:
		r.say("%s: the next Graph call answers only after %s", f.Kind, f.Delay)
		g.Script(graphsim.AnyObject, graphsim.Step{Delay: f.Delay})
	case GraphSilent:
		r.say("%s: the next Graph call never answers", f.Kind)
		g.Script(graphsim.AnyObject, graphsim.Step{Delay: f.Delay})
	case FailureQueueUnreachable, FailureQueueMissing:
		state := sbemu.EntityUnreachable
		if f.Kind == FailureQueueMissing {
			state = sbemu.EntityMissing
		}
		queue := r.settings["PURGE_FAILED_QUEUE_NAME"]
		r.say("%s for %s", f.Kind, f.For)
		window(func() {
			r.admin(ctx, func(c context.Context) error { return r.stack.Bus.SetEntityState(c, queue, state) })
		},
			func() {
				r.admin(ctx, func(c context.Context) error { return r.stack.Bus.SetEntityState(c, queue, sbemu.EntityActive) })
			})
	case Kill, KillInStorm:
		r.kill(ctx, f.Kind, "", "")
	case IdentityDown:
		r.say("%s from a kill on, until %s after the new handler process was first refused a token", f.Kind, f.For)
		r.stack.Identity.SetFailing(503)
		r.kill(ctx, IdentityDown, "", "")
		refused := r.stack.Identity.Calls()
		start := time.Now()
		for r.stack.Identity.Calls() == refused && time.Since(start) < identityPatience && sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
		}
		sleepUntil(ctx, time.Now().Add(f.For))
		r.stack.Identity.SetFailing(0)
		f.For = time.Since(r.t0.Add(f.At)) // what it lasted, for the report
	case KillAfterFailureCopy, KillAfterRetryCopy:
		r.killAfterCopy(ctx, f)
	}
}

// admin runs an emulator admin command, bounded; a failure is the run's.
func (r *runner) admin(ctx context.Context, fn func(context.Context) error) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := fn(c); err != nil {
		r.mu.Lock()
		if r.hostErr == nil {
			r.hostErr = fmt.Errorf("chaos: emulator admin command: %w", err)
		}
		r.mu.Unlock()
	}
}

// kill SIGKILLs the current handler.
func (r *runner) kill(ctx context.Context, kind FaultKind, queue, messageID string) {
	pid, err := r.handlerPID(ctx)
	if err != nil {
		r.say("%s: no handler to kill: %v", kind, err)
		return
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		r.say("%s: killing pid %d: %v", kind, pid, err)
		return
	}
	r.mu.Lock()
	r.kills = append(r.kills, KillRecord{Kind: kind, At: r.since(time.Now()), PID: pid, Queue: queue, MessageID: messageID})
	r.mu.Unlock()
	if messageID != "" {
		r.say("%s: handler pid %d killed after copy %s reached %s, before it heard so", kind, pid, messageID, queue)
	} else {
		r.say("%s: handler pid %d killed", kind, pid)
	}
}

// killAfterCopy holds the acknowledgement of the next copy sent to the queue, kills the handler once the copy
// is stored (so the handler cannot have answered the invocation that sent it), then releases the hold.
func (r *runner) killAfterCopy(ctx context.Context, f *Fault) {
	queue, scheduledOnly := r.settings["PURGE_FAILED_QUEUE_NAME"], false
	if f.Kind == KillAfterRetryCopy {
		queue, scheduledOnly = r.settings["PURGE_QUEUE_NAME"], true
	}
	for drained := false; !drained; {
		select {
		case <-r.bus.held:
		default:
			drained = true
		}
	}
	release := func() {
		r.admin(ctx, func(c context.Context) error { _, err := r.stack.Bus.ReleaseAcks(c); return err })
	}
	hold := func() {
		r.admin(ctx, func(c context.Context) error { return r.stack.Bus.HoldAck(c, queue, scheduledOnly) })
	}
	defer release()
	hold()
	// The schedule expects a copy within afterCopyPatience; under load it may take longer, so it waits up
	// to four times that.
	timer := time.NewTimer(4 * afterCopyPatience)
	defer timer.Stop()
	for {
		select {
		case ev := <-r.bus.held:
			if !strings.EqualFold(ev.Queue, queue) {
				continue
			}
			r.kill(ctx, f.Kind, queue, ev.MessageID)
		case <-timer.C:
			r.say("%s: no copy reached %s within %s", f.Kind, queue, 4*afterCopyPatience)
		case <-ctx.Done():
		}
		return
	}
}

// quiesce waits until nothing is left to happen: the trigger queue holds no message in any state (active,
// locked or scheduled) and no invocation runs, three checks in a row half a second apart.
func (r *runner) quiesce(ctx context.Context, client *azservicebus.Client) error {
	rcv, err := client.NewReceiverForQueue(r.settings["PURGE_QUEUE_NAME"], nil)
	if err != nil {
		return err
	}
	defer rcv.Close(context.Background())
	last := time.Now()
	for stable := 0; stable < 3; {
		if !sleepUntil(ctx, time.Now().Add(500*time.Millisecond)) {
			return fmt.Errorf("chaos: requests were still in flight when the run's %s ran out: %w", r.opts.Timeout, ctx.Err())
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		msgs, err := rcv.PeekMessages(pctx, 1, &azservicebus.PeekMessagesOptions{FromSequenceNumber: ptr(int64(1))})
		cancel()
		if err != nil {
			return fmt.Errorf("chaos: peeking the trigger queue: %w", err)
		}
		r.mu.Lock()
		h, herr := r.host, r.hostErr
		r.mu.Unlock()
		if herr != nil {
			return herr
		}
		if len(msgs) == 0 && h.Stats().InFlight == 0 {
			stable++
		} else {
			stable = 0
		}
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			r.say("still waiting: the trigger queue is not empty or invocations are running")
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// peekAll lists every message of a queue (or its dead-letter queue) without taking any.
func peekAll(ctx context.Context, client *azservicebus.Client, queue string, dlq bool) ([]*azservicebus.ReceivedMessage, error) {
	var opts *azservicebus.ReceiverOptions
	if dlq {
		opts = &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter}
	}
	rcv, err := client.NewReceiverForQueue(queue, opts)
	if err != nil {
		return nil, err
	}
	defer rcv.Close(context.Background())
	var out []*azservicebus.ReceivedMessage
	next := int64(1)
	for {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		msgs, err := rcv.PeekMessages(pctx, 250, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &next})
		cancel()
		if err != nil {
			return out, err
		}
		if len(msgs) == 0 {
			return out, nil
		}
		out = append(out, msgs...)
		next = *msgs[len(msgs)-1].SequenceNumber + 1
	}
}

// copyOf reads the bookkeeping of a message found on a queue.
func copyOf(m *azservicebus.ReceivedMessage) Copy {
	c := Copy{MessageID: m.MessageID, OriginalID: m.MessageID}
	if s, ok := m.ApplicationProperties[message.PropOriginalMessageID].(string); ok && s != "" {
		c.OriginalID = s
	}
	if s, ok := m.ApplicationProperties[message.PropDeadLetterReason].(string); ok {
		c.Reason = s
	}
	if m.DeadLetterReason != nil {
		c.Reason = *m.DeadLetterReason
	}
	if m.SequenceNumber != nil {
		c.SequenceNumber = *m.SequenceNumber
	}
	return c
}

// tokenLog collects the identity endpoint's request log.
type tokenLog struct {
	mu   sync.Mutex
	reqs []identity.TokenRequest
}

func (t *tokenLog) line(raw []byte) {
	var tr identity.TokenRequest
	if json.Unmarshal(raw, &tr) != nil {
		return
	}
	t.mu.Lock()
	t.reqs = append(t.reqs, tr)
	t.mu.Unlock()
}

func (t *tokenLog) all() []identity.TokenRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]identity.TokenRequest(nil), t.reqs...)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
