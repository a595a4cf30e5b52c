// Package server is the handler's HTTP side: it answers the Functions host's readiness probe and turns each
// invocation of the purge function into a decision (package purge), secures the message on Service Bus when
// the decision needs it (package bus), logs one JSON line, and answers the host.
//
// The answer is 200 whenever the message is secured — purged, absent, a retry copy sent, a failure copy
// sent, or nothing to write in dry run — and 500 only when it is not, so the host abandons the message and
// Service Bus redelivers it: nothing is ever lost silently.
package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/rs/zerolog"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/funcproto"
	"github.com/entra-purge/entra-purge/internal/purge"
)

// FunctionName and BindingName must match purge/function.json: the host POSTs to /<folder name> and puts
// the message under Data.<binding name>. A test checks the file.
const (
	FunctionName = "purge"
	BindingName  = "message"
)

// Publisher sends a message to a queue; *bus.Client implements it.
type Publisher interface {
	Send(ctx context.Context, queue string, msg *azservicebus.Message) error
}

// Server handles the host's requests. Set every field before serving.
type Server struct {
	Processor   *purge.Processor
	Bus         Publisher
	Queue       string // the trigger queue, for retry copies
	FailedQueue string
	// Timeout bounds one invocation; SettleReserve of it is kept for sending the copy after Graph.
	Timeout       time.Duration
	SettleReserve time.Duration
	// Log receives one JSON line per invocation (stdout: the host records it as Information).
	Log io.Writer
	// Stderr receives the reason before any non-2xx answer (the host drops that answer's body).
	Stderr io.Writer
	Level  zerolog.Level
	Now    func() time.Time

	logMu sync.Mutex
}

// Handler returns the HTTP handler: GET / for readiness and pings, POST /purge for invocations.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	mux.HandleFunc("POST /"+FunctionName, s.invoke)
	return mux
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	invocationID := r.Header.Get("X-Azure-Functions-InvocationId")
	ctx, cancel := context.WithTimeout(r.Context(), s.Timeout)
	defer cancel()

	inv, err := funcproto.DecodeInvocation(r.Body)
	var msg *funcproto.Message
	if err == nil {
		msg, err = inv.ServiceBusMessage(BindingName)
	}
	if err != nil {
		// The envelope itself is broken: there is no body to copy, so the only safe answer is a failure,
		// which makes the host abandon and Service Bus redeliver (and eventually dead-letter) the message.
		s.stderr("entra-purge: invocation %s not processed, the host will abandon the message: %v", invocationID, err)
		funcproto.WriteResponse(w, http.StatusInternalServerError, funcproto.Response{})
		return
	}

	d := delivery(msg, s.now())
	graphCtx, cancelGraph := context.WithTimeout(ctx, s.Timeout-s.SettleReserve)
	dec := s.Processor.Decide(graphCtx, d)
	cancelGraph()

	orig := bus.Original{
		Body: msg.Body, MessageID: msg.MessageID, CorrelationID: msg.CorrelationID, ContentType: msg.ContentType,
		OriginalMessageID: d.OriginalMessageID, FirstRequested: d.FirstRequested,
	}
	settled := "none"
	var sendErr error
	if !dec.DryRunOnly {
		switch dec.Outcome {
		case purge.RetryScheduled:
			settled = "retry-copy:" + s.Queue
			sendErr = s.Bus.Send(ctx, s.Queue, bus.RetryCopy(orig, dec))
		case purge.Failed:
			settled = "failure-queue:" + s.FailedQueue
			sendErr = s.Bus.Send(ctx, s.FailedQueue, bus.FailureCopy(orig, dec, s.now()))
		}
	}

	line := s.logLine(dec, d, msg, invocationID, settled, sendErr, s.now().Sub(start))
	if sendErr != nil {
		s.stderr("entra-purge: message %s for object %s not secured (%s), answering 500 so the host abandons it and Service Bus redelivers it: %v",
			msg.MessageID, dec.Request.ID, dec.Outcome, sendErr)
		funcproto.WriteResponse(w, http.StatusInternalServerError, funcproto.Response{})
		return
	}
	funcproto.WriteResponse(w, http.StatusOK, funcproto.Response{Logs: []string{line}})
}

