package funchost

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

func TestHostCompletesAndSendsTheHostsRequest(t *testing.T) {
	root := makeApp(t, appSpec{settings: map[string]string{"FAKE_ECHO_ENV": "PURGE_QUEUE_NAME,FROM_OVERRIDE"}})
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, root, func(o *Options) { o.Settings = map[string]string{"FROM_OVERRIDE": "yes"} })
	hs.useBroker(b)
	hs.start()
	id := b.send("ok")
	inv := hs.next(10 * time.Second)
	if inv.Outcome != OutcomeSuccess || inv.Settlement != SettlementCompleted || inv.SettleErr != nil || inv.StatusCode != 200 {
		t.Fatalf("invocation = %+v", inv)
	}
	if inv.MessageID != id || inv.DeliveryCount != 1 || inv.Function != "purge" || inv.HandlerPID == 0 || inv.Duration <= 0 {
		t.Errorf("invocation = %+v", inv)
	}
	if len(inv.Logs) != 1 || inv.Logs[0] != "ok "+id {
		t.Errorf("Logs = %q", inv.Logs)
	}
	if !strings.Contains(hs.log.buf.String(), "Information Function.purge.User: ok "+id) {
		t.Error("the response's Logs entry was not logged as Information")
	}
	if _, _, completed, _ := b.counts(); completed != 1 {
		t.Errorf("completed = %d", completed)
	}

	waitFor(t, 5*time.Second, "the handler's invocation line", func() bool { return len(hs.stdout.events("invocation")) == 1 })
	ev := hs.stdout.events("invocation")
	e := ev[0]
	want := map[string]any{"method": "POST", "path": "/purge", "function": "purge", "contentLength": -1.0,
		"userAgent": "Azure-Functions-Host/" + DefaultHostVersion, "hostVersion": DefaultHostVersion, "contentType": "application/json; charset=utf-8",
		"invocationId": inv.InvocationID, "messageId": id, "deliveryCount": 1.0}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("handler saw %s = %v, want %v", k, e[k], v)
		}
	}
	if te, _ := e["transferEncoding"].([]any); len(te) != 1 || te[0] != "chunked" {
		t.Errorf("transfer encoding = %v, want chunked", e["transferEncoding"])
	}

	st := hs.stdout.events("start")
	if len(st) != 1 {
		t.Fatalf("%d starts", len(st))
	}
	if cwd, _ := filepath.EvalSymlinks(st[0]["cwd"].(string)); cwd != mustEval(t, root) {
		t.Errorf("working directory = %v, want %s", st[0]["cwd"], root)
	}
	if args := st[0]["args"].([]any); len(args) != 2 || args[0] != "--app" || args[1] != "purge-requests" {
		t.Errorf("args = %v: %%SETTING%% must expand and unknown %%X%% vanish", args)
	}
	env := st[0]["env"].(map[string]any)
	port := env["FUNCTIONS_CUSTOMHANDLER_PORT"]
	if port == nil || port != env["FUNCTIONS_HTTPWORKER_PORT"] || env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] == nil ||
		env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] != env["FUNCTIONS_HTTPWORKER_ID"] || env["FUNCTIONS_APP_ROOT_PATH"] != root {
		t.Errorf("FUNCTIONS_* environment = %v", env)
	}
	if env["PURGE_QUEUE_NAME"] != "purge-requests" || env["FROM_OVERRIDE"] != "yes" {
		t.Errorf("app settings missing from the environment: %v", env)
	}
	if err := hs.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if s := hs.h.Stats(); s.Hangs != 0 || s.Timeouts != 0 || s.Restarts != 0 || s.Completed != 1 || s.InFlight != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHostAbandonsFailuresUntilDeadLetter(t *testing.T) {
	b := newFakeBroker(3, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	for _, c := range []struct {
		body string
		out  Outcome
	}{{"status 500", OutcomeHTTPStatus}, {"text", OutcomeMediaType}, {"badjson", OutcomeInvalidBody}} {
		b.send(c.body)
		seen := map[uint32]bool{}
		for range 3 {
			inv := hs.next(10 * time.Second)
			seen[inv.DeliveryCount] = true
			if inv.Outcome != c.out || inv.Settlement != SettlementAbandoned || inv.Err == nil {
				t.Errorf("%s: %+v", c.body, inv)
			}
			if len(inv.Logs) != 0 {
				t.Errorf("%s: Logs of a failed invocation must be ignored, got %q", c.body, inv.Logs)
			}
		}
		if !seen[1] || !seen[2] || !seen[3] {
			t.Errorf("%s: deliveries %v, want 1, 2 and 3", c.body, seen)
		}
	}
	waitFor(t, 5*time.Second, "three dead letters", func() bool { _, _, _, dead := b.counts(); return dead == 3 })
	if !strings.Contains(hs.log.buf.String(), "Error Host.Function.Console: fakehandler: failing message") {
		t.Error("handler stderr was not logged as Error")
	}
	if s := hs.h.Stats(); s.Abandoned != 9 || s.Restarts != 0 || s.WorkerErrors != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestHostHangIsCountedThenTimesOutAndRestarts(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{functionTimeout: "00:00:01"}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("once:empty")
	waitFor(t, 5*time.Second, "the hang to be counted", func() bool { return hs.h.Stats().Hangs == 1 })
	inv := hs.nextWhere(5*time.Second, "delivery 1", delivery(1))
	if inv.Outcome != OutcomeHang || inv.Settlement != SettlementAbandoned || inv.StatusCode != 200 || inv.Duration < time.Second {
		t.Errorf("hung invocation = %+v", inv)
	}
	inv = hs.nextWhere(10*time.Second, "delivery 2", delivery(2))
	if inv.Outcome != OutcomeSuccess {
		t.Errorf("redelivery = %+v", inv)
	}
	// The hung invocation never finishes, so the grace period ends with the handler killed.
	waitFor(t, 10*time.Second, "the first restart", func() bool { return hs.h.Stats().Restarts == 1 })
	b.send("once:null") // fresh message: the literal null hangs too
	if inv := hs.nextWhere(5*time.Second, "delivery 1", delivery(1)); inv.Outcome != OutcomeHang {
		t.Errorf("null answer = %+v", inv)
	}
	hs.nextWhere(10*time.Second, "delivery 2", delivery(2))
	waitFor(t, 10*time.Second, "the second restart", func() bool { return hs.h.Stats().Restarts == 2 })
	s := hs.h.Stats()
	if s.Hangs != 2 || s.Timeouts != 2 || s.Restarts != 2 || s.WorkerErrors != 0 || s.HandlerStarts != 3 {
		t.Errorf("stats = %+v", s)
	}
	if !strings.Contains(hs.log.buf.String(), "A function timeout has occurred. Restarting worker process") {
		t.Error("the timeout restart was not logged")
	}
}

// At functionTimeout the invocation fails at once (its message is abandoned and redelivered) but the request
// is left open and the handler keeps running; it is killed only after the grace period, failing whatever else
// was in flight on it, and a new one is started.
func TestHostTimeoutFailsTheInvocationThenKillsTheHandlerAfterTheGrace(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{functionTimeout: "00:00:01"}), nil)
	hs.useBroker(b)
	hs.start()
	if err := hs.h.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	pid := hs.h.HandlerPID()
	stuck := b.send("once:sleep 30s")
	// The stuck invocation must be the first to reach functionTimeout: send the other one once the
	// handler has received it.
	waitFor(t, 5*time.Second, "the handler to receive the stuck message", func() bool {
		for _, ev := range hs.stdout.events("invocation") {
			if ev["messageId"] == stuck {
				return true
			}
		}
		return false
	})
	bystander := b.send("once:sleep 30s") // in flight on the same process when it is killed
	got := map[string]Invocation{}
	again := map[string]Invocation{}
	for len(got) < 2 || len(again) < 2 {
		inv := hs.next(15 * time.Second)
		if inv.DeliveryCount == 1 {
			got[inv.MessageID] = inv
		} else {
			again[inv.MessageID] = inv
		}
	}
	if inv := got[stuck]; inv.Outcome != OutcomeTimeout || inv.Settlement != SettlementAbandoned || inv.Duration > 1900*time.Millisecond {
		t.Errorf("timed-out invocation = %+v, want it failed at the timeout, not after the grace", inv)
	}
	if o := got[bystander].Outcome; o != OutcomeConnection && o != OutcomeTimeout {
		t.Errorf("in-flight invocation on the killed handler = %+v", got[bystander])
	}
	if inv := again[stuck]; inv.Outcome != OutcomeSuccess || inv.HandlerPID != pid {
		t.Errorf("redelivery of the timed-out message = %+v, want it answered by the same handler (pid %d): no kill before the grace", inv, pid)
	}
	waitFor(t, 10*time.Second, "both messages completed", func() bool { _, _, c, _ := b.counts(); return c == 2 })
	waitFor(t, 10*time.Second, "the handler restarted", func() bool { return hs.h.Stats().Restarts >= 1 })
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the timed-out handler (pid %d) is still alive: %v", pid, err)
	}
	if s := hs.h.Stats(); s.Timeouts < 1 || s.WorkerErrors != 0 || s.Hangs != 0 {
		t.Errorf("stats = %+v", s)
	}
}

