package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
	"github.com/google/uuid"
)

var update = flag.Bool("update", false, "rewrite the request golden files in testdata/")

func ptr[T any](v T) *T { return &v }

// specMessage is the message of docs/functions-host.md §4.5.
func specMessage() *azservicebus.ReceivedMessage {
	return &azservicebus.ReceivedMessage{
		Body:                  []byte(`{"orderId":"A-1001","amount":42.5,"customer":{"id":7}}`),
		MessageID:             "5f1c2d3e4b5a69788796a5b4c3d2e1f0",
		ContentType:           ptr("application/json"),
		Subject:               ptr("order.created"),
		CorrelationID:         ptr("corr-123"),
		ApplicationProperties: map[string]any{"tenant": "contoso", "priority": int64(2)},
		DeliveryCount:         1,
		SequenceNumber:        ptr(int64(42)),
		EnqueuedTime:          ptr(time.Date(2024, 5, 1, 10, 15, 30, 123000000, time.UTC)),
		TimeToLive:            ptr(14 * 24 * time.Hour),
		LockToken:             uuid.MustParse("a0b1c2d3-e4f5-4789-abcd-ef0123456789"),
		LockedUntil:           ptr(time.Date(2024, 5, 1, 10, 16, 0, 0, time.UTC)),
	}
}

func specInput(m *azservicebus.ReceivedMessage) InvocationInput {
	return InvocationInput{
		FunctionName: "ProcessOrder",
		BindingName:  "orderMsg",
		Message:      m,
		Client: ClientInfo{
			FullyQualifiedNamespace: "contoso-sb.servicebus.windows.net",
			Identifier:              "contoso-sb.servicebus.windows.net-3f0c6a43-5d2e-4a53-9c6f-6b1d2a8e9f10",
		},
		UtcNow:   time.Date(2024, 5, 1, 10, 15, 30, 456789100, time.UTC),
		RandGuid: "0d7e4b1c-9a2f-4c3e-8b5d-1f2a3b4c5d6e",
	}
}

