package funchost

// This file builds the invocation request exactly as the Azure Functions host
// builds it for a serviceBusTrigger function with cardinality "one" and dataType
// "binary" (docs/functions-host.md §4). The golden files under testdata/ are produced by it and
// double as protocol documentation for handler authors; see testdata/README.md.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
)

// DefaultHostVersion is what the stand-in reports as ScriptHost.Version: the host
// release docs/functions-host.md was written against.
const DefaultHostVersion = "4.1037.0.0"

// ClientInfo is what the host serializes for the ServiceBusClient in
// Metadata.Client.
type ClientInfo struct {
	FullyQualifiedNamespace string
	// Identifier is "<namespace>-<guid>", one per client.
	Identifier string
	// TransportType is the ServiceBusTransportType enum: 0 AmqpTcp, 1 AmqpWebSockets.
	TransportType int
	IsClosed      bool
}

// NewClientInfo returns the ClientInfo of a fresh client for namespace.
func NewClientInfo(namespace string) ClientInfo {
	return ClientInfo{FullyQualifiedNamespace: namespace, Identifier: namespace + "-" + uuid.NewString()}
}

// InvocationInput is what the host knows when it builds one request.
type InvocationInput struct {
	// FunctionName is the function folder name (sys.MethodName).
	FunctionName string
	// BindingName is the trigger binding's name, the key under Data.
	BindingName string
	Message     *azservicebus.ReceivedMessage
	Client      ClientInfo
	// UtcNow and RandGuid fill Metadata.sys; the host takes them when it binds.
	UtcNow   time.Time
	RandGuid string
}

// BindingError means the trigger value could not be bound, as for an AMQP
// value or sequence body, which the Service Bus extension cannot convert to
// binary. The real host fails such an invocation before it calls the handler.
type BindingError struct{ Reason string }

func (e *BindingError) Error() string { return "binding the trigger value failed: " + e.Reason }

