package funchost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
)

// Options configures a Host. Only AppRoot is required.
type Options struct {
	// AppRoot is the function app root: host.json, */function.json, settings.
	AppRoot string
	// Settings override app settings from local.settings.json (or the sample) and
	// the environment; the demo and tests set ports and queue names here.
	Settings map[string]string

	// Stdout and Stderr receive the host's log: Information and Warning lines on
	// Stdout, Error lines on Stderr. Nil means os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// HandlerStdout and HandlerStderr, when set, receive the handler's raw output
	// lines in addition to the host log, so callers can parse the handler's
	// per-invocation JSON log lines.
	HandlerStdout, HandlerStderr io.Writer

	// ReadyTimeout bounds the wait for the handler's first answer to GET /;
	// 0 means customHandler.initializationTimeout, default 30 s.
	ReadyTimeout time.Duration
	// ReadyPollInterval is the readiness polling period; 0 means 25 ms.
	ReadyPollInterval time.Duration
	// PingInterval is the period of GET / pings while the handler runs; 0 means
	// 10 s, negative disables them.
	PingInterval time.Duration
	// DrainTimeout bounds how long a stopping host waits for in-flight
	// invocations before it abandons them and kills the handler; 0 means 30 s.
	DrainTimeout time.Duration

	// OnInvocation, when set, is called once per message after it is settled, and
	// once per timer invocation after it ended. It runs on the invocation's
	// goroutine, concurrently with other calls.
	OnInvocation func(Invocation)

	// TimerStatusDir, when set, keeps each monitored timer's schedule status
	// (<function>.status.json) across host runs, as host storage does in Azure, so
	// that an occurrence missed while no host ran is invoked at start-up as past
	// due. Empty: the status lives as long as the host.
	TimerStatusDir string
}

// Outcome says how an invocation ended.
type Outcome string

// Invocation outcomes. Only OutcomeSuccess completes the message.
const (
	OutcomeSuccess Outcome = "success"
	// OutcomeHTTPStatus: the handler answered non-2xx.
	OutcomeHTTPStatus Outcome = "http-status"
	// OutcomeMediaType: a 2xx answer whose Content-Type is not application/json
	// or text/json.
	OutcomeMediaType Outcome = "media-type"
	// OutcomeInvalidBody: a 2xx JSON answer that is not a valid
	// HttpScriptInvocationResult (invalid JSON, not an object, bad Logs).
	OutcomeInvalidBody Outcome = "invalid-body"
	// OutcomeConnection: no answer (refused, reset, the handler died).
	OutcomeConnection Outcome = "connection-error"
	// OutcomeHang: the handler answered with an empty body or null; the host then
	// waits for functionTimeout and restarts the handler. A correct handler never
	// causes this.
	OutcomeHang Outcome = "hang"
	// OutcomeTimeout: no answer within functionTimeout; the handler was restarted.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeBinding: the message could not be bound to the trigger's dataType;
	// the handler was not called.
	OutcomeBinding Outcome = "binding-error"
	// OutcomeUnavailable: no handler to call (it exited with code 0 and is not
	// restarted, or the host is stopping).
	OutcomeUnavailable Outcome = "unavailable"
)

// Settlement is what the host did with the message.
type Settlement string

const (
	SettlementCompleted Settlement = "completed"
	SettlementAbandoned Settlement = "abandoned"
)

// Invocation describes one finished invocation, for tests and the demo.
type Invocation struct {
	Function       string
	InvocationID   string
	MessageID      string
	DeliveryCount  uint32
	SequenceNumber int64
	// HandlerPID is the handler process the request went to, 0 if none.
	HandlerPID int
	// StatusCode is the handler's HTTP status, 0 when there was no answer.
	StatusCode int
	Outcome    Outcome
	// Err explains a failure, in the host's words.
	Err error
	// Logs are the response's Logs entries (only read on success).
	Logs []string
	// Duration runs from receipt to the end of the invocation, before settlement.
	Duration   time.Duration
	Settlement Settlement
	// SettleErr is set when completing or abandoning the message failed (for
	// example, the lock was lost); Service Bus then redelivers it.
	SettleErr error
	// LockRenewals counts successful lock renewals during the invocation.
	LockRenewals int
	// TimerPastDue is set for a timer invocation that ran late (IsPastDue).
	TimerPastDue bool
}

