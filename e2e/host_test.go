package e2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/sbemu"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// hostRoot makes a function app root — host.json, purge/function.json, sweep/function.json, the handler —
// as `make package` ships it, for the host stand-in to run.
func hostRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"host.json", "purge/function.json", "sweep/function.json", "local.settings.sample.json"} {
		b, err := os.ReadFile(filepath.Join(appRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(handlerBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handler"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// outcomes follows the handler's JSON log lines by original message id.
type outcomes struct {
	io.Writer // the handler's stdout
	mu        sync.Mutex
	lines     map[string][]string
}

func newOutcomes() *outcomes {
	o := &outcomes{lines: map[string][]string{}}
	o.Writer = syncio.Lines(func(raw []byte) {
		var ev struct{ Outcome, OriginalMessageID string }
		if json.Unmarshal(raw, &ev) == nil && ev.Outcome != "" {
			o.mu.Lock()
			o.lines[ev.OriginalMessageID] = append(o.lines[ev.OriginalMessageID], ev.Outcome)
			o.mu.Unlock()
		}
	})
	return o
}

func (o *outcomes) last(id string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lines[id]
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// runHost starts the host stand-in on root with the stack's settings (and extra), the handler's stdout
// going to out, and stops it at cleanup.
func runHost(t *testing.T, root string, s *localstack.Stack, extra map[string]string, onInv func(funchost.Invocation), out io.Writer) *funchost.Host {
	t.Helper()
	return startHost(t, funchost.Options{AppRoot: root, Settings: withSettings(s, extra), HandlerStdout: out, OnInvocation: onInv})
}

// startHost runs the host stand-in with opts (its own output kept, and shown if the test fails), waits
// until the handler is ready and stops the host at cleanup.
func startHost(t *testing.T, opts funchost.Options) *funchost.Host {
	t.Helper()
	var hostLog syncio.Buffer
	opts.Stdout, opts.Stderr = &hostLog, &hostLog
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	h, err := funchost.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("host did not stop")
		}
		if t.Failed() {
			t.Logf("host log:\n%s", hostLog.String())
		}
	})
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := h.WaitReady(rctx); err != nil {
		t.Fatalf("handler not ready under the host: %v\n%s", err, hostLog.String())
	}
	return h
}

func send(t *testing.T, c *azservicebus.Client, queue string, msgs map[string]string) {
	t.Helper()
	sender, err := c.NewSender(queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	for id, body := range msgs {
		id := id
		if err := sender.SendMessage(context.Background(), &azservicebus.Message{MessageID: &id, Body: []byte(body)}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// When the handler cannot secure a message (the failure queue does not exist) it answers 500; the host
// abandons, Service Bus redelivers at once, and after MaxDeliveryCount the message sits in the trigger
// queue's own $DeadLetterQueue, body intact. Nothing is lost.
func TestHostDeadLettersWhatCannotBeSecured(t *testing.T) {
	s := startStack(t, localstack.Options{Queues: []sbemu.Queue{{Name: "purge-requests", MaxDeliveryCount: 3}}})
	var mu sync.Mutex
	var statuses []int
	out := newOutcomes()
	runHost(t, hostRoot(t), s, nil, func(inv funchost.Invocation) {
		mu.Lock()
		statuses = append(statuses, inv.StatusCode)
		mu.Unlock()
	}, out)
	c := busClient(t, s)
	send(t, c, "purge-requests", map[string]string{"poison-1": "not an object id"})

	r, err := c.NewReceiverForQueue("purge-requests", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := r.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("nothing dead-lettered: %v", err)
	}
	m := msgs[0]
	if string(m.Body) != "not an object id" || m.MessageID != "poison-1" || m.DeadLetterReason == nil || *m.DeadLetterReason != "MaxDeliveryCountExceeded" {
		t.Errorf("dead-lettered %q %s reason %v", m.Body, m.MessageID, m.DeadLetterReason)
	}
	// OnInvocation runs after the host settled the message, so the last call can trail the dead-lettering.
	for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(statuses)
		mu.Unlock()
		if n >= 3 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 3 {
		t.Errorf("handler answered %v, want three 500s", statuses)
	}
	for _, st := range statuses {
		if st != 500 {
			t.Errorf("status %d", st)
		}
	}
}

// The handler is killed in the middle of an invocation (its DELETE already reached Graph). The host
// restarts it, the message comes back, and every request still ends in exactly one place: purged, absent
// or once on the failure queue — nothing left on the queues, nothing duplicated.
func TestHandlerCrashMidInvocation(t *testing.T) {
	s := startStack(t, localstack.Options{})
	users := []graphsim.Object{deleted("user", time.Hour), deleted("user", time.Hour), deleted("user", time.Hour)}
	slow := deleted("user", time.Hour)
	s.Graph.Add(append(users, slow)...)
	// The DELETE takes effect at once but its answer comes late: the crash lands after the purge.
	s.Graph.Script(slow.ID, graphsim.Step{Method: "DELETE", Delay: 5 * time.Second})

	out := newOutcomes()
	h := runHost(t, hostRoot(t), s, map[string]string{"PURGE_NOT_FOUND_GRACE": "3s"}, nil, out)
	c := busClient(t, s)
	msgs := map[string]string{"slow": slow.ID, "bad": "not-an-id"}
	for i, u := range users {
		msgs["user-"+string(rune('a'+i))] = u.ID
	}
	send(t, c, "purge-requests", msgs)

	deadline := time.Now().Add(20 * time.Second)
	for deletes(s.Graph, slow.ID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow DELETE never reached Graph")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := h.HandlerPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	deadline = time.Now().Add(60 * time.Second)
	for {
		done := true
		for id := range msgs {
			switch out.last(id) {
			case "purged", "absent", "failed":
			default:
				done = false
			}
		}
		if done && len(peek(t, c, "purge-requests")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every request ended: %v", out.lines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h.Stats().Restarts < 1 || h.HandlerPID() == pid {
		t.Errorf("the host did not restart the handler: %+v", h.Stats())
	}
	for _, u := range append(users, slow) {
		if !s.Graph.Purged(u.ID) {
			t.Errorf("%s not purged", u.ID)
		}
	}
	if got := out.last("slow"); got != "absent" && got != "purged" {
		t.Errorf("slow request ended %q", got)
	}
	failed := receiveAll(t, c, "purge-failed", 2*time.Second)
	if len(failed) != 1 || string(failed[0].Body) != "not-an-id" {
		t.Errorf("failure queue holds %d messages", len(failed))
	}
	dlq, err := c.NewReceiverForQueue("purge-requests", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if left, _ := dlq.PeekMessages(ctx, 10, nil); len(left) != 0 {
		t.Errorf("%d messages dead-lettered", len(left))
	}
	if h.Stats().Hangs != 0 {
		t.Error("the handler gave an answer that hangs the host")
	}
}

// The handler is killed while it waits out a Retry-After in-process (the host kills its worker on shutdown
// and at functionTimeout, with no warning). The message comes back at once to the restarted handler, which
// must not call Graph again before that Retry-After has passed: the pause outlives the process.
func TestRetryAfterOutlivesAKilledHandler(t *testing.T) {
	s := startStack(t, localstack.Options{})
	user := deleted("user", time.Hour)
	s.Graph.Add(user)
	const retryAfter = 4 * time.Second // waited for in-process: not longer than the in-process limit
	s.Graph.Script(user.ID, graphsim.Step{Method: "DELETE", Status: 429, RetryAfter: "4"})

	out := newOutcomes()
	h := runHost(t, hostRoot(t), s, nil, nil, out)
	c := busClient(t, s)
	send(t, c, "purge-requests", map[string]string{"waits": user.ID})

	var throttled graphsim.Request
	poll(t, 20*time.Second, "the throttled DELETE", func() bool {
		for _, r := range s.Graph.RequestsFor(user.ID) {
			if r.Method == "DELETE" && r.Status == 429 {
				throttled = r
				return true
			}
		}
		return false
	})
	pid := h.HandlerPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	poll(t, 30*time.Second, "the purge after the restart", func() bool { return out.last("waits") == "purged" })
	if h.Stats().Restarts < 1 || h.HandlerPID() == pid {
		t.Errorf("the host did not restart the handler: %+v", h.Stats())
	}
	var later []graphsim.Request
	for _, r := range s.Graph.RequestsFor(user.ID) {
		if r.Method == "DELETE" && r.Time.After(throttled.Time) {
			later = append(later, r)
		}
	}
	if len(later) != 1 || later[0].Status != 204 {
		t.Fatalf("DELETEs after the 429: %+v", later)
	}
	if gap := later[0].Time.Sub(throttled.Time); gap < retryAfter {
		t.Errorf("the DELETE came %s after a 429 with Retry-After %s (request-id %s): the restarted handler did not honour it",
			gap, retryAfter, throttled.RequestID)
	}
	if left := peek(t, c, "purge-requests"); len(left) != 0 {
		t.Errorf("%d messages left on the trigger queue", len(left))
	}
}