// An invocation that finishes within the grace period after its timeout is still failed (abandoned), but
// the handler is not killed.
func TestHostAnswerWithinTheGraceKeepsTheHandler(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{functionTimeout: "00:00:01"}), nil)
	hs.useBroker(b)
	hs.start()
	if err := hs.h.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	pid := hs.h.HandlerPID()
	b.send("once:sleep 1500ms")
	if inv := hs.nextWhere(10*time.Second, "delivery 1", delivery(1)); inv.Outcome != OutcomeTimeout || inv.Settlement != SettlementAbandoned {
		t.Errorf("late invocation = %+v", inv)
	}
	if inv := hs.nextWhere(10*time.Second, "delivery 2", delivery(2)); inv.Outcome != OutcomeSuccess || inv.HandlerPID != pid {
		t.Errorf("redelivery = %+v", inv)
	}
	waitFor(t, 10*time.Second, "the late answer to be seen", func() bool {
		return strings.Contains(hs.log.buf.String(), "finished within the 2s grace period after its timeout; the handler is kept")
	})
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("handler %d was killed: %v", pid, err)
	}
	if s := hs.h.Stats(); s.Timeouts != 1 || s.Restarts != 0 || s.HandlerStarts != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestHostRestartsAfterCrashAndRedelivers(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("once:crash 3")
	inv := hs.nextWhere(10*time.Second, "delivery 1", delivery(1))
	if inv.Outcome != OutcomeConnection || inv.Settlement != SettlementAbandoned {
		t.Errorf("crashed invocation = %+v", inv)
	}
	inv = hs.nextWhere(10*time.Second, "delivery 2", delivery(2))
	if inv.Outcome != OutcomeSuccess || inv.DeliveryCount != 2 {
		t.Errorf("redelivery = %+v", inv)
	}
	s := hs.h.Stats()
	if s.WorkerErrors != 1 || s.Restarts != 1 || s.HandlerStarts != 2 {
		t.Errorf("stats = %+v", s)
	}
	if !strings.Contains(hs.log.buf.String(), "exited with code 3; stderr tail:\nfakehandler: crashing with code 3") {
		t.Error("the worker error does not carry the stderr tail")
	}
}