// Stats are the host's counters.
type Stats struct {
	// HandlerStarts counts handler processes started.
	HandlerStarts int
	// Restarts counts start attempts after the first.
	Restarts int
	// WorkerErrors counts the real host's worker error events: failed starts,
	// readiness timeouts and exits with a code other than 0 or 200.
	WorkerErrors int
	// Timeouts counts invocations that reached functionTimeout; each one kills
	// and restarts the handler.
	Timeouts int
	// Hangs counts answers with an empty or null body. A correct handler keeps
	// this at 0.
	Hangs int
	// Invocations counts finished invocations; Completed and Abandoned count
	// settled messages.
	Invocations, Completed, Abandoned int
	InFlight                          int
	// TimerRuns counts timer invocations (included in Invocations).
	TimerRuns int
	// HandlerBroken is true once the handler exited with code 0: the real host
	// does not restart it, and every later message fails.
	HandlerBroken bool
}

type workerState int

const (
	stateStarting workerState = iota
	stateReady
	stateBroken
	stateStopped
)

// Host is a stand-in for the Azure Functions host running a custom handler with
// Service Bus triggered functions. Create it with New, run it once with Run.
type Host struct {
	opts         Options
	app          *appConfig
	log          *hostLog
	readyTimeout time.Duration
	port         int

	httpTransport *http.Transport
	httpClient    *http.Client
	pingClient    *http.Client

	// openSource connects a function's trigger; tests replace it with a fake.
	openSource func(ctx context.Context, fn *Function) (source, error)

	teeMu sync.Mutex

	mu      sync.Mutex
	state   workerState
	cur     *worker
	changed chan struct{} // closed and replaced on every state change
	// stopping is closed when Run starts to stop: invocations still waiting for a
	// handler then give up at once instead of holding up the drain.
	stopping   chan struct{}
	pid        int
	stats      Stats
	errorTimes []time.Time
	ran        bool
}

// source is a connected trigger: where messages come from and who settles them.
type source struct {
	rcv    receiver
	client ClientInfo
	close  func(context.Context) error
}

// receiver is the part of *azservicebus.Receiver the host uses.
type receiver interface {
	ReceiveMessages(ctx context.Context, maxMessages int, options *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.AbandonMessageOptions) error
	RenewMessageLock(ctx context.Context, msg *azservicebus.ReceivedMessage, options *azservicebus.RenewMessageLockOptions) error
}

var _ receiver = (*azservicebus.Receiver)(nil)

// New reads the app root and prepares a host; it starts nothing.
func New(opts Options) (*Host, error) {
	if opts.AppRoot == "" {
		return nil, errors.New("funchost: Options.AppRoot is required")
	}
	app, err := loadApp(opts.AppRoot, opts.Settings, os.Environ())
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.ReadyPollInterval <= 0 {
		opts.ReadyPollInterval = 25 * time.Millisecond
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 10 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("funchost: choosing the handler port: %w", err)
	}
	h := &Host{
		opts:         opts,
		app:          app,
		log:          &hostLog{out: opts.Stdout, errOut: opts.Stderr},
		readyTimeout: app.host.InitializationTimeout,
		port:         port,
		changed:      make(chan struct{}),
		stopping:     make(chan struct{}),
	}
	if opts.ReadyTimeout > 0 {
		h.readyTimeout = opts.ReadyTimeout
	}
	// One client for all invocations, no proxy, no per-host connection cap, and
	// redirects followed, like the host's HttpClient.
	h.httpTransport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1024, DisableCompression: true}
	h.httpClient = &http.Client{Transport: h.httpTransport}
	h.pingClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	h.openSource = h.openServiceBus
	return h, nil
}

// HandlerPID is the pid of the current handler process, 0 before the first
// start. A test can kill it to exercise crash handling.
func (h *Host) HandlerPID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pid
}