// delivery reads the retry bookkeeping the handler's own copies carry (PurgeAttempt, PurgeFirstRequested,
// OriginalMessageId); a first delivery has none of them.
func delivery(m *funcproto.Message, now time.Time) purge.Delivery {
	d := purge.Delivery{
		Body: m.Body, MessageID: m.MessageID, DeliveryCount: m.DeliveryCount,
		Attempt: 1, FirstRequested: m.EnqueuedTime, OriginalMessageID: m.MessageID,
	}
	props := m.ApplicationProperties
	if v, ok := props[bus.PropAttempt].(float64); ok && v >= 1 && v < 1e6 {
		d.Attempt = int(v)
	}
	if v, ok := props[bus.PropFirstRequested].(string); ok {
		if t, ok := funcproto.ParseHostTime(v); ok {
			d.FirstRequested = t
		}
	}
	if v, ok := props[bus.PropOriginalMessageID].(string); ok && v != "" {
		d.OriginalMessageID = v
	}
	if d.FirstRequested.IsZero() {
		d.FirstRequested = now
	}
	return d
}

// logLine writes the invocation's one JSON line to Log and returns it for the answer's Logs.
func (s *Server) logLine(dec purge.Decision, d purge.Delivery, m *funcproto.Message, invocationID, settled string, sendErr error, took time.Duration) string {
	var buf bytes.Buffer
	lg := zerolog.New(&buf).Level(s.Level).With().Time(zerolog.TimestampFieldName, s.now()).Logger()
	level := zerolog.InfoLevel
	switch {
	case sendErr != nil:
		level = zerolog.ErrorLevel
	case dec.Outcome == purge.Failed:
		level = zerolog.ErrorLevel
	case dec.Outcome == purge.Absent:
		level = zerolog.WarnLevel
	}
	ev := lg.WithLevel(level).
		Str("outcome", string(dec.Outcome)).
		Str("objectId", dec.Request.ID.String()).
		Str("objectType", string(dec.ObjectType)).
		Str("messageId", m.MessageID).
		Str("originalMessageId", d.OriginalMessageID).
		Str("invocationId", invocationID).
		Int("deliveryCount", m.DeliveryCount).
		Int("attempt", dec.Attempt).
		Int("graphStatus", dec.Graph.Status).
		Str("graphErrorCode", dec.Graph.Code).
		Str("graphRequestId", dec.Graph.RequestID).
		Int64("durationMs", took.Milliseconds()).
		Str("reason", dec.Request.Reason).
		Str("requestedBy", dec.Request.RequestedBy).
		Str("correlationId", dec.Request.CorrelationID).
		Str("settlement", settled).
		Str("description", dec.Description)
	if dec.Graph.Method != "" {
		ev = ev.Str("graphMethod", dec.Graph.Method)
	}
	if dec.Reason != "" {
		ev = ev.Str("deadLetterReason", string(dec.Reason))
	}
	if dec.Outcome == purge.RetryScheduled {
		ev = ev.Time("retryAt", dec.RetryAt).Int("nextAttempt", dec.NextAttempt).Bool("deferred", dec.Deferred)
	}
	if dec.DryRunOnly {
		ev = ev.Bool("dryRun", true)
	}
	if sendErr != nil {
		ev = ev.Str("error", "message not secured: "+sendErr.Error())
	}
	ev.Msg("purge " + string(dec.Outcome))
	line := strings.TrimRight(buf.String(), "\n")
	if line != "" && s.Log != nil {
		s.logMu.Lock()
		_, _ = fmt.Fprintln(s.Log, line)
		s.logMu.Unlock()
	}
	return line
}

func (s *Server) stderr(format string, args ...any) {
	if s.Stderr == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	_, _ = fmt.Fprintf(s.Stderr, format+"\n", args...)
}