func TestHostRestartsAfterTheHandlerIsKilled(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	id := b.send("once:sleep 30s")
	waitFor(t, 10*time.Second, "the handler to receive the message", func() bool { return len(hs.stdout.events("invocation")) == 1 })
	pid := hs.h.HandlerPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	inv := hs.nextWhere(10*time.Second, "delivery 1", delivery(1))
	if inv.MessageID != id || inv.Outcome != OutcomeConnection || inv.Settlement != SettlementAbandoned || inv.HandlerPID != pid {
		t.Errorf("killed invocation = %+v", inv)
	}
	inv = hs.nextWhere(10*time.Second, "delivery 2", delivery(2))
	if inv.Outcome != OutcomeSuccess || inv.DeliveryCount != 2 || inv.HandlerPID == pid {
		t.Errorf("redelivery = %+v", inv)
	}
	if s := hs.h.Stats(); s.WorkerErrors != 1 || s.Restarts != 1 {
		t.Errorf("stats = %+v (SIGKILL is exit code 137, a worker error)", s)
	}
}

func TestHostExitZeroLeavesTheFunctionBroken(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("crash 0")
	first, second := make(chan Invocation, 1), make(chan Invocation, 1)
	go func() {
		for inv := range hs.invCh {
			switch inv.DeliveryCount {
			case 1:
				first <- inv
			case 2:
				second <- inv
			}
		}
	}()
	if inv := <-first; inv.Outcome != OutcomeConnection {
		t.Errorf("invocation = %+v", inv)
	}
	waitFor(t, 5*time.Second, "the handler to be broken", func() bool { return hs.h.Stats().HandlerBroken })
	if inv := <-second; inv.Outcome != OutcomeUnavailable || inv.Settlement != SettlementAbandoned {
		t.Errorf("redelivery to a broken function = %+v", inv)
	}
	waitFor(t, 5*time.Second, "the message to be dead-lettered", func() bool { _, _, _, dead := b.counts(); return dead == 1 })
	if err := hs.h.WaitReady(t.Context()); err == nil {
		t.Error("WaitReady succeeded on a broken handler")
	}
	if s := hs.h.Stats(); s.Restarts != 0 || s.WorkerErrors != 0 || s.HandlerStarts != 1 || hs.h.HandlerPID() != 0 {
		t.Errorf("stats = %+v, pid %d", s, hs.h.HandlerPID())
	}
	if err := hs.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestHostExit200IsACleanRestart(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("once:crash 200")
	if inv := hs.nextWhere(10*time.Second, "delivery 2", delivery(2)); inv.Outcome != OutcomeSuccess {
		t.Errorf("redelivery = %+v", inv)
	}
	if s := hs.h.Stats(); s.Restarts != 1 || s.WorkerErrors != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestHostStopsAfterThreeWorkerErrors(t *testing.T) {
	for name, settings := range map[string]map[string]string{
		"non-zero exits":    {"FAKE_EXIT_AT_START": "1"},
		"readiness timeout": {"FAKE_NEVER_LISTEN": "1"},
	} {
		t.Run(name, func(t *testing.T) {
			b := newFakeBroker(10, time.Minute)
			hs := newHarness(t, makeApp(t, appSpec{settings: settings}), func(o *Options) { o.ReadyTimeout = 200 * time.Millisecond })
			hs.useBroker(b)
			hs.start()
			select {
			case err := <-hs.done:
				hs.stopped = true
				if err == nil || !strings.Contains(err.Error(), "Exceeded http worker restart retry count") {
					t.Errorf("Run = %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the host did not stop")
			}
			if s := hs.h.Stats(); s.WorkerErrors != 3 || s.HandlerStarts != 3 {
				t.Errorf("stats = %+v", s)
			}
			for _, ev := range hs.stdout.events("start") {
				if err := syscall.Kill(int(ev["pid"].(float64)), 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("handler %v left behind", ev["pid"])
				}
			}
		})
	}
}

func TestHostRespectsMaxConcurrentCalls(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{maxConcurrent: 3}), nil)
	hs.useBroker(b)
	hs.start()
	for range 9 {
		b.send("sleep 200ms")
	}
	for range 9 {
		if inv := hs.next(10 * time.Second); inv.Outcome != OutcomeSuccess {
			t.Errorf("invocation = %+v", inv)
		}
	}
	waitFor(t, 5*time.Second, "the handler's invocation lines", func() bool { return len(hs.stdout.events("invocation")) == 9 })
	b.mu.Lock()
	maxLocked := b.maxLocked
	b.mu.Unlock()
	maxSeen := 0.0
	for _, e := range hs.stdout.events("invocation") {
		maxSeen = max(maxSeen, e["inFlight"].(float64))
	}
	if maxLocked != 3 || maxSeen != 3 {
		t.Errorf("at most %d messages locked and %v concurrent requests; want exactly 3 of each", maxLocked, maxSeen)
	}
}

func TestHostRenewsLocksWithinTheLimit(t *testing.T) {
	b := newFakeBroker(10, 200*time.Millisecond)
	hs := newHarness(t, makeApp(t, appSpec{lockRenewal: "00:00:00.6"}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("sleep 1200ms")
	inv := hs.next(10 * time.Second)
	// Renewals run every ~100 ms (half the remaining 200 ms lock) and stop at 600 ms.
	if inv.LockRenewals < 3 || inv.LockRenewals > 7 {
		t.Errorf("%d lock renewals in a 1.2 s invocation with a 200 ms lock and a 600 ms renewal limit", inv.LockRenewals)
	}
	if inv.Outcome != OutcomeSuccess {
		t.Errorf("invocation = %+v", inv)
	}
}

// A stop lets in-flight invocations finish, then kills the handler: the real host never sends SIGTERM.
// The host stops renewing a message's lock at the first error Service Bus reports as not transient, and
// retries transient ones (docs/functions-host.md §6.3).
func TestHostLockRenewalStopsOnANonTransientError(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		wantCalls func(int) bool
	}{
		{"lock lost", &azservicebus.Error{Code: azservicebus.CodeLockLost}, func(n int) bool { return n == 1 }},
		{"unauthorized", &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}, func(n int) bool { return n == 1 }},
		{"not found", &azservicebus.Error{Code: azservicebus.CodeNotFound}, func(n int) bool { return n == 1 }},
		{"connection lost", &azservicebus.Error{Code: azservicebus.CodeConnectionLost}, func(n int) bool { return n >= 2 }},
		{"timeout", &azservicebus.Error{Code: azservicebus.CodeTimeout}, func(n int) bool { return n >= 2 }},
		{"not a Service Bus error", errors.New("read tcp: connection reset by peer"), func(n int) bool { return n >= 2 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newFakeBroker(10, 200*time.Millisecond)
			b.renewErrs = []error{c.err}
			hs := newHarness(t, makeApp(t, appSpec{}), nil)
			hs.useBroker(b)
			hs.start()
			b.send("sleep 1500ms") // long enough for a retry one second after the failure
			inv := hs.next(10 * time.Second)
			b.mu.Lock()
			calls := b.renewCalls
			b.mu.Unlock()
			if !c.wantCalls(calls) || inv.Outcome != OutcomeSuccess {
				t.Errorf("%d renewal calls, invocation %+v", calls, inv)
			}
		})
	}
}

func TestHostStopDrainsThenKills(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("sleep 500ms")
	waitFor(t, 10*time.Second, "the handler to receive the message", func() bool { return len(hs.stdout.events("invocation")) == 1 })
	pid := hs.h.HandlerPID()
	start := time.Now()
	if err := hs.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if inv := hs.next(time.Second); inv.Outcome != OutcomeSuccess || inv.Settlement != SettlementCompleted {
		t.Errorf("in-flight invocation at stop = %+v", inv)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("stop took %s", time.Since(start))
	}
	if n := len(hs.stdout.events("sigterm")); n != 0 {
		t.Errorf("the handler got SIGTERM %d times; the real host only kills it", n)
	}
	if !strings.Contains(hs.log.buf.String(), "killing it, as the host disposes its worker") {
		t.Error("the kill was not logged")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("handler %d left behind: %v", pid, err)
	}
}

func TestHostStopAbandonsUndrainedThenKills(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), func(o *Options) {
		o.DrainTimeout = 200 * time.Millisecond
	})
	hs.useBroker(b)
	hs.start()
	b.send("sleep 30s")
	waitFor(t, 10*time.Second, "the handler to receive the message", func() bool { return len(hs.stdout.events("invocation")) == 1 })
	pid := hs.h.HandlerPID()
	if err := hs.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if inv := hs.next(time.Second); inv.Outcome != OutcomeUnavailable || inv.Settlement != SettlementAbandoned {
		t.Errorf("undrained invocation = %+v", inv)
	}
	if queued, _, _, _ := b.counts(); queued != 1 {
		t.Errorf("the abandoned message is not back in the queue (%d queued)", queued)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("handler %d left behind: %v", pid, err)
	}
}