// Stats returns a snapshot of the counters.
func (h *Host) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// WaitReady blocks until a handler process is ready, the handler is broken (an
// error), or ctx ends.
func (h *Host) WaitReady(ctx context.Context) error {
	for {
		h.mu.Lock()
		st, ch := h.state, h.changed
		h.mu.Unlock()
		switch st {
		case stateReady:
			return nil
		case stateBroken:
			return errors.New("funchost: the handler exited with code 0 and is not restarted")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (h *Host) setState(s workerState, w *worker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setStateLocked(s, w)
}

func (h *Host) setStateLocked(s workerState, w *worker) {
	if h.state == stateStopped && s != stateStopped {
		return
	}
	h.state, h.cur = s, w
	close(h.changed)
	h.changed = make(chan struct{})
}

var (
	errBroken   = errors.New("the handler exited with code 0 and the host does not restart it")
	errStopping = errors.New("the host is stopping")
)

// acquireWorker waits for a ready handler, as invocations wait while the
// dispatcher (re)initializes.
func (h *Host) acquireWorker(ctx context.Context) (*worker, error) {
	for {
		h.mu.Lock()
		st, w, ch := h.state, h.cur, h.changed
		h.mu.Unlock()
		switch st {
		case stateReady:
			// A process that has died but whose exit the supervisor has not yet
			// handled is not ready: wait for the state change instead of sending
			// into a closed port and burning a delivery.
			if !w.hasExited() {
				return w, nil
			}
		case stateBroken:
			return nil, errBroken
		case stateStopped:
			return nil, errStopping
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-h.stopping:
			return nil, errStopping
		case <-ch:
		}
	}
}

// Run starts the handler and the triggers and serves until ctx ends, then stops:
// no new messages, in-flight invocations get DrainTimeout to finish (the rest
// are abandoned), then the handler is killed (SIGKILL, never SIGTERM: the real
// host disposes its worker with Process.Kill, docs/functions-host.md §8.3). It
// returns nil after a requested stop, or the error that stopped the
// host (a trigger that cannot connect, or the handler failing three times within
// 30 minutes). Run may be called once.
func (h *Host) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.ran {
		h.mu.Unlock()
		return errors.New("funchost: Run called twice")
	}
	h.ran = true
	h.mu.Unlock()

	for _, k := range h.app.skipped {
		h.log.logf(LevelWarning, catHost, "Skipping '%s' from local settings as it's already defined in current environment variables.", k)
	}
	for _, fn := range h.app.functions {
		switch {
		case fn.Disabled:
			h.log.logf(LevelInformation, catHost, "Function '%s' is disabled", fn.Name)
		case fn.Timer != nil:
			h.log.logf(LevelInformation, catHost, "Function %s: timerTrigger %q (binding %q, runOnStartup %t, useMonitor %t)",
				fn.Name, fn.Timer.Schedule, fn.Timer.Name, fn.Timer.RunOnStartup, fn.Timer.UseMonitor)
		default:
			h.log.logf(LevelInformation, catHost, "Function %s: serviceBusTrigger on %q (binding %q, dataType \"binary\", connection %q), maxConcurrentCalls %d",
				fn.Name, fn.Trigger.QueueName, fn.Trigger.Name, fn.Trigger.Connection, h.app.host.MaxConcurrentCalls)
		}
	}

	workerCtx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	supDone := make(chan error, 1)
	go func() { supDone <- h.supervise(workerCtx) }()

	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	// Invocations outlive ctx so they can drain; invCancel abandons the rest.
	invCtx, invCancel := context.WithCancel(context.Background())
	defer invCancel()

	var sources []source
	var inflight sync.WaitGroup
	var loops sync.WaitGroup
	var runErr error
	for _, fn := range h.app.functions {
		if fn.Disabled {
			continue
		}
		if fn.Timer != nil {
			loops.Add(1)
			go func() {
				defer loops.Done()
				h.runTimer(runCtx, invCtx, fn, &inflight)
			}()
			continue
		}
		src, err := h.openSource(runCtx, fn)
		if err != nil {
			runErr = fmt.Errorf("funchost: function %s: %w", fn.Name, err)
			stopRun(runErr)
			break
		}
		sources = append(sources, src)
		loops.Add(1)
		go func() {
			defer loops.Done()
			h.dispatch(runCtx, invCtx, fn, src, &inflight)
		}()
	}

	var supErr error
	supFinished := false
	select {
	case <-runCtx.Done():
	case supErr = <-supDone:
		supFinished = true
		stopRun(supErr)
	}
	if runErr == nil && supErr != nil {
		runErr = fmt.Errorf("funchost: %w", supErr)
	}
	h.log.logf(LevelInformation, catHost, "Stopping the host")
	close(h.stopping)
	loops.Wait()

	drained := make(chan struct{})
	go func() { inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(h.opts.DrainTimeout):
		h.log.logf(LevelWarning, catHost, "In-flight invocations did not finish within %s; abandoning them", h.opts.DrainTimeout)
		invCancel()
		<-drained
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	for _, s := range sources {
		if s.close != nil {
			_ = s.close(closeCtx)
		}
	}
	cancel()
	stopWorker()
	if !supFinished {
		if err := <-supDone; err != nil && runErr == nil {
			runErr = fmt.Errorf("funchost: %w", err)
		}
	}
	h.httpTransport.CloseIdleConnections()
	h.log.logf(LevelInformation, catHost, "Host stopped")
	return runErr
}

// dispatch receives from one trigger and runs up to maxConcurrentCalls
// invocations at once, asking Service Bus for exactly as many messages as there
// are free slots so no message waits locked in a buffer.
func (h *Host) dispatch(ctx, invCtx context.Context, fn *Function, src source, inflight *sync.WaitGroup) {
	limit := h.app.host.MaxConcurrentCalls
	slots := make(chan struct{}, limit)
	backoff := 100 * time.Millisecond
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	fill:
		for n < limit {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break fill
			}
		}
		msgs, err := src.rcv.ReceiveMessages(ctx, n, nil)
		for i := len(msgs); i < n; i++ {
			<-slots
		}
		if err != nil && len(msgs) == 0 {
			if ctx.Err() != nil {
				return
			}
			h.log.logf(LevelError, catHost, "Function %s: receiving from %q failed: %v (retrying in %s)", fn.Name, fn.Trigger.QueueName, err, backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, m := range msgs {
			inflight.Add(1)
			h.mu.Lock()
			h.stats.InFlight++
			h.mu.Unlock()
			go func() {
				defer inflight.Done()
				defer func() { <-slots }()
				h.invoke(invCtx, fn, src, m)
			}()
		}
	}
}

// errFunctionTimeout is the cancellation cause when functionTimeout passes.
var errFunctionTimeout = errors.New("function timeout")

// invoke runs one message through the handler and settles it.
func (h *Host) invoke(base context.Context, fn *Function, src source, m *azservicebus.ReceivedMessage) {
	start := time.Now()
	inv := Invocation{Function: fn.Name, InvocationID: uuid.NewString(), MessageID: m.MessageID, DeliveryCount: m.DeliveryCount}
	if m.SequenceNumber != nil {
		inv.SequenceNumber = *m.SequenceNumber
	}
	h.log.logf(LevelInformation, catHost, "Executing 'Functions.%s' (Reason='(null)', Id=%s)", fn.Name, inv.InvocationID)
	h.log.logf(LevelInformation, catHost, "Trigger Details: MessageId: %s, SequenceNumber: %d, DeliveryCount: %d, EnqueuedTimeUtc: %s, LockedUntilUtc: %s, SessionId: (null)",
		m.MessageID, inv.SequenceNumber, m.DeliveryCount, fmtTimePtr(m.EnqueuedTime), fmtTimePtr(m.LockedUntil))

	renewCtx, stopRenew := context.WithCancel(context.Background())
	renewDone := make(chan int, 1)
	go func() { renewDone <- h.renewLock(renewCtx, fn, src.rcv, m, start) }()

	h.execute(base, start, fn, src, m, &inv)
	inv.Duration = time.Since(start)
	stopRenew()
	inv.LockRenewals = <-renewDone

	if inv.Outcome == OutcomeSuccess {
		h.log.logf(LevelInformation, catHost, "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.Name, inv.InvocationID, inv.Duration.Milliseconds())
	} else {
		h.log.logf(LevelError, catHost, "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): %s: %v", fn.Name, inv.InvocationID, inv.Duration.Milliseconds(), inv.Outcome, inv.Err)
	}

	// Settlement is independent of shutdown: a message is always completed or
	// abandoned, never left to its lock.
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	switch {
	case inv.Outcome == OutcomeSuccess:
		inv.Settlement = SettlementCompleted
		inv.SettleErr = src.rcv.CompleteMessage(sctx, m, nil)
	default:
		inv.Settlement = SettlementAbandoned
		inv.SettleErr = src.rcv.AbandonMessage(sctx, m, nil)
	}
	scancel()
	if inv.SettleErr != nil {
		h.log.logf(LevelError, catHost, "Function %s: %s message %s failed: %v", fn.Name, inv.Settlement, m.MessageID, inv.SettleErr)
	}

	h.mu.Lock()
	h.stats.InFlight--
	h.stats.Invocations++
	if inv.SettleErr == nil {
		switch inv.Settlement {
		case SettlementCompleted:
			h.stats.Completed++
		case SettlementAbandoned:
			h.stats.Abandoned++
		}
	}
	h.mu.Unlock()
	if h.opts.OnInvocation != nil {
		h.opts.OnInvocation(inv)
	}
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "(null)"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// execute builds the request for a message and runs it (call).
func (h *Host) execute(base context.Context, start time.Time, fn *Function, src source, m *azservicebus.ReceivedMessage, inv *Invocation) {
	body, err := BuildInvocationBody(InvocationInput{
		FunctionName: fn.Name, BindingName: fn.Trigger.Name,
		Message: m, Client: src.client, UtcNow: time.Now(), RandGuid: uuid.NewString(),
	})
	if err != nil {
		inv.Outcome, inv.Err = OutcomeBinding, err
		return
	}
	h.call(base, start, fn, body, inv)
}

// call waits for a ready handler, sends it the invocation request and classifies
// the answer, filling inv's outcome fields. base ends only when a stopping host
// abandons its in-flight invocations.
//
// At functionTimeout (counted from start) the invocation fails, so its message is
// abandoned, but the request to the handler is left open, as the real host does
// (docs/functions-host.md §8.2): if the handler has not finished it within
// timeoutGrace, the handler is killed and a new one started; an answer within
// the grace is ignored.
func (h *Host) call(base context.Context, start time.Time, fn *Function, body []byte, inv *Invocation) {
	fail := func(o Outcome, err error) { inv.Outcome, inv.Err = o, err }
	ft := h.app.host.FunctionTimeout
	waitCtx, cancelWait := base, context.CancelFunc(func() {})
	if ft > 0 {
		waitCtx, cancelWait = context.WithDeadlineCause(base, start.Add(ft), errFunctionTimeout)
	}
	w, err := h.acquireWorker(waitCtx)
	cancelWait()
	if err != nil {
		if errors.Is(err, errFunctionTimeout) {
			h.countTimeout()
			fail(OutcomeTimeout, hostErrorf("Timeout value of %s exceeded by function 'Functions.%s' while waiting for the handler", ft, fn.Name))
			return
		}
		fail(OutcomeUnavailable, err)
		return
	}
	inv.HandlerPID = w.pid
	// The host's HTTP client times out at functionTimeout + 1 minute (§4.1); the
	// grace kill below always comes first.
	reqCtx, cancelReq := base, context.CancelFunc(func() {})
	if ft > 0 {
		reqCtx, cancelReq = context.WithDeadline(base, start.Add(ft+time.Minute))
	}
	req, err := NewInvocationRequest(reqCtx, w.port, fn.Name, body, inv.InvocationID)
	if err != nil {
		cancelReq()
		fail(OutcomeConnection, err)
		return
	}
	// The request runs on its own goroutine so that functionTimeout can fail the
	// invocation while the request stays open; finished is closed once the
	// handler's answer completes the invocation (never for an answer that hangs).
	res := *inv
	finished := make(chan struct{})
	answered := make(chan struct{})
	go func() {
		defer cancelReq()
		if h.roundTrip(base, w, req, fn, &res) {
			close(finished)
		}
		close(answered)
	}()
	var expired <-chan time.Time
	if ft > 0 {
		t := time.NewTimer(time.Until(start.Add(ft)))
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-answered:
		*inv = res
		if inv.Outcome == OutcomeHang {
			// It never completes by itself; a stopping host abandons it at once.
			select {
			case <-expired:
				h.timedOut(w, fn, inv, finished)
				inv.Outcome = OutcomeHang
			case <-h.stopping:
				fail(OutcomeUnavailable, fmt.Errorf("%w; invocation cancelled", errStopping))
				inv.Outcome = OutcomeHang
			case <-base.Done():
				fail(OutcomeUnavailable, fmt.Errorf("%w; invocation cancelled", errStopping))
				inv.Outcome = OutcomeHang
			}
		}
	case <-expired:
		h.timedOut(w, fn, inv, finished)
	}
}

// timedOut fails an invocation that reached functionTimeout and, unless the
// handler finishes it within timeoutGrace, kills the handler (§8.2).
func (h *Host) timedOut(w *worker, fn *Function, inv *Invocation, finished <-chan struct{}) {
	h.countTimeout()
	inv.Outcome, inv.Err = OutcomeTimeout, hostErrorf("Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). Initiating cancellation.",
		h.app.host.FunctionTimeout, fn.Name, inv.InvocationID)
	h.log.logf(LevelError, catHost, "%v", inv.Err)
	go func() {
		t := time.NewTimer(timeoutGrace)
		defer t.Stop()
		select {
		case <-finished:
			h.log.logf(LevelInformation, catHost, "Invocation %s finished within the %s grace period after its timeout; the handler is kept", inv.InvocationID, timeoutGrace)
		case <-w.exited:
		case <-t.C:
			h.recycle(w, inv.InvocationID)
		}
	}()
}

// timeoutGrace is how long the host waits, after functionTimeout, for the
// invocation to finish before it restarts the worker: the WebJobs SDK's
// TimeoutAttribute.GracePeriod default (docs/functions-host.md §8.2).
const timeoutGrace = 2 * time.Second

// roundTrip runs the request and classifies the answer into inv. It reports
// whether the answer completes the invocation (false for an answer that hangs the
// host).
func (h *Host) roundTrip(base context.Context, w *worker, req *http.Request, fn *Function, inv *Invocation) bool {
	fail := func(o Outcome, err error) { inv.Outcome, inv.Err = o, err }
	resp, err := h.httpClient.Do(req)
	if err != nil {
		if base.Err() != nil {
			fail(OutcomeUnavailable, fmt.Errorf("%w; invocation cancelled", errStopping))
		} else {
			h.awaitExitAfterConnectionError(w)
			fail(OutcomeConnection, err)
		}
		return true
	}
	inv.StatusCode = resp.StatusCode
	const maxResponse = 64 << 20
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	resp.Body.Close()
	if err != nil {
		if base.Err() != nil {
			fail(OutcomeUnavailable, fmt.Errorf("%w; invocation cancelled", errStopping))
			return true
		}
		h.awaitExitAfterConnectionError(w)
		fail(OutcomeConnection, fmt.Errorf("reading the response: %w", err))
		return true
	}
	if len(respBody) > maxResponse {
		fail(OutcomeInvalidBody, errors.New("response larger than 64 MiB"))
		return true
	}
	r := classifyReply(resp.StatusCode, resp.Header, resp.ContentLength, respBody)
	switch r.class {
	case replySuccess:
		inv.Outcome, inv.Logs = OutcomeSuccess, r.logs
		for _, l := range r.logs {
			h.log.logf(LevelInformation, "Function."+fn.Name+".User", "%s", l)
		}
	case replyFailure:
		fail(r.outcome, hostError(r.reason))
	case replyHang:
		h.mu.Lock()
		h.stats.Hangs++
		h.mu.Unlock()
		h.log.logf(LevelError, catHost, "Function %s: the handler answered invocation %s with %d and an empty or null body; "+
			"the real host never completes such an invocation and waits for functionTimeout (%s)", fn.Name, inv.InvocationID, resp.StatusCode, h.app.host.FunctionTimeout)
		inv.Outcome = OutcomeHang
		return false
	}
	return true
}

// awaitExitAfterConnectionError gives a handler that dropped a connection a
// moment to be seen exiting before the message is abandoned. Without it the
// redelivery races the supervisor and goes to the dead port, failing again at
// once (the real host has the same window, issue #6358, but its redelivery is not
// this fast); with it, the redelivery waits for the restarted handler.
func (h *Host) awaitExitAfterConnectionError(w *worker) {
	t := time.NewTimer(connectionErrorGrace)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
	}
}

// connectionErrorGrace bounds awaitExitAfterConnectionError.
const connectionErrorGrace = 250 * time.Millisecond

func (h *Host) countTimeout() {
	h.mu.Lock()
	h.stats.Timeouts++
	h.mu.Unlock()
}

// renewLock keeps the message locked while its invocation runs, for at most
// maxAutoLockRenewalDuration from receipt. Like the Service Bus processor it
// renews shortly before the lock runs out: at LockedUntil minus the smaller of
// half the remaining time and 10 s; and it stops renewing that message at the
// first failure Service Bus reports as not transient — the lock already lost,
// the queue gone, access refused — (docs/functions-host.md §6.3), retrying only
// transient ones. It returns the number of renewals.
func (h *Host) renewLock(ctx context.Context, fn *Function, rcv receiver, m *azservicebus.ReceivedMessage, received time.Time) int {
	limit := h.app.host.MaxAutoLockRenewalDuration
	renewals := 0
	for {
		if m.LockedUntil == nil {
			return renewals
		}
		remaining := time.Until(*m.LockedUntil)
		wait := remaining - min(remaining/2, 10*time.Second)
		if wait < 0 {
			wait = 0
		}
		if limit >= 0 && time.Since(received)+wait > limit {
			return renewals
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return renewals
		case <-t.C:
		}
		if err := rcv.RenewMessageLock(ctx, m, nil); err != nil {
			if ctx.Err() != nil {
				return renewals
			}
			h.log.logf(LevelWarning, catHost, "Function %s: renewing the lock of message %s failed: %v", fn.Name, m.MessageID, err)
			if !transientRenewError(err) {
				h.log.logf(LevelWarning, catHost, "Function %s: the error is not transient; the lock of message %s is no longer renewed", fn.Name, m.MessageID)
				return renewals
			}
			select {
			case <-ctx.Done():
				return renewals
			case <-time.After(time.Second):
			}
			continue
		}
		renewals++
	}
}

// transientRenewError mirrors the processor's rule: a Service Bus error stops the
// renewals unless it is transient (.NET's ServiceBusException.IsTransient: a
// timeout or a communication problem, azservicebus's CodeTimeout and
// CodeConnectionLost); an error that is not a Service Bus error is retried.
func transientRenewError(err error) bool {
	sbErr, ok := errors.AsType[*azservicebus.Error](err)
	if !ok {
		return true
	}
	return sbErr.Code == azservicebus.CodeTimeout || sbErr.Code == azservicebus.CodeConnectionLost
}

// openServiceBus connects a trigger's queue with azservicebus, in peek-lock mode,
// from the connection string its connection setting holds (UseDevelopmentEmulator=true
// for the local emulator).
func (h *Host) openServiceBus(ctx context.Context, fn *Function) (source, error) {
	client, info, err := newServiceBusClient(fn.Trigger.Connection, h.app.settings)
	if err != nil {
		return source{}, err
	}
	rcv, err := client.NewReceiverForQueue(fn.Trigger.QueueName, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModePeekLock})
	if err != nil {
		_ = client.Close(ctx)
		return source{}, err
	}
	return source{rcv: rcv, client: info, close: func(ctx context.Context) error {
		err := rcv.Close(ctx)
		return errors.Join(err, client.Close(ctx))
	}}, nil
}

// sanitize keeps secrets out of log lines that quote a setting.
func sanitize(s string) string {
	if i := strings.Index(strings.ToLower(s), "sharedaccesskey="); i >= 0 {
		return s[:i] + "SharedAccessKey=***"
	}
	return s
}

// hostError is an error whose text is the real host's message, verbatim (and so
// capitalised and punctuated), so output can be compared with Azure's logs.
type hostError string

func (e hostError) Error() string { return string(e) }

func hostErrorf(format string, args ...any) error { return hostError(fmt.Sprintf(format, args...)) }
