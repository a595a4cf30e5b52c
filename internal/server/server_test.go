package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/internal/purge"
	"github.com/entra-purge/entra-purge/internal/purge/purgetest"
)

const gid = "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"

type sent struct {
	queue string
	msg   message.Outgoing
}

type fakeBus struct {
	mu   sync.Mutex
	sent []sent
	fail error
}

func (f *fakeBus) Send(_ context.Context, q string, m message.Outgoing) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, sent{q, m})
	return nil
}

// dir is the shared fake directory holding obj, failing purges with purgeErr (when not nil), and answering
// with these request-ids.
func dir(obj directory.DeletedObject, purgeErr error) *purgetest.Directory {
	return &purgetest.Directory{Object: obj, PurgeErr: purgeErr, GetRequestID: "rid-get", PurgeRequestID: "rid-del"}
}

func user() directory.DeletedObject { return directory.DeletedObject{Type: directory.User} }

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newServer(d *purgetest.Directory, b *fakeBus, dry bool) (*Server, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	p := purge.NewProcessor(d, purge.Policy{
		AllowedTypes: []directory.Type{directory.User}, Verify: true, MaxAttempts: 3, NotFoundGrace: 15 * time.Minute,
		RetryBaseDelay: 30 * time.Second, RetryMaxDelay: 15 * time.Minute, DryRun: dry,
	}, &purge.ProcessorOptions{Now: func() time.Time { return now }, Jitter: func() float64 { return 0.5 }})
	return New(p, b, message.Queues{Trigger: "purge-requests", Failed: "purge-failed"}, &Options{Timeout: 10 * time.Second,
		SettleReserve: 3 * time.Second, Log: &out, Stderr: &errOut, Level: zerolog.InfoLevel, Now: func() time.Time { return now }}), &out, &errOut
}

func invocation(body string, props string) string {
	if props == "" {
		props = "{}"
	}
	return `{"Data":{"message":"` + base64.StdEncoding.EncodeToString([]byte(body)) + `"},"Metadata":{"DeliveryCount":"1",` +
		`"MessageId":"\"msg-1\"","CorrelationId":"\"TKT-42\"","EnqueuedTime":"2026-11-28T11:59:00+00:00","ApplicationProperties":` + props + `}}`
}

func post(s *Server, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/purge", strings.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-1")
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func logs(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var resp struct{ Logs []string }
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Logs) != 1 {
		t.Fatalf("answer %s", rec.Body)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(resp.Logs[0]), &line); err != nil {
		t.Fatal(err)
	}
	return line
}

func TestReadiness(t *testing.T) {
	s, _, _ := newServer(dir(directory.DeletedObject{}, nil), &fakeBus{}, false)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || rec.Body.Len() == 0 {
		t.Fatalf("readiness %d %q", rec.Code, rec.Body)
	}
}