func TestHostLogsHandlerOutputLevels(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("warn")
	hs.next(10 * time.Second)
	waitFor(t, 5*time.Second, "the handler's lines", func() bool {
		return len(hs.stdout.events("invocation")) == 1 && strings.Contains(hs.stderr.String(), "warning")
	})
	log := hs.log.buf.String()
	if !strings.Contains(log, "Warning Host.Function.Console: fakehandler: warning:") {
		t.Error("a stderr line with \"warn\" was not logged as Warning")
	}
	if !strings.Contains(log, `Information Host.Function.Console: {"args":`) {
		t.Error("stdout was not logged as Information")
	}
	if !strings.Contains(hs.stderr.String(), "fakehandler: warning:") {
		t.Error("HandlerStderr did not receive the line")
	}
}

func TestHostBindingErrors(t *testing.T) {
	b := newFakeBroker(2, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(b)
	hs.start()
	b.send("ok")
	if inv := hs.next(10 * time.Second); inv.Outcome != OutcomeSuccess {
		t.Errorf("binary trigger: %+v", inv)
	}
	waitFor(t, 5*time.Second, "the handler's invocation line", func() bool { return len(hs.stdout.events("invocation")) == 1 })
	b.mu.Lock()
	b.seq++
	b.queue = append(b.queue, &azservicebus.ReceivedMessage{MessageID: "value-body", SequenceNumber: ptr(b.seq),
		RawAMQPMessage: &azservicebus.AMQPAnnotatedMessage{Body: azservicebus.AMQPAnnotatedMessageBody{Value: int64(42)}}})
	b.signal()
	b.mu.Unlock()
	inv := hs.next(10 * time.Second)
	if inv.Outcome != OutcomeBinding || inv.Settlement != SettlementAbandoned || inv.HandlerPID != 0 {
		t.Errorf("AMQP value body = %+v", inv)
	}
	if n := len(hs.stdout.events("invocation")); n != 1 {
		t.Errorf("the handler was called %d times; a binding failure must not reach it", n)
	}
}

func TestHostRunFailsWhenTheTriggerCannotConnect(t *testing.T) {
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(nil)
	hs.start()
	select {
	case err := <-hs.done:
		hs.stopped = true
		if !errors.Is(err, errNoBroker) {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	for _, ev := range hs.stdout.events("start") {
		if err := syscall.Kill(int(ev["pid"].(float64)), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("handler %v left behind", ev["pid"])
		}
	}
}

func TestHostRunTwice(t *testing.T) {
	hs := newHarness(t, makeApp(t, appSpec{}), nil)
	hs.useBroker(newFakeBroker(10, time.Minute))
	hs.start()
	if err := hs.h.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := hs.h.Run(t.Context()); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestHostStopDoesNotWaitForAHandlerThatNeverGotReady(t *testing.T) {
	b := newFakeBroker(10, time.Minute)
	hs := newHarness(t, makeApp(t, appSpec{settings: map[string]string{"FAKE_START_DELAY": "1m"}}), func(o *Options) {
		o.ReadyTimeout = time.Minute
		o.DrainTimeout = time.Minute
	})
	hs.useBroker(b)
	hs.start()
	b.send("ok")
	waitFor(t, 5*time.Second, "the message to be received", func() bool { return hs.h.Stats().InFlight == 1 })
	start := time.Now()
	if err := hs.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %s", d)
	}
	if inv := hs.next(time.Second); inv.Outcome != OutcomeUnavailable || inv.Settlement != SettlementAbandoned {
		t.Errorf("invocation = %+v", inv)
	}
}
