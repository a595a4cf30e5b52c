package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/funcproto"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/internal/sweep"
)

// The sweep function's names must be the ones sweep/function.json declares.
func TestSweepFunctionJSONAgrees(t *testing.T) {
	raw, err := os.ReadFile("../../" + SweepFunctionName + "/function.json")
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
	if b["name"] != SweepBindingName || b["type"] != "timerTrigger" || b["direction"] != "in" || b["schedule"] != "%PURGE_SWEEP_SCHEDULE%" || b["runOnStartup"] != false {
		t.Errorf("binding %v", b)
	}
}

type oneType struct {
	objs []directory.DeletedObject
	err  error
}

func (o oneType) ListDeleted(_ context.Context, t directory.Type, _ string) (directory.DeletedPage, error) {
	if t != directory.User {
		return directory.DeletedPage{}, nil
	}
	return directory.DeletedPage{Objects: o.objs}, o.err
}

type batches struct {
	sent []message.Outgoing
	fail error
}

func (b *batches) SendBatch(_ context.Context, _ string, msgs []message.Outgoing) error {
	if b.fail != nil {
		return b.fail
	}
	b.sent = append(b.sent, msgs...)
	return nil
}

const timerBody = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-27T03:00:00+00:00","Next":"2026-11-29T03:00:00+00:00","LastUpdated":"2026-11-28T03:00:01+00:00"},"IsPastDue":true}},"Metadata":{"sys":{"MethodName":"sweep"}}}`

func sweepServer(l sweep.Lister, e sweep.Enqueuer, configured bool) (*Server, *strings.Builder, *strings.Builder) {
	var log, errOut strings.Builder
	var sw *sweep.Sweeper
	if configured {
		sw = sweep.New(l, e, sweep.Policy{Types: []directory.Type{directory.User, directory.Group}, After: 7 * 24 * time.Hour, Queue: "purge-requests"},
			&sweep.Options{Now: func() time.Time { return now }})
	}
	s := New(nil, nil, message.Queues{}, &Options{Log: &log, Stderr: &errOut, Now: func() time.Time { return now }, Sweep: Sweep{Sweeper: sw, Timeout: time.Minute}})
	return s, &log, &errOut
}

func postSweep(s *Server, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/"+SweepFunctionName, strings.NewReader(body))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-1")
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestSweepInvocation(t *testing.T) {
	old := directory.DeletedObject{ID: directory.MustParseObjectID(gid), Type: directory.User, DeletedDateTime: now.Add(-8 * 24 * time.Hour)}
	recent := directory.DeletedObject{ID: directory.MustParseObjectID("9f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"), Type: directory.User, DeletedDateTime: now.Add(-time.Hour)}
	q := &batches{}
	s, log, errOut := sweepServer(oneType{objs: []directory.DeletedObject{old, recent}}, q, true)
	rec := postSweep(s, timerBody)
	var resp funcproto.Response
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || len(resp.Logs) != 1 || errOut.Len() != 0 {
		t.Fatalf("answer %d %s, stderr %q", rec.Code, rec.Body, errOut)
	}
	if strings.TrimSpace(log.String()) != resp.Logs[0] {
		t.Errorf("stdout and Logs differ:\n%s\n%s", log, resp.Logs[0])
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(resp.Logs[0]), &line); err != nil {
		t.Fatal(err)
	}
	types, _ := line["types"].(map[string]any)
	user, _ := types["user"].(map[string]any)
	if line["level"] != "info" || line["sweep"] != "completed" || line["message"] != "sweep completed" || line["invocationId"] != "inv-1" ||
		line["isPastDue"] != true || line["after"] != "7d" || line["day"] != "2026-11-28" || line["listed"] != 2.0 || line["eligible"] != 1.0 ||
		line["enqueued"] != 1.0 || line["cutShort"] != false || line["scheduleNext"] != "2026-11-29T03:00:00Z" || user["pages"] != 1.0 {
		t.Errorf("line %s", resp.Logs[0])
	}
	if _, ok := line["outcome"]; ok {
		t.Error("the sweep line must not carry an outcome: purge-decision queries count those")
	}
	if sk, _ := line["skippedTypes"].(map[string]any); sk["group"] == nil {
		t.Errorf("group not reported as skipped: %s", resp.Logs[0])
	}
	if len(q.sent) != 1 || q.sent[0].MessageID != message.SweepMessageID(old.ID, now) {
		t.Errorf("sent %+v", q.sent)
	}
}

func TestSweepInvocationRefusals(t *testing.T) {
	// A missing binding, or a sweep that is not configured: 500 with the reason on stderr, nothing listed.
	for _, tc := range []struct {
		body       string
		configured bool
		want       string
	}{
		{`{"Data":{"myTimer":{}}}`, true, `Data has no "timer" entry`},
		{`not json`, true, "invalid invocation"},
		{timerBody, false, "the sweep is not configured"},
	} {
		s, log, errOut := sweepServer(oneType{err: errors.New("must not be called")}, &batches{}, tc.configured)
		rec := postSweep(s, tc.body)
		if rec.Code != 500 || !strings.Contains(errOut.String(), tc.want) || log.Len() != 0 {
			t.Errorf("%s: %d, stderr %q", tc.body, rec.Code, errOut)
		}
	}
	// A type refused for good fails the invocation (the host records a failed execution); the line is still
	// written to stdout.
	forbidden := &directory.Error{Kind: directory.Forbidden, Err: errors.New("403 Authorization_RequestDenied")}
	s, log, errOut := sweepServer(oneType{err: forbidden}, &batches{}, true)
	if rec := postSweep(s, timerBody); rec.Code != 500 || !strings.Contains(errOut.String(), "Authorization_RequestDenied") ||
		!strings.Contains(log.String(), `"level":"error"`) || !strings.Contains(log.String(), `"sweep":"failed"`) {
		t.Errorf("forbidden: %d %q %q", rec.Code, errOut, log)
	}
}
