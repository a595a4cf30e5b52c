package funcproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/entra-purge/entra-purge/internal/message"
)

// The golden invocations in testdata/ follow docs/functions-host.md §4.2–§4.5: base64 bodies in binary mode,
// double-encoded strings, integers as strings, zone-less DateTimes, and body fields injected into
// Metadata in string mode.
func TestServiceBusMessageGolden(t *testing.T) {
	tests := []struct {
		file string
		want message.Delivery
	}{
		{"binary-json-body.json", message.Delivery{
			Body:      []byte(`{"id":"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b","type":"user","reason":"leaver"}`),
			MessageID: "5f1c2d3e4b5a69788796a5b4c3d2e1f0", CorrelationID: "TKT-42", ContentType: "application/json",
			DeliveryCount: 1, SequenceNumber: 42, EnqueuedTime: time.Date(2026, 11, 28, 10, 15, 30, 0, time.UTC),
			Properties: map[string]any{},
		}},
		{"binary-retry-copy.json", message.Delivery{
			Body:      []byte("  \"8F3C1A2B-4D5E-4F60-8A7B-9C0D1E2F3A4B\"\n"),
			MessageID: "2c0e7f1d-6c5a-5b3e-9d4f-0a1b2c3d4e5f", DeliveryCount: 3, SequenceNumber: 77,
			EnqueuedTime: time.Date(2026, 11, 28, 10, 20, 0, 0, time.UTC),
			Properties: map[string]any{"PurgeAttempt": 3.0, "PurgeFirstRequested": "2026-11-28T10:15:30.123Z",
				"PurgeLastError":    "graph: DELETE deletedItems/8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b: 503 Service Unavailable",
				"OriginalMessageId": "5f1c2d3e4b5a69788796a5b4c3d2e1f0", "ratio": 0.5, "final": true},
		}},
		{"string-json-body.json", message.Delivery{
			Body:      []byte(`{"id":"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b","type":"user","reason":"leaver"}`),
			MessageID: "5f1c2d3e4b5a69788796a5b4c3d2e1f0", ContentType: "application/json", DeliveryCount: 2, SequenceNumber: 42,
			EnqueuedTime: time.Date(2026, 11, 28, 10, 15, 30, 0, time.UTC),
			Properties:   map[string]any{"tenant": "contoso", "priority": 2.0},
		}},
		{"string-text-body.json", message.Delivery{
			Body: []byte("8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"), MessageID: "text-1", DeliveryCount: 1, SequenceNumber: 5,
			EnqueuedTime: time.Date(2026, 11, 28, 10, 15, 30, 0, time.UTC), Properties: map[string]any{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			inv, err := DecodeInvocation(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := inv.ServiceBusMessage("message")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for name, body := range map[string]string{
		"not json":           `nope`,
		"no data":            `{"Metadata":{}}`,
		"array data":         `{"Data":{"message":"[\"a\",\"b\"]"},"Metadata":{}}`,
		"object trigger":     `{"Data":{"message":{"id":1}},"Metadata":{}}`,
		"wrong binding name": `{"Data":{"msg":"YQ=="},"Metadata":{}}`,
		"too big":            `{"Data":{"message":"` + strings.Repeat("A", MaxInvocationSize) + `"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			inv, err := DecodeInvocation(strings.NewReader(body))
			if err == nil {
				_, err = inv.ServiceBusMessage("message")
			}
			if !errors.Is(err, ErrInvalidInvocation) {
				t.Fatalf("error %v, want ErrInvalidInvocation", err)
			}
		})
	}
}

func TestParseHostTime(t *testing.T) {
	want := time.Date(2024, 5, 1, 10, 15, 30, 0, time.UTC)
	for _, s := range []string{"2024-05-01T10:15:30", "2024-05-01T10:15:30Z", "2024-05-01T10:15:30+00:00", "2024-05-01T12:15:30+02:00"} {
		got, ok := ParseHostTime(s)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseHostTime(%q) = %v %v", s, got, ok)
		}
	}
	if got, ok := ParseHostTime("2024-05-01T10:15:30.1234567"); !ok || got.Nanosecond() != 123456700 {
		t.Errorf("fractional: %v %v", got, ok)
	}
	if _, ok := ParseHostTime("05/01/2024 10:15:30"); ok {
		t.Error("accepted a culture-specific format")
	}
}

// The host hangs on an empty body, null or a non-JSON content type (docs/functions-host.md §5.2): every answer
// must be a JSON object with Content-Type application/json.
func TestWriteResponse(t *testing.T) {
	for _, status := range []int{200, 500} {
		rec := httptest.NewRecorder()
		WriteResponse(rec, status, Response{})
		if rec.Code != status || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d content type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &obj); err != nil || obj == nil {
			t.Fatalf("body %q is not a JSON object", rec.Body)
		}
		if string(obj["Logs"]) != "[]" || string(obj["Outputs"]) != "{}" {
			t.Errorf("body %s", rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	WriteResponse(rec, 200, Response{Logs: []string{`{"outcome":"purged"}`}})
	if !bytes.Contains(rec.Body.Bytes(), []byte(`"Logs":["{\"outcome\":\"purged\"}"]`)) {
		t.Errorf("body %s", rec.Body)
	}
}

// FuzzDecodeInvocation checks two properties. Read as an envelope, any input is decoded without a panic,
// or refused with ErrInvalidInvocation. Read as a message body, the input survives the host's encoding: put
// into an envelope as the host does in binary mode (standard base64) and, for UTF-8 text, in string mode
// (a JSON string, encoded twice), it decodes to the same bytes and the same metadata. Its seed corpus (the
// goldens and a few bodies) runs in every `make test`.
func FuzzDecodeInvocation(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Data":{"message":"\"\\\"x\\\"\""},"Metadata":{"DeliveryCount":5,"EnqueuedTime":"x"}}`))
	f.Add([]byte(`{"Data":{"message":null},"Metadata":null}`))
	for _, body := range []string{"", "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b", `"quoted"`, `{"id":"x","note":"\u00e9 \\ \"q\""}`, "\x00\xff\xfe binary", "line\nbreak\t"} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		if inv, err := DecodeInvocation(bytes.NewReader(input)); err != nil {
			if !errors.Is(err, ErrInvalidInvocation) {
				t.Fatalf("unwrapped error %v", err)
			}
		} else if m, err := inv.ServiceBusMessage("message"); err != nil {
			if !errors.Is(err, ErrInvalidInvocation) {
				t.Fatalf("unwrapped error %v", err)
			}
		} else if len(m.Body) > MaxInvocationSize {
			t.Fatalf("body larger than the envelope")
		}

		if len(input) > 64<<10 {
			return
		}
		modes := []string{"binary"}
		if utf8.Valid(input) {
			modes = append(modes, "string")
		}
		for _, mode := range modes {
			inv, err := DecodeInvocation(bytes.NewReader(hostEnvelope(t, input, mode)))
			if err != nil {
				t.Fatalf("%s mode: %v", mode, err)
			}
			m, err := inv.ServiceBusMessage("message")
			if err != nil {
				t.Fatalf("%s mode: %v", mode, err)
			}
			if !bytes.Equal(m.Body, input) {
				t.Fatalf("%s mode: body %q came back as %q", mode, input, m.Body)
			}
			if m.MessageID != "m-1" || m.DeliveryCount != 3 || m.SequenceNumber != 9 || !m.EnqueuedTime.Equal(time.Date(2026, 11, 28, 10, 15, 30, 0, time.UTC)) {
				t.Fatalf("%s mode: metadata %+v", mode, m)
			}
		}
	})
}

// hostEnvelope wraps body in an invocation request as the host builds one: in binary mode the value is the
// body in standard base64; in string mode it is the body as a JSON string, JSON-encoded once more. Metadata
// strings are encoded twice, integers are strings, and the enqueue time has no zone.
func hostEnvelope(t *testing.T, body []byte, mode string) []byte {
	t.Helper()
	var value []byte
	switch mode {
	case "binary":
		value, _ = json.Marshal(base64.StdEncoding.EncodeToString(body))
	case "string":
		once, _ := json.Marshal(string(body))
		value, _ = json.Marshal(string(once))
	}
	env := `{"Data":{"message":` + string(value) + `},"Metadata":{"MessageId":"\"m-1\"","DeliveryCount":"3","SequenceNumber":"9",` +
		`"EnqueuedTimeUtc":"2026-11-28T10:15:30","ApplicationProperties":{}}}`
	if !json.Valid([]byte(env)) {
		t.Fatalf("built an invalid envelope: %s", env)
	}
	return []byte(env)
}

func BenchmarkDecodeInvocation(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "binary-json-body.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		inv, err := DecodeInvocation(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inv.ServiceBusMessage("message"); err != nil {
			b.Fatal(err)
		}
	}
}