// BuildInvocationBody returns the JSON body of the POST for one message:
// {"Data":{<binding>:…},"Metadata":{…}}, compact, with the value encodings of
// docs/functions-host.md §4.2–§4.4:
//
//   - Data holds standard padded base64 of the message bytes (dataType "binary").
//   - Metadata: DeliveryCount and SequenceNumber as JSON strings of the number;
//     string properties double-encoded and omitted when absent; EnqueuedTimeUtc
//     and ExpiresAtUtc at second precision without a zone; EnqueuedTime and
//     ExpiresAt with "+00:00"; ApplicationProperties/UserProperties as objects;
//     empty objects for the message-action keys; Client; sys.
func BuildInvocationBody(in InvocationInput) ([]byte, error) {
	m := in.Message
	if m == nil {
		return nil, errors.New("no message")
	}
	raw, err := triggerValue(m)
	if err != nil {
		return nil, err
	}
	data := netQuote(base64.StdEncoding.EncodeToString(raw))

	md := &orderedJSON{}
	// Binding data, in the order ServiceBusTriggerBindingStrategy adds it.
	md.set("MessageReceiver", []byte("{}"))
	md.set("MessageSession", []byte("{}"))
	md.set("MessageActions", []byte("{}"))
	md.set("SessionActions", []byte("{}"))
	md.set("ReceiveActions", []byte("{}"))
	md.set("Client", clientJSON(in.Client))
	md.set("DeliveryCount", netQuote(strconv.FormatUint(uint64(m.DeliveryCount), 10)))
	md.setString("DeadLetterSource", m.DeadLetterSource)
	md.set("LockToken", doubleEncode(uuid.UUID(m.LockToken).String()))
	enq := time.Time{}
	if m.EnqueuedTime != nil {
		enq = m.EnqueuedTime.UTC()
	}
	exp := expiresAt(m, enq)
	md.set("ExpiresAtUtc", netQuote(exp.Format(netDateTimeUnspecified)))
	md.set("ExpiresAt", netQuote(exp.Format(netDateTimeOffset)))
	md.set("EnqueuedTimeUtc", netQuote(enq.Format(netDateTimeUnspecified)))
	md.set("EnqueuedTime", netQuote(enq.Format(netDateTimeOffset)))
	if m.MessageID != "" {
		md.set("MessageId", doubleEncode(m.MessageID))
	}
	md.setString("ContentType", m.ContentType)
	md.setString("ReplyTo", m.ReplyTo)
	var seq int64
	if m.SequenceNumber != nil {
		seq = *m.SequenceNumber
	}
	md.set("SequenceNumber", netQuote(strconv.FormatInt(seq, 10)))
	md.setString("To", m.To)
	md.setString("Subject", m.Subject)
	md.setString("Label", m.Subject)
	md.setString("CorrelationId", m.CorrelationID)
	props := applicationPropertiesJSON(m.ApplicationProperties)
	md.set("ApplicationProperties", props)
	md.set("UserProperties", props)
	md.setString("SessionId", m.SessionID)
	md.setString("ReplyToSessionId", m.ReplyToSessionID)
	md.setString("PartitionKey", m.PartitionKey)
	md.setString("TransactionPartitionKey", viaPartitionKey(m))
	// The WebJobs SDK adds the system binding data.
	md.set("sys", sysJSON(in.FunctionName, in.UtcNow, in.RandGuid))

	var b bytes.Buffer
	b.WriteString(`{"Data":{`)
	b.Write(netQuote(in.BindingName))
	b.WriteByte(':')
	b.Write(data)
	b.WriteString(`},"Metadata":{`)
	first := true
	for i, k := range md.keys {
		// Keys ending in "trigger" are skipped when Metadata is built.
		if strings.HasSuffix(strings.ToLower(k), "trigger") {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(netQuote(k))
		b.WriteByte(':')
		b.Write(md.vals[i])
	}
	b.WriteString("}}")
	return b.Bytes(), nil
}

// NewInvocationRequest returns the POST the host sends for one invocation:
// http://127.0.0.1:{port}/{function}, chunked (no Content-Length, as .NET's
// ObjectContent cannot compute its length), with the host's headers.
func NewInvocationRequest(ctx context.Context, port int, functionName string, body []byte, invocationID string) (*http.Request, error) {
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/" + functionName
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, io.NopCloser(bytes.NewReader(body)))
	if err != nil {
		return nil, err
	}
	req.ContentLength = -1
	req.TransferEncoding = []string{"chunked"}
	req.Header.Set("X-Azure-Functions-InvocationId", invocationID)
	req.Header.Set("X-Azure-Functions-HostVersion", DefaultHostVersion)
	req.Header.Set("User-Agent", "Azure-Functions-Host/"+DefaultHostVersion)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	return req, nil
}

// triggerValue converts the message body as the Service Bus extension's
// MessageToByteArrayConverter does: it needs Data sections.
func triggerValue(m *azservicebus.ReceivedMessage) ([]byte, error) {
	r := m.RawAMQPMessage
	if r == nil {
		if m.Body == nil {
			return []byte{}, nil
		}
		return m.Body, nil
	}
	if len(r.Body.Data) == 0 && (r.Body.Value != nil || len(r.Body.Sequence) > 0) {
		return nil, &BindingError{Reason: "the message body is not an AMQP data body, so it cannot be bound as binary"}
	}
	data := []byte{}
	for _, d := range r.Body.Data {
		data = append(data, d...)
	}
	return data, nil
}

// expiresAt is ServiceBusReceivedMessage.ExpiresAt: the absolute expiry time when
// the broker set one, else EnqueuedTime + TimeToLive, else (no TTL, or an overflow)
// DateTimeOffset.MaxValue.
func expiresAt(m *azservicebus.ReceivedMessage, enq time.Time) time.Time {
	if r := m.RawAMQPMessage; r != nil && r.Properties != nil && r.Properties.AbsoluteExpiryTime != nil &&
		!r.Properties.AbsoluteExpiryTime.Before(enq) {
		return r.Properties.AbsoluteExpiryTime.UTC()
	}
	if m.TimeToLive != nil && *m.TimeToLive > 0 {
		if netMaxDateTime.Sub(enq) > *m.TimeToLive {
			return enq.Add(*m.TimeToLive)
		}
	}
	return netMaxDateTime
}

// viaPartitionKey is TransactionPartitionKey, the x-opt-via-partition-key
// annotation, which azservicebus does not surface as a field.
func viaPartitionKey(m *azservicebus.ReceivedMessage) *string {
	if r := m.RawAMQPMessage; r != nil {
		if v, ok := r.MessageAnnotations["x-opt-via-partition-key"].(string); ok {
			return &v
		}
	}
	return nil
}