func TestPurgedLogLine(t *testing.T) {
	d, b := dir(user(), nil), &fakeBus{}
	s, out, _ := newServer(d, b, false)
	rec := post(s, invocation(`{"id":"`+gid+`","reason":"leaver","requestedBy":"hr-flow","correlationId":"TKT-42"}`, ""))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	line := logs(t, rec)
	for k, v := range map[string]any{"outcome": "purged", "objectId": gid, "messageId": "msg-1", "deliveryCount": 1.0, "attempt": 1.0,
		"graphStatus": 204.0, "graphRequestId": "rid-del", "reason": "leaver", "requestedBy": "hr-flow", "correlationId": "TKT-42",
		"invocationId": "inv-1", "level": "info"} {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["durationMs"]; !ok {
		t.Error("no durationMs")
	}
	if len(b.sent) != 0 || !strings.Contains(out.String(), `"outcome":"purged"`) {
		t.Errorf("sent %d; stdout %s", len(b.sent), out)
	}
}

func TestFailureGoesToFailureQueue(t *testing.T) {
	b := &fakeBus{}
	s, _, _ := newServer(dir(directory.DeletedObject{}, nil), b, false)
	rec := post(s, invocation("../users/x", ""))
	if rec.Code != 200 || len(b.sent) != 1 || b.sent[0].queue != "purge-failed" {
		t.Fatalf("answer %d sent %+v", rec.Code, b.sent)
	}
	p := b.sent[0].msg.Properties
	if p[message.PropDeadLetterReason] != "InvalidMessage" || string(b.sent[0].msg.Body) != "../users/x" || p[message.PropOriginalMessageID] != "msg-1" {
		t.Errorf("failure copy %v %q", p, b.sent[0].msg.Body)
	}
	if line := logs(t, rec); line["deadLetterReason"] != "InvalidMessage" || line["level"] != "error" {
		t.Errorf("line %v", line)
	}
}

func TestRetryCopyCarriesBookkeeping(t *testing.T) {
	b := &fakeBus{}
	s, _, _ := newServer(dir(user(), purgetest.Err(directory.Unavailable, 503, "", 0)), b, false)
	rec := post(s, invocation(gid, `{"PurgeAttempt":2,"PurgeFirstRequested":"2026-11-28T11:00:00Z","OriginalMessageId":"first"}`))
	if rec.Code != 200 || len(b.sent) != 1 || b.sent[0].queue != "purge-requests" {
		t.Fatalf("answer %d sent %+v", rec.Code, b.sent)
	}
	m := b.sent[0].msg
	if m.Properties[message.PropAttempt] != int64(3) || m.Properties[message.PropFirstRequested] != "2026-11-28T11:00:00Z" ||
		m.Properties[message.PropOriginalMessageID] != "first" || !m.ScheduledAt.Equal(now.Add(time.Minute)) {
		t.Errorf("retry copy %v at %v", m.Properties, m.ScheduledAt)
	}
	if line := logs(t, rec); line["attempt"] != 2.0 || line["nextAttempt"] != 3.0 || line["originalMessageId"] != "first" {
		t.Errorf("line %v", line)
	}
}

func TestNotSecuredAnswers500WithReasonOnStderr(t *testing.T) {
	b := &fakeBus{fail: errors.New("amqp:not-found: queue purge-failed does not exist")}
	s, _, errOut := newServer(dir(directory.DeletedObject{}, nil), b, false)
	rec := post(s, invocation("not-an-id", ""))
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.Len() == 0 {
		t.Fatalf("answer %d %q", rec.Code, rec.Body)
	}
	if !strings.Contains(errOut.String(), "not secured") || !strings.Contains(errOut.String(), "purge-failed does not exist") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestBrokenEnvelopeAnswers500(t *testing.T) {
	s, _, errOut := newServer(dir(directory.DeletedObject{}, nil), &fakeBus{}, false)
	if rec := post(s, `{"Data":{}}`); rec.Code != 500 || !strings.Contains(errOut.String(), "abandon") {
		t.Fatalf("answer %d, stderr %q", rec.Code, errOut)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	for _, body := range []string{gid, "bad id"} {
		b := &fakeBus{}
		d := dir(user(), nil)
		s, _, _ := newServer(d, b, true)
		rec := post(s, invocation(body, ""))
		if rec.Code != 200 || len(b.sent) != 0 || d.Purges() != 0 {
			t.Fatalf("%s: answer %d sent %d deletes %d", body, rec.Code, len(b.sent), d.Purges())
		}
		if line := logs(t, rec); line["dryRun"] != true {
			t.Errorf("line %v", line)
		}
	}
}

// The names the server serves must be the ones purge/function.json declares.
func TestFunctionJSONAgrees(t *testing.T) {
	raw, err := os.ReadFile("../../" + FunctionName + "/function.json")
	if err != nil {
		t.Fatal(err)
	}
	var fj struct {
		Bindings []map[string]any `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &fj); err != nil || len(fj.Bindings) != 1 {
		t.Fatalf("function.json: %v", err)
	}
	b := fj.Bindings[0]
	if b["name"] != BindingName || b["type"] != "serviceBusTrigger" || b["dataType"] != "binary" || b["cardinality"] != "one" ||
		b["queueName"] != "%PURGE_QUEUE_NAME%" || b["connection"] != "ServiceBusConnection" {
		t.Errorf("binding %v", b)
	}
}

// Every answer to the host is a JSON object, also for methods and paths it never uses.
func TestUnknownRoutes(t *testing.T) {
	s, _, _ := newServer(dir(directory.DeletedObject{}, nil), &fakeBus{}, false)
	for _, r := range []struct{ method, path string }{{"POST", "/Purge"}, {"GET", "/purge"}, {"POST", "/sweep/x"}, {"DELETE", "/"}} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(r.method, r.path, nil))
		var obj map[string]any
		if rec.Code/100 == 2 || rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &obj) != nil || obj == nil {
			t.Errorf("%s %s = %d %q %q, want a non-2xx JSON object", r.method, r.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/Purge", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("POST /Purge = %d", rec.Code)
	}
}

// sizedBus refuses messages whose body is larger than limit, as a queue with a maximum message size does.
type sizedBus struct {
	fakeBus
	limit   int
	refused int
}

func (b *sizedBus) Send(ctx context.Context, q string, m message.Outgoing) error {
	if len(m.Body) > b.limit {
		b.refused++
		return fmt.Errorf("service bus: sending to %s: %w", q, message.ErrTooLarge)
	}
	return b.fakeBus.Send(ctx, q, m)
}

// A body too large to be a request goes to the failure queue as InvalidMessage; when the failure queue
// refuses the whole body for its size, the copy is sent cut to fit and marked, and the message is secured.
func TestOversizedBodySecuredCut(t *testing.T) {
	b := &sizedBus{limit: 256 << 10}
	s, _, _ := newServer(dir(directory.DeletedObject{}, nil), &fakeBus{}, false)
	s.pub = b
	body := strings.Repeat("x", 1_000_000)
	rec := post(s, invocation(body, ""))
	if rec.Code != 200 || b.refused != 1 || len(b.sent) != 1 || b.sent[0].queue != "purge-failed" {
		t.Fatalf("answer %d refused %d sent %d", rec.Code, b.refused, len(b.sent))
	}
	cp := b.sent[0].msg
	sum := sha256.Sum256([]byte(body))
	if len(cp.Body) != message.CutBodySize || cp.Properties[message.PropDeadLetterReason] != "InvalidMessage" ||
		cp.Properties[message.PropBodySize] != int64(1_000_000) || cp.Properties[message.PropBodySHA256] != hex.EncodeToString(sum[:]) ||
		!strings.Contains(cp.Properties[message.PropDeadLetterDescription].(string), "too large for the failure queue") {
		t.Errorf("cut copy: %d bytes, %v", len(cp.Body), cp.Properties)
	}
	if line := logs(t, rec); line["deadLetterReason"] != "InvalidMessage" || !strings.Contains(line["description"].(string), "at most 65536") {
		t.Errorf("line %v", line)
	}
}
