// Package funcproto speaks the Azure Functions custom-handler protocol for a Service Bus trigger and a timer
// trigger, as the real host speaks it (docs/functions-host.md §4, §5): it decodes the host's invocation
// request, with all of its quirks, and encodes the only kind of answer the host can use.
//
// The quirks, each handled here so no other package has to know them:
//   - every Data and Metadata value is decoded per key from json.RawMessage;
//   - strings are JSON-encoded twice ("\"abc\""), integers arrive as JSON strings ("5");
//   - DateTime values have no zone ("2024-05-01T10:15:30", UTC), DateTimeOffset values do (+00:00);
//   - with "dataType": "binary" the message body is standard base64; without it, a JSON-encoded string,
//     and the host also copies a JSON body's fields into Metadata (they are ignored here);
//   - a success answer must be 2xx, application/json, and a non-empty JSON object: an empty body, null or
//     204 makes the real host wait until functionTimeout and then kill the handler.
package funcproto

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/message"
)

// MaxInvocationSize bounds the request body read from the host. It is not the purge request's limit (64
// KiB, which package purge enforces with a clear InvalidMessage): every message the namespace can hold
// must be decoded, or the handler could not secure it and the host would redeliver it until Service Bus
// dead-letters it. Premium's default maximum of 1 MB, base64-encoded (4/3), with the host's metadata —
// in string mode a JSON body's fields are copied into Metadata too — stays well below 4 MiB.
const MaxInvocationSize = 4 << 20

// Invocation is the host's request body: {"Data": {...}, "Metadata": {...}}. Metadata holds the keys this
// package reads (below); the host sends many more (the receiver, the client, sys), which are skipped
// without being kept.
type Invocation struct {
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
}

// envelope is what DecodeInvocation reads of the host's body in binary mode: a struct, so that encoding/json
// skips the metadata nobody reads instead of allocating each value (half the decode time of a real
// envelope). encoding/json matches struct fields case-insensitively, which is safe only while the keys
// are the host's own: in string mode the host also copies a JSON body's fields into Metadata (a request's
// "correlationId" would then match CorrelationId), so that mode is decoded key by key, exactly.
type envelope struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata *struct {
		MessageID             json.RawMessage `json:"MessageId"`
		CorrelationID         json.RawMessage `json:"CorrelationId"`
		ContentType           json.RawMessage `json:"ContentType"`
		DeliveryCount         json.RawMessage `json:"DeliveryCount"`
		SequenceNumber        json.RawMessage `json:"SequenceNumber"`
		EnqueuedTime          json.RawMessage `json:"EnqueuedTime"`
		EnqueuedTimeUtc       json.RawMessage `json:"EnqueuedTimeUtc"`
		ApplicationProperties json.RawMessage `json:"ApplicationProperties"`
		UserProperties        json.RawMessage `json:"UserProperties"`
	} `json:"Metadata"`
}

// metadataKeys are the keys of envelope.Metadata, in its field order.
var metadataKeys = []string{"MessageId", "CorrelationId", "ContentType", "DeliveryCount", "SequenceNumber", "EnqueuedTime",
	"EnqueuedTimeUtc", "ApplicationProperties", "UserProperties"}

// ErrInvalidInvocation is wrapped by errors about the envelope itself (not about the message inside it).
var ErrInvalidInvocation = errors.New("invalid invocation request")

// DecodeInvocation reads and decodes one invocation request body.
func DecodeInvocation(r io.Reader) (*Invocation, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxInvocationSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", ErrInvalidInvocation, err)
	}
	if len(body) > MaxInvocationSize {
		return nil, fmt.Errorf("%w: the body exceeds %d bytes", ErrInvalidInvocation, MaxInvocationSize)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInvocation, err)
	}
	if env.Data == nil {
		return nil, fmt.Errorf("%w: no \"Data\" object", ErrInvalidInvocation)
	}
	inv := &Invocation{Data: env.Data, Metadata: make(map[string]json.RawMessage, len(metadataKeys))}
	if !binaryMode(env.Data) {
		var exact struct {
			Metadata map[string]json.RawMessage `json:"Metadata"`
		}
		if err := json.Unmarshal(body, &exact); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidInvocation, err)
		}
		if exact.Metadata != nil {
			inv.Metadata = exact.Metadata
		}
		return inv, nil
	}
	if m := env.Metadata; m != nil {
		for i, v := range []json.RawMessage{m.MessageID, m.CorrelationID, m.ContentType, m.DeliveryCount, m.SequenceNumber,
			m.EnqueuedTime, m.EnqueuedTimeUtc, m.ApplicationProperties, m.UserProperties} {
			if v != nil {
				inv.Metadata[metadataKeys[i]] = v
			}
		}
	}
	return inv, nil
}