// In string mode the host copies a JSON body's fields into Metadata: a request's own "correlationId"
// must not be taken for the message's CorrelationId (encoding/json would match it case-insensitively).
func TestStringModeBodyFieldsDoNotShadowMetadata(t *testing.T) {
	env := `{"Data":{"message":"\"{\\\"id\\\":\\\"x\\\",\\\"correlationId\\\":\\\"FROM-BODY\\\",\\\"messageid\\\":\\\"m-body\\\"}\""},` +
		`"Metadata":{"CorrelationId":"\"FROM-SERVICE-BUS\"","MessageId":"\"m-1\"","DeliveryCount":"1",` +
		`"correlationId":"\"FROM-BODY\"","messageid":"\"m-body\""}}`
	inv, err := DecodeInvocation(strings.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	m, err := inv.ServiceBusMessage("message")
	if err != nil {
		t.Fatal(err)
	}
	if m.CorrelationID != "FROM-SERVICE-BUS" || m.MessageID != "m-1" || !strings.Contains(string(m.Body), "FROM-BODY") {
		t.Errorf("correlation %q message id %q body %s", m.CorrelationID, m.MessageID, m.Body)
	}
}

// The answer is byte for byte what encoding/json makes of it, whatever the log line holds.
func FuzzMarshalResponse(f *testing.F) {
	for _, s := range []string{`{"outcome":"purged"}`, "<script>&amp;", "tab\there\nline", "\u2028\u2029", "é ü 日本", "\x00\x7f\xff", ""} {
		f.Add(s, s+"2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, r := range []Response{{Logs: []string{a}}, {Logs: []string{a, b}}, {Logs: []string{}, Outputs: map[string]any{}}} {
			want, _ := json.Marshal(Response{Outputs: map[string]any{}, Logs: r.Logs})
			got, err := marshalResponse(Response{Outputs: map[string]any{}, Logs: r.Logs})
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		}
	})
}

