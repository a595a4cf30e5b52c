// Package e2e runs the real handler executable the way the Azure Functions host does — working directory
// the app root, settings in the environment, FUNCTIONS_CUSTOMHANDLER_PORT, readiness probe on GET / — and
// drives it with host-shaped invocations against the local stand-ins: the Graph simulator, the
// managed-identity endpoint and the Service Bus emulator. Tests assert what a user would check: which
// Graph calls were made, what landed on which queue with which properties, what the host was answered,
// and that no secret reached the output.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

var (
	handlerBin string
	appRoot    string
)

func TestMain(m *testing.M) {
	root, err := localstack.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	appRoot = root
	var remove func()
	handlerBin, remove, err = localstack.BuildTempHandler("entra-purge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	remove()
	os.Exit(code)
}

// Fast retry settings so scheduled copies come due within a test.
var fastSettings = map[string]string{
	"PURGE_RETRY_BASE_DELAY": "1s",
	"PURGE_RETRY_MAX_DELAY":  "4s",
	"PURGE_MAX_ATTEMPTS":     "3",
	"PURGE_NOT_FOUND_GRACE":  "1m",
}

func startStack(t *testing.T, opts localstack.Options) *localstack.Stack {
	t.Helper()
	if opts.Overrides == nil {
		opts.Overrides = map[string]string{}
	}
	for k, v := range fastSettings {
		if _, ok := opts.Overrides[k]; !ok {
			opts.Overrides[k] = v
		}
	}
	// The context bounds the stack's life (the emulator stops when it ends), so it lasts until cleanup.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := localstack.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting the local stack: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// handlerProc is a running handler executable.
type handlerProc struct {
	cmd    *exec.Cmd
	url    string
	stdout *syncio.Buffer
	stderr *syncio.Buffer
	done   chan struct{}
	exit   int
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startHandler launches the handler as the Functions host does and waits for its readiness probe.
func startHandler(t *testing.T, settings map[string]string) *handlerProc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(handlerBin)
	cmd.Dir = appRoot
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(port), "FUNCTIONS_CUSTOMHANDLER_WORKER_ID=" + uuid.NewString(),
		"FUNCTIONS_APP_ROOT_PATH=" + appRoot}
	for k, v := range settings {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	h := &handlerProc{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), stdout: &syncio.Buffer{}, stderr: &syncio.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = h.stdout, h.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		h.exit = cmd.ProcessState.ExitCode()
		close(h.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
		if t.Failed() {
			t.Logf("handler stdout:\n%s\nhandler stderr:\n%s", h.stdout, h.stderr)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(h.url + "/")
		if err == nil {
			resp.Body.Close()
			return h
		}
		select {
		case <-h.done:
			t.Fatalf("handler exited with %d before it was ready: %s", h.exit, h.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("handler not ready within 30 s")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitFor waits (bounded) until the buffer holds substr: a child's output reaches us through a pipe and a
// copying goroutine, so it can trail the HTTP answer by a moment.
func waitFor(t *testing.T, b *syncio.Buffer, substr string) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), substr) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// message is a trigger message as the host would hand it over.
type message struct {
	Body          []byte
	MessageID     string
	CorrelationID string
	DeliveryCount int
	Enqueued      time.Time
	Props         map[string]any
}

// invocation builds the host's request body in binary mode (docs/functions-host.md §4.2–§4.4): base64 body,
// double-encoded strings, integers as strings, DateTime without a zone, ApplicationProperties as an object.
func invocation(m message) []byte {
	if m.MessageID == "" {
		m.MessageID = uuid.NewString()
	}
	if m.DeliveryCount == 0 {
		m.DeliveryCount = 1
	}
	if m.Enqueued.IsZero() {
		m.Enqueued = time.Now().UTC()
	}
	if m.Props == nil {
		m.Props = map[string]any{}
	}
	dq := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	meta := map[string]any{
		"MessageReceiver": map[string]any{}, "MessageActions": map[string]any{},
		"DeliveryCount":         strconv.Itoa(m.DeliveryCount),
		"LockToken":             dq(uuid.NewString()),
		"EnqueuedTimeUtc":       m.Enqueued.UTC().Format("2006-01-02T15:04:05"),
		"EnqueuedTime":          m.Enqueued.UTC().Format("2006-01-02T15:04:05") + "+00:00",
		"MessageId":             dq(m.MessageID),
		"ContentType":           dq("application/json"),
		"SequenceNumber":        "1",
		"ApplicationProperties": m.Props, "UserProperties": m.Props,
		"sys": map[string]any{"MethodName": "purge", "UtcNow": time.Now().UTC().Format(time.RFC3339Nano), "RandGuid": uuid.NewString()},
	}
	if m.CorrelationID != "" {
		meta["CorrelationId"] = dq(m.CorrelationID)
	}
	b, _ := json.Marshal(map[string]any{"Data": map[string]any{"message": base64.StdEncoding.EncodeToString(m.Body)}, "Metadata": meta})
	return b
}

// fromReceived turns a message received from the emulator into what the host would pass on.
func fromReceived(rm *azservicebus.ReceivedMessage) message {
	m := message{Body: rm.Body, MessageID: rm.MessageID, DeliveryCount: int(rm.DeliveryCount), Props: map[string]any{}}
	if rm.CorrelationID != nil {
		m.CorrelationID = *rm.CorrelationID
	}
	if rm.EnqueuedTime != nil {
		m.Enqueued = *rm.EnqueuedTime
	}
	for k, v := range rm.ApplicationProperties {
		m.Props[k] = v
	}
	return m
}

type answer struct {
	Status int
	Logs   []string
	Line   map[string]any // the invocation's log line, decoded
	Body   string
}

// invoke POSTs an invocation the way the host does: chunked, with the host's headers.
func (h *handlerProc) invoke(t *testing.T, m message) answer {
	t.Helper()
	body := invocation(m)
	// An io.Reader without a known length makes net/http send Transfer-Encoding: chunked, as .NET does.
	req, _ := http.NewRequest("POST", h.url+"/purge", io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", uuid.NewString())
	req.Header.Set("X-Azure-Functions-HostVersion", "4.1037.0.0")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1037.0.0")
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("invoking the handler: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Body: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("answer Content-Type %q: the host cannot read it", ct)
	}
	var obj struct{ Logs []string }
	if err := json.Unmarshal(raw, &obj); err != nil || len(raw) == 0 || string(raw) == "null" {
		t.Fatalf("answer body %q is not a JSON object: the real host would hang", raw)
	}
	a.Logs = obj.Logs
	if len(a.Logs) > 0 {
		_ = json.Unmarshal([]byte(a.Logs[len(a.Logs)-1]), &a.Line)
	}
	return a
}

// busClient connects to the stack's emulator.
func busClient(t *testing.T, s *localstack.Stack) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(s.Bus.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// receiveAll takes (and completes) every message that arrives on queue within wait.
func receiveAll(t *testing.T, c *azservicebus.Client, queue string, wait time.Duration) []*azservicebus.ReceivedMessage {
	t.Helper()
	return receive(t, c, queue, 0, wait)
}

// receiveN waits (bounded) until n messages arrived on queue and returns them, completed.
func receiveN(t *testing.T, c *azservicebus.Client, queue string, n int, wait time.Duration) []*azservicebus.ReceivedMessage {
	t.Helper()
	out := receive(t, c, queue, n, wait)
	if len(out) < n {
		t.Fatalf("got %d of %d messages on %s within %s", len(out), n, queue, wait)
	}
	return out
}

// receive takes and completes messages from queue until it has n of them (any number when n is 0) or wait
// has passed.
func receive(t *testing.T, c *azservicebus.Client, queue string, n int, wait time.Duration) []*azservicebus.ReceivedMessage {
	t.Helper()
	r, err := c.NewReceiverForQueue(queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	var out []*azservicebus.ReceivedMessage
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && (n == 0 || len(out) < n) {
		batch := 10
		if n > 0 {
			batch = n - len(out)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		msgs, err := r.ReceiveMessages(ctx, batch, nil)
		cancel()
		if err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := r.CompleteMessage(context.Background(), m, nil); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// peek lists a queue without taking anything (scheduled messages included).
func peek(t *testing.T, c *azservicebus.Client, queue string) []*azservicebus.ReceivedMessage {
	t.Helper()
	r, err := c.NewReceiverForQueue(queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := r.PeekMessages(ctx, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// graphCalls returns "METHOD status" for each request the simulator saw for id.
func graphCalls(g *graphsim.Server, id string) []string {
	var out []string
	for _, r := range g.RequestsFor(id) {
		out = append(out, fmt.Sprintf("%s %d", r.Method, r.Status))
	}
	return out
}

// noSecrets fails when a token, the SAS key or the identity header appears in the handler's output.
func noSecrets(t *testing.T, s *localstack.Stack, outputs ...string) {
	t.Helper()
	secrets := []string{"eyJ", "SharedAccessKey=", s.Settings["IDENTITY_HEADER"]}
	if key := s.Settings["ServiceBusConnection"]; key != "" {
		for _, part := range strings.Split(key, ";") {
			if strings.HasPrefix(part, "SharedAccessKey=") {
				secrets = append(secrets, strings.TrimPrefix(part, "SharedAccessKey="))
			}
		}
	}
	for _, out := range outputs {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(out, sec) {
				t.Errorf("output contains a secret (%q…)", sec[:min(4, len(sec))])
			}
		}
	}
}

func withSettings(s *localstack.Stack, extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range s.Settings {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// runCmd runs the handler executable to completion (a subcommand, or serve when it exits on its own) with
// settings as its environment and stdin as its standard input; it returns stdout+stderr and the exit code.
func runCmd(ctx context.Context, t *testing.T, settings map[string]string, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, handlerBin, args...)
	cmd.Dir = appRoot
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(freePort(t))}
	for k, v := range settings {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out syncio.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("handler %v did not finish: %s", args, out.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}