// binaryMode reports whether every Data value is a base64 string (dataType binary), so Metadata holds only
// the host's own keys.
func binaryMode(data map[string]json.RawMessage) bool {
	for _, v := range data {
		if len(v) < 2 || v[0] != '"' || v[1] == '\\' {
			return false
		}
	}
	return true
}

// ServiceBusMessage extracts the trigger message named binding (the trigger's "name" in function.json).
// Application properties keep their JSON types: numbers are float64, strings string, booleans bool.
func (inv *Invocation) ServiceBusMessage(binding string) (*message.Delivery, error) {
	raw, ok := inv.Data[binding]
	if !ok {
		return nil, fmt.Errorf("%w: Data has no %q entry (is the trigger binding named %q in function.json?)", ErrInvalidInvocation, binding, binding)
	}
	body, err := decodeBody(raw)
	if err != nil {
		return nil, err
	}
	m := &message.Delivery{Body: body}
	m.MessageID = inv.String("MessageId")
	m.CorrelationID = inv.String("CorrelationId")
	m.ContentType = inv.String("ContentType")
	if n, ok := inv.Int("DeliveryCount"); ok {
		m.DeliveryCount = int(n)
	}
	if n, ok := inv.Int("SequenceNumber"); ok {
		m.SequenceNumber = n
	}
	if t, ok := inv.Time("EnqueuedTime"); ok {
		m.EnqueuedTime = t
	} else if t, ok := inv.Time("EnqueuedTimeUtc"); ok {
		m.EnqueuedTime = t
	}
	m.Properties = inv.Object("ApplicationProperties")
	if m.Properties == nil {
		m.Properties = inv.Object("UserProperties")
	}
	return m, nil
}

// decodeBody turns Data.<binding> into the message bytes. In binary mode the value is a base64 string; in
// string mode it is a JSON-encoded string (it starts with a quote, which base64 never does).
func decodeBody(raw json.RawMessage) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: the trigger value is not a string (is \"cardinality\": \"one\" set?)", ErrInvalidInvocation)
	}
	if strings.HasPrefix(s, `"`) {
		var text string
		if err := json.Unmarshal([]byte(s), &text); err != nil {
			return nil, fmt.Errorf("%w: the trigger value starts with a quote but is not a JSON string", ErrInvalidInvocation)
		}
		return []byte(text), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: the trigger value is neither base64 (\"dataType\": \"binary\") nor a JSON string: %v", ErrInvalidInvocation, err)
	}
	return b, nil
}

// String returns a Metadata string, undoing the host's double encoding; "" when absent or not a string.
func (inv *Invocation) String(key string) string {
	raw, ok := inv.Metadata[key]
	if !ok {
		return ""
	}
	if s, ok := plainDoubleEncoded(raw); ok {
		return s
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	var inner string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
		return inner
	}
	return s
}

// plainDoubleEncoded reads the common case of the host's double encoding without a JSON decoder: "\"abc\""
// (or "abc") where abc holds no escape, which is every id and content type the host sends.
func plainDoubleEncoded(raw []byte) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	inner := raw[1 : n-1]
	if len(inner) >= 4 && inner[0] == '\\' && inner[1] == '"' && inner[len(inner)-2] == '\\' && inner[len(inner)-1] == '"' {
		inner = inner[2 : len(inner)-2]
	}
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(inner), true
}