// The fast read of a double-encoded metadata string gives what the JSON decoder gives, or steps aside.
func FuzzMetadataString(f *testing.F) {
	for _, s := range []string{`"\"abc\""`, `"abc"`, `"\"\""`, `"\""`, `"\"ab"`, `"\"a\\\\b\""`, `"\"é\""`, `5`, `null`, `"\"\\u0041\""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := plainDoubleEncoded(raw)
		if !ok {
			return
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("fast path accepted %q, which is not a JSON string", raw)
		}
		if inner := ""; strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
			s = inner
		}
		if fast != s {
			t.Fatalf("%q: fast %q, decoder %q", raw, fast, s)
		}
	})
}

// Timer invocations (docs/functions-host.md §4.6): the documented TimerInfo shape, a first run whose Last is
// DateTime.MinValue, no ScheduleStatus when monitoring is off, the object sent as a JSON string by older
// hosts, and timestamps that cannot be read, which never fail the invocation.
func TestTimerTrigger(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, body string
		want       Timer
	}{
		{"past due (golden)", readFile(t, "timer-past-due.json"), Timer{IsPastDue: true, AdjustForDST: true, Monitored: true,
			Last: at("2026-11-27T03:00:00Z"), Next: at("2026-11-28T03:00:00Z"), LastUpdated: at("2026-11-27T03:00:04.1234567Z")}},
		{"first run (golden)", readFile(t, "timer-first-run.json"), Timer{AdjustForDST: true, Monitored: true, Next: at("2026-11-28T03:00:00Z")}},
		{"monitor off", `{"Data":{"timer":{"Schedule":{"AdjustForDST":false},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`, Timer{}},
		{"object as a string", `{"Data":{"timer":"{\"IsPastDue\":true,\"ScheduleStatus\":{\"Next\":\"2026-11-28T03:00:00\"}}"},"Metadata":{}}`,
			Timer{IsPastDue: true, Monitored: true, Next: at("2026-11-28T03:00:00Z")}},
		{"bad timestamps and text booleans", `{"Data":{"timer":{"isPastDue":"True","scheduleStatus":{"Last":"yesterday","Next":12,"LastUpdated":"11/28/2026 3:00:04 AM"}}}}`,
			Timer{IsPastDue: true, Monitored: true, LastUpdated: at("2026-11-28T03:00:04Z")}},
		{"empty object", `{"Data":{"timer":{}}}`, Timer{}},
	}
	for _, tc := range tests {
		inv, err := DecodeInvocation(strings.NewReader(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got, err := inv.TimerTrigger("timer")
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{"Data":{"myTimer":{}}}`, `{"Data":{"timer":null}}`, `{"Data":{"timer":42}}`, `{"Data":{"timer":"not json"}}`} {
		inv, err := DecodeInvocation(strings.NewReader(bad))
		if err != nil {
			t.Errorf("%s: %v", bad, err)
			continue
		}
		if _, err := inv.TimerTrigger("timer"); !errors.Is(err, ErrInvalidInvocation) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
