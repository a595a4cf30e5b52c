package funchost

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/standin/syncio"
)

// binDir holds the executables the tests build (removed when they end), fakeHandlerPath the test
// handler built once for the package.
var binDir, fakeHandlerPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "funchost-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	fakeHandlerPath = filepath.Join(dir, "fakehandler")
	cmd := exec.Command("go", "build", "-o", fakeHandlerPath, "./testdata/fakehandler")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the fake handler: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// appSpec describes a throwaway function app for one test.
type appSpec struct {
	functionTimeout string // host.json functionTimeout; empty = absent
	maxConcurrent   int
	lockRenewal     string
	settings        map[string]string // local.settings.json Values
	timer           map[string]any    // when set, a sweep/function.json with this timerTrigger binding
}

// makeApp writes host.json, purge/function.json and local.settings.json into a
// temp dir, with the fake handler linked in as ./handler (a relative
// defaultExecutablePath, as in the real app).
func makeApp(t *testing.T, s appSpec) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Symlink(fakeHandlerPath, filepath.Join(root, "handler")); err != nil {
		t.Fatal(err)
	}
	host := map[string]any{
		"version": "2.0",
		"customHandler": map[string]any{"description": map[string]any{
			"defaultExecutablePath": "handler", "workingDirectory": "", "arguments": []string{"--app", "%PURGE_QUEUE_NAME%", "%NOPE%"},
		}},
		"extensionBundle": map[string]any{"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"},
	}
	if s.functionTimeout != "" {
		host["functionTimeout"] = s.functionTimeout
	}
	sb := map[string]any{"autoCompleteMessages": true}
	if s.maxConcurrent > 0 {
		sb["maxConcurrentCalls"] = s.maxConcurrent
	}
	if s.lockRenewal != "" {
		sb["maxAutoLockRenewalDuration"] = s.lockRenewal
	}
	host["extensions"] = map[string]any{"serviceBus": sb}
	writeJSON(t, filepath.Join(root, "host.json"), host)
	if err := os.Mkdir(filepath.Join(root, "purge"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(root, "purge", "function.json"), map[string]any{"bindings": []map[string]any{{
		"name": "message", "type": "serviceBusTrigger", "direction": "in", "queueName": "%PURGE_QUEUE_NAME%",
		"connection": "ServiceBusConnection", "cardinality": "one", "dataType": "binary",
	}}})
	if s.timer != nil {
		if err := os.Mkdir(filepath.Join(root, "sweep"), 0o755); err != nil {
			t.Fatal(err)
		}
		b := map[string]any{"name": "timer", "type": "timerTrigger", "direction": "in"}
		for k, v := range s.timer {
			b[k] = v
		}
		writeJSON(t, filepath.Join(root, "sweep", "function.json"), map[string]any{"bindings": []map[string]any{b}})
	}
	values := map[string]string{"PURGE_QUEUE_NAME": "purge-requests", "FUNCTIONS_WORKER_RUNTIME": "custom"}
	for k, v := range s.settings {
		values[k] = v
	}
	writeJSON(t, filepath.Join(root, "local.settings.json"), map[string]any{"IsEncrypted": false, "Values": values})
	return root
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a goroutine-safe log sink that can pick out the fake handler's events.
type syncBuffer struct{ syncio.Buffer }

// events parses the fake handler's JSON stdout lines of one kind.
func (s *syncBuffer) events(kind string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["event"] == kind {
			out = append(out, m)
		}
	}
	return out
}

// testLog forwards host log lines to t.Log, and keeps them for assertions.
type testLog struct {
	t   *testing.T
	buf syncBuffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.buf.Write(p)
	return len(p), nil
}

// harness runs a Host for one test and records its invocations.
type harness struct {
	t       *testing.T
	h       *Host
	log     *testLog
	stdout  *syncBuffer
	stderr  *syncBuffer
	mu      sync.Mutex
	invs    []Invocation
	invCh   chan Invocation
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// newHarness creates a host for root. edit may adjust the options.
func newHarness(t *testing.T, root string, edit func(*Options)) *harness {
	t.Helper()
	hs := &harness{t: t, log: &testLog{t: t}, stdout: &syncBuffer{}, stderr: &syncBuffer{}, invCh: make(chan Invocation, 256)}
	opts := Options{
		AppRoot: root, Stdout: hs.log, Stderr: hs.log, HandlerStdout: hs.stdout, HandlerStderr: hs.stderr,
		ReadyTimeout: 5 * time.Second, DrainTimeout: 5 * time.Second, PingInterval: 50 * time.Millisecond,
		OnInvocation: func(inv Invocation) {
			hs.mu.Lock()
			hs.invs = append(hs.invs, inv)
			hs.mu.Unlock()
			hs.invCh <- inv
		},
	}
	if edit != nil {
		edit(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs.h = h
	t.Cleanup(func() {
		hs.stop()
		if t.Failed() {
			t.Logf("host log:\n%s", hs.log.buf.String())
		}
	})
	return hs
}

func (hs *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	hs.cancel = cancel
	hs.done = make(chan error, 1)
	go func() { hs.done <- hs.h.Run(ctx) }()
}

// stop cancels Run and returns its error; bounded.
func (hs *harness) stop() error {
	if hs.done == nil || hs.stopped {
		return nil
	}
	hs.stopped = true
	hs.cancel()
	select {
	case err := <-hs.done:
		return err
	case <-time.After(20 * time.Second):
		hs.t.Fatal("Run did not return within 20 s of cancellation")
		return nil
	}
}

// next waits for the next finished invocation.
func (hs *harness) next(within time.Duration) Invocation {
	hs.t.Helper()
	select {
	case inv := <-hs.invCh:
		return inv
	case <-time.After(within):
		hs.t.Fatalf("no invocation finished within %s", within)
		return Invocation{}
	}
}

// nextWhere waits for a finished invocation that satisfies pred, skipping
// others: OnInvocation runs after settlement, so a fast redelivery can report
// before the delivery that caused it.
func (hs *harness) nextWhere(within time.Duration, what string, pred func(Invocation) bool) Invocation {
	hs.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case inv := <-hs.invCh:
			if pred(inv) {
				return inv
			}
		case <-deadline:
			hs.t.Fatalf("no invocation with %s finished within %s", what, within)
			return Invocation{}
		}
	}
}

func delivery(n uint32) func(Invocation) bool {
	return func(inv Invocation) bool { return inv.DeliveryCount == n }
}

// waitFor polls cond until it holds; bounded.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