// Int returns a Metadata integer, which the host sends as a JSON string ("5"); a bare number is accepted.
func (inv *Invocation) Int(key string) (int64, bool) {
	raw, ok := inv.Metadata[key]
	if !ok {
		return 0, false
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	s := inv.String(key)
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// Time returns a Metadata time in UTC. DateTimeOffset values carry an offset; DateTime values have none
// and are UTC (host issue #6997).
func (inv *Invocation) Time(key string) (time.Time, bool) {
	s := strings.TrimSpace(inv.String(key))
	if s == "" {
		return time.Time{}, false
	}
	return ParseHostTime(s)
}

// ParseHostTime parses the time formats the host produces: RFC 3339 (with Z or an offset) or the zone-less
// "2006-01-02T15:04:05[.fffffff]" form, read as UTC.
func ParseHostTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.9999999", s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// Object returns a Metadata object (ApplicationProperties arrive as real JSON objects), or nil.
func (inv *Invocation) Object(key string) map[string]any {
	raw, ok := inv.Metadata[key]
	if !ok {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		return m
	}
	// Older hosts sent objects as JSON strings (host issue #5815).
	var s string
	if json.Unmarshal(raw, &s) == nil && json.Unmarshal([]byte(s), &m) == nil {
		return m
	}
	return nil
}

// Response is the answer body the host reads on a 2xx status.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// WriteResponse writes status and a JSON object body. It always sends a non-empty object with
// Content-Type application/json, the only answer the host can consume without hanging.
func WriteResponse(w http.ResponseWriter, status int, resp Response) {
	if resp.Outputs == nil {
		resp.Outputs = map[string]any{}
	}
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	b, err := marshalResponse(resp)
	if err != nil {
		b = []byte(`{"Outputs":{},"Logs":[],"ReturnValue":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// marshalResponse is json.Marshal(resp), byte for byte, without reflection for the answer every invocation
// gets (no outputs, no return value, log lines): each line is encoded as encoding/json encodes a string.
func marshalResponse(resp Response) ([]byte, error) {
	if len(resp.Outputs) != 0 || resp.ReturnValue != nil {
		return json.Marshal(resp)
	}
	b := make([]byte, 0, 64+len(resp.Logs)*512)
	b = append(b, `{"Outputs":{},"Logs":[`...)
	for i, line := range resp.Logs {
		if i > 0 {
			b = append(b, ',')
		}
		q, err := json.Marshal(line)
		if err != nil {
			return nil, err
		}
		b = append(b, q...)
	}
	return append(b, `],"ReturnValue":null}`...), nil
}

// Timer is what the host says about a timer trigger's invocation (Data.<binding>, a TimerInfo;
// docs/functions-host.md §4.6). Times are UTC; a zero time means the host did not send it, or sent text
// that could not be read: a bad timestamp never fails the invocation.
type Timer struct {
	// IsPastDue is true when the invocation runs later than scheduled (an occurrence was missed while the
	// app was not running).
	IsPastDue bool
	// AdjustForDST is Schedule.AdjustForDST.
	AdjustForDST bool
	// Monitored is true when ScheduleStatus was sent (schedule monitoring on); Last, Next and LastUpdated
	// are its fields. Last is zero before the first run (the host sends 0001-01-01T00:00:00).
	Monitored               bool
	Last, Next, LastUpdated time.Time
}

// TimerTrigger extracts the timer trigger named binding. Only a missing or non-object value is an error
// (the binding name does not match function.json): every field inside is read leniently, because the host
// has sent timestamps handlers could not parse (host issue #7391) and a timer is not retried.
func (inv *Invocation) TimerTrigger(binding string) (Timer, error) {
	raw, ok := inv.Data[binding]
	if !ok {
		return Timer{}, fmt.Errorf("%w: Data has no %q entry (is the timer binding named %q in function.json?)", ErrInvalidInvocation, binding, binding)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		// Objects used to arrive as JSON strings (host issue #5815).
		var s string
		if json.Unmarshal(raw, &s) != nil || json.Unmarshal([]byte(s), &obj) != nil {
			return Timer{}, fmt.Errorf("%w: Data.%s is not a TimerInfo object", ErrInvalidInvocation, binding)
		}
	}
	if obj == nil {
		return Timer{}, fmt.Errorf("%w: Data.%s is null, not a TimerInfo object", ErrInvalidInvocation, binding)
	}
	field := func(m map[string]json.RawMessage, name string) json.RawMessage {
		for k, v := range m {
			if strings.EqualFold(k, name) { // Newtonsoft matches names case-insensitively; so do we
				return v
			}
		}
		return nil
	}
	var t Timer
	t.IsPastDue = lenientBool(field(obj, "IsPastDue"))
	var sched map[string]json.RawMessage
	if json.Unmarshal(field(obj, "Schedule"), &sched) == nil {
		t.AdjustForDST = lenientBool(field(sched, "AdjustForDST"))
	}
	var status map[string]json.RawMessage
	if json.Unmarshal(field(obj, "ScheduleStatus"), &status) == nil && status != nil {
		t.Monitored = true
		t.Last = lenientTime(field(status, "Last"))
		t.Next = lenientTime(field(status, "Next"))
		t.LastUpdated = lenientTime(field(status, "LastUpdated"))
	}
	return t, nil
}

// lenientBool reads true, "true" or "True" (a value double-encoded as text); anything else is false.
func lenientBool(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		s = strings.Trim(strings.TrimSpace(s), `"`)
		return strings.EqualFold(s, "true")
	}
	return false
}

// lenientTime reads a .NET DateTime or DateTimeOffset as text (with or without a zone, any precision),
// in UTC; DateTime.MinValue and anything unreadable are the zero time.
func lenientTime(raw json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	s = strings.Trim(strings.TrimSpace(s), `"`)
	t, ok := ParseHostTime(s)
	if !ok {
		for _, layout := range []string{"2006-01-02T15:04:05.9999999-07:00", "2006-01-02 15:04:05Z07:00", "1/2/2006 3:04:05 PM"} {
			if p, err := time.Parse(layout, s); err == nil {
				t, ok = p.UTC(), true
				break
			}
		}
	}
	if !ok || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