// goldenCases are the documented request shapes; testdata/README.md describes
// each one.
func goldenCases() map[string]InvocationInput {
	cases := map[string]InvocationInput{}

	cases["binary-json-body"] = specInput(specMessage())

	redeliv := specMessage()
	redeliv.DeliveryCount = 3
	redeliv.SequenceNumber = ptr(int64(9007199254740993))
	redeliv.ContentType, redeliv.Subject, redeliv.CorrelationID, redeliv.TimeToLive = nil, nil, nil, nil
	redeliv.ApplicationProperties = nil
	cases["binary-redelivery"] = specInput(redeliv)

	props := specMessage()
	props.ApplicationProperties = map[string]any{
		"text":      "contoso",
		"long":      int64(-9000000000),
		"int":       int32(7),
		"short":     int16(-3),
		"ubyte":     uint8(255),
		"ulong":     uint64(18446744073709551615),
		"half":      0.5,
		"whole":     float64(2),
		"huge":      1e21,
		"tiny":      0.00001,
		"single":    float32(0.1),
		"flag":      true,
		"when":      time.Date(2024, 5, 1, 10, 15, 30, 120000000, time.UTC),
		"whenExact": time.Date(2024, 5, 1, 10, 15, 30, 0, time.UTC),
		"guid":      amqp.UUID(uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")),
		"bytes":     []byte{0, 1, 2, 250},
		"symbol":    amqp.Symbol("sym"),
		"nothing":   nil,
	}
	cases["binary-application-properties"] = specInput(props)

	all := specMessage()
	all.DeadLetterSource = ptr("orders")
	all.ReplyTo = ptr("replies")
	all.To = ptr("someone")
	all.SessionID = ptr("session-1")
	all.ReplyToSessionID = ptr("reply-session")
	all.PartitionKey = ptr("pk")
	all.RawAMQPMessage = &azservicebus.AMQPAnnotatedMessage{
		Body:               azservicebus.AMQPAnnotatedMessageBody{Data: [][]byte{[]byte(`{"order`), []byte(`Id":"A-1001"}`)}},
		MessageAnnotations: map[any]any{"x-opt-via-partition-key": "via-pk"},
	}
	cases["binary-all-properties"] = specInput(all)
	return cases
}

func TestRequestGoldens(t *testing.T) {
	for name, in := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			got, err := BuildInvocationBody(in)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
			path := filepath.Join("testdata", "request-"+name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestRequestGoldens -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("request differs from %s\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

// decodeLikeAHandler decodes a request the way docs/functions-host.md (§1, §4.2) tells handler
// authors to: per key, from json.RawMessage.
func decodeLikeAHandler(t *testing.T, body []byte) (data map[string]json.RawMessage, md map[string]json.RawMessage) {
	t.Helper()
	var req struct{ Data, Metadata map[string]json.RawMessage }
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	return req.Data, req.Metadata
}

func str1(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a JSON string: %v", raw, err)
	}
	return s
}

func str2(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(str1(t, raw)), &s); err != nil {
		t.Fatalf("%s is not double-encoded: %v", raw, err)
	}
	return s
}

// TestRequestSemantics checks the rules of docs/functions-host.md §4.2–§4.4 on the
// decoded values, independently of the goldens' bytes.
func TestRequestSemantics(t *testing.T) {
	cases := goldenCases()
	body, _ := BuildInvocationBody(cases["binary-json-body"])
	if !bytes.HasPrefix(body, []byte(`{"Data":{"orderMsg":"eyJvcmRlcklkIjoiQS0xMDAxIiwiYW1vdW50Ijo0Mi41LCJjdXN0b21lciI6eyJpZCI6N319"},"Metadata":{`)) {
		t.Errorf("binary Data is not the base64 of docs/functions-host.md §4.5 (B): %s", body)
	}
	data, md := decodeLikeAHandler(t, body)
	if len(data) != 1 {
		t.Errorf("Data has %d keys", len(data))
	}
	if got := str1(t, md["DeliveryCount"]); got != "1" {
		t.Errorf("DeliveryCount = %q", got)
	}
	if got := str1(t, md["SequenceNumber"]); got != "42" {
		t.Errorf("SequenceNumber = %q", got)
	}
	for k, want := range map[string]string{"MessageId": "5f1c2d3e4b5a69788796a5b4c3d2e1f0", "ContentType": "application/json",
		"Subject": "order.created", "Label": "order.created", "CorrelationId": "corr-123", "LockToken": "a0b1c2d3-e4f5-4789-abcd-ef0123456789"} {
		if got := str2(t, md[k]); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"EnqueuedTimeUtc": "2024-05-01T10:15:30", "EnqueuedTime": "2024-05-01T10:15:30+00:00",
		"ExpiresAtUtc": "2024-05-15T10:15:30", "ExpiresAt": "2024-05-15T10:15:30+00:00"} {
		if got := str1(t, md[k]); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339, str1(t, md["EnqueuedTimeUtc"])); err == nil {
		t.Error("EnqueuedTimeUtc parses as RFC 3339; the real host's does not (issue #6997)")
	}
	var props map[string]any
	if err := json.Unmarshal(md["ApplicationProperties"], &props); err != nil || props["tenant"] != "contoso" || props["priority"] != 2.0 {
		t.Errorf("ApplicationProperties = %s (%v)", md["ApplicationProperties"], err)
	}
	if !bytes.Equal(md["ApplicationProperties"], md["UserProperties"]) {
		t.Error("UserProperties differs from ApplicationProperties")
	}
	for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions", "ReceiveActions"} {
		if string(md[k]) != "{}" {
			t.Errorf("%s = %s, want {}", k, md[k])
		}
	}
	for _, k := range []string{"ReplyTo", "To", "SessionId", "PartitionKey", "DeadLetterSource", "orderId", "RetryContext"} {
		if _, ok := md[k]; ok {
			t.Errorf("Metadata has %s; absent values and (in binary mode) body fields must not appear", k)
		}
	}
	var sys struct{ MethodName, UtcNow, RandGuid string }
	if err := json.Unmarshal(md["sys"], &sys); err != nil || sys.MethodName != "ProcessOrder" || sys.UtcNow != "2024-05-01T10:15:30.4567891Z" {
		t.Errorf("sys = %s", md["sys"])
	}
}

func TestRequestBindingErrors(t *testing.T) {
	m := specMessage()
	m.RawAMQPMessage = &azservicebus.AMQPAnnotatedMessage{Body: azservicebus.AMQPAnnotatedMessageBody{Value: "v"}}
	_, err := BuildInvocationBody(specInput(m))
	var be *BindingError
	if !errors.As(err, &be) {
		t.Errorf("binary trigger on an AMQP value body: err = %v, want a BindingError", err)
	}
	m.RawAMQPMessage.Body = azservicebus.AMQPAnnotatedMessageBody{Sequence: [][]any{{1}}}
	if _, err := BuildInvocationBody(specInput(m)); !errors.As(err, &be) {
		t.Errorf("sequence body: err = %v, want a BindingError", err)
	}
}

func TestNewInvocationRequest(t *testing.T) {
	req, err := NewInvocationRequest(t.Context(), 8090, "testFunctionName", []byte("{}"), "inv-1")
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.String() != "http://127.0.0.1:8090/testFunctionName" || req.Method != "POST" {
		t.Errorf("%s %s", req.Method, req.URL)
	}
	if req.ContentLength != -1 || len(req.TransferEncoding) != 1 || req.TransferEncoding[0] != "chunked" {
		t.Errorf("framing: length %d, transfer-encoding %v", req.ContentLength, req.TransferEncoding)
	}
	for k, want := range map[string]string{"X-Azure-Functions-InvocationId": "inv-1", "X-Azure-Functions-HostVersion": DefaultHostVersion,
		"User-Agent": "Azure-Functions-Host/" + DefaultHostVersion, "Content-Type": "application/json; charset=utf-8"} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}