func clientJSON(c ClientInfo) []byte {
	var b bytes.Buffer
	b.WriteString(`{"FullyQualifiedNamespace":`)
	b.Write(netQuote(c.FullyQualifiedNamespace))
	b.WriteString(`,"IsClosed":`)
	b.WriteString(strconv.FormatBool(c.IsClosed))
	b.WriteString(`,"TransportType":`)
	b.WriteString(strconv.Itoa(c.TransportType))
	b.WriteString(`,"Identifier":`)
	b.Write(netQuote(c.Identifier))
	b.WriteByte('}')
	return b.Bytes()
}

// sysJSON is SystemBindingData through JObject.FromObject: UtcNow is a UTC
// DateTime, written with up to seven fraction digits and "Z".
func sysJSON(method string, now time.Time, randGUID string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"MethodName":`)
	b.Write(netQuote(method))
	b.WriteString(`,"UtcNow":`)
	b.Write(netJSONDateTime(now))
	b.WriteString(`,"RandGuid":`)
	b.Write(netQuote(randGUID))
	b.WriteByte('}')
	return b.Bytes()
}

// applicationPropertiesJSON is JObject.FromObject(ApplicationProperties): a JSON
// object whose values keep their AMQP types. Go's map has no order; .NET's
// dictionary keeps the wire order, which azservicebus does not expose, so keys are
// sorted to keep requests (and goldens) deterministic.
func applicationPropertiesJSON(props map[string]any) []byte {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(netQuote(k))
		b.WriteByte(':')
		b.Write(amqpValueJSON(props[k]))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// amqpValueJSON writes one AMQP simple value as Newtonsoft writes the .NET value
// the AMQP library decodes it to: numbers as numbers (doubles with ".0"),
// timestamps as UTC DateTime ("…Z"), uuid as a Guid string, binary as base64.
func amqpValueJSON(v any) []byte {
	switch x := v.(type) {
	case nil:
		return []byte("null")
	case time.Time:
		return netJSONDateTime(x)
	case time.Duration: // TimeSpan
		return netQuote(formatTimeSpan(x))
	case []byte:
		return netQuote(base64.StdEncoding.EncodeToString(x))
	case float32:
		return netJSONDouble(float64(x), 32)
	case float64:
		return netJSONDouble(x, 64)
	case fmt.Stringer: // amqp.UUID and other text-like types
		return netQuote(x.String())
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String: // amqp.Symbol
		return netQuote(rv.String())
	case reflect.Bool:
		return []byte(strconv.FormatBool(rv.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return []byte(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return []byte(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Array:
		if rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
			var u uuid.UUID
			reflect.Copy(reflect.ValueOf(u[:]), rv)
			return netQuote(u.String())
		}
	}
	return netQuote(fmt.Sprint(v))
}

// formatTimeSpan is TimeSpan.ToString(): [-][d.]hh:mm:ss[.fffffff].
func formatTimeSpan(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	ticks := int64(d / 100)
	days := ticks / (864e9)
	rem := ticks % 864e9
	h, rem := rem/36e9, rem%36e9
	m, rem := rem/6e8, rem%6e8
	s, frac := rem/1e7, rem%1e7
	out := ""
	if neg {
		out = "-"
	}
	if days > 0 {
		out += strconv.FormatInt(days, 10) + "."
	}
	out += fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	if frac > 0 {
		out += fmt.Sprintf(".%07d", frac)
	}
	return out
}

// orderedJSON is the binding-data dictionary: insertion-ordered, keys compared
// case-insensitively, and an overwrite keeps the first key's spelling and
// position (Dictionary<string, object> with OrdinalIgnoreCase).
type orderedJSON struct {
	keys []string
	vals [][]byte
}

func (o *orderedJSON) set(k string, v []byte) {
	for i, existing := range o.keys {
		if strings.EqualFold(existing, k) {
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// setString adds a string property double-encoded; a nil one is left out, since
// null values never reach Metadata.
func (o *orderedJSON) setString(k string, v *string) {
	if v != nil {
		o.set(k, doubleEncode(*v))
	}
}
