// Package server is the handler's HTTP side: it answers the Functions host's readiness probe, runs the
// retention sweep's timer invocations (package sweep; sweep.go), and turns each invocation of the purge
// function into a decision (package purge), secures the message on Service Bus when
// the decision needs it (the copy from package message, sent through a Publisher), logs one JSON line, and
// answers the host.
//
// The answer is 200 whenever the message is secured — purged, absent, a retry copy sent, a failure copy
// sent, or nothing to write in dry run — and 500 only when it is not, so the host abandons the message and
// Service Bus redelivers it: nothing is ever lost silently.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/entra-purge/entra-purge/internal/funcproto"
	"github.com/entra-purge/entra-purge/internal/message"
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
	Send(ctx context.Context, queue string, m message.Outgoing) error
}

// Options are the optional parts of a [Server]. A nil *Options means defaults.
type Options struct {
	// Timeout bounds one invocation (default 45 s); SettleReserve of it (default: a quarter, between 3 and
	// 15 s) is kept for sending the copy after the Graph calls.
	Timeout       time.Duration
	SettleReserve time.Duration
	// Log receives one JSON line per invocation (stdout: the host records it as Information); nil discards.
	Log io.Writer
	// Stderr receives the reason before any non-2xx answer (the host drops that answer's body); nil discards.
	Stderr io.Writer
	// Level is the lowest level logged; the zero value (debug) logs every line.
	Level zerolog.Level
	// Now defaults to time.Now.
	Now func() time.Time
	// Sweep serves the retention sweep's timer (POST /sweep); the zero value refuses its invocations.
	Sweep Sweep
}

// Server handles the host's requests.
type Server struct {
	proc          *purge.Processor
	pub           Publisher
	queues        message.Queues
	timeout       time.Duration
	settleReserve time.Duration
	log, errOut   io.Writer
	level         zerolog.Level
	now           func() time.Time
	sweep         Sweep
	sweepRun      sweepState

	logMu sync.Mutex
}

// New returns a server that decides with proc and secures messages on queues through pub.
func New(proc *purge.Processor, pub Publisher, queues message.Queues, opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{proc: proc, pub: pub, queues: queues, timeout: opts.Timeout, settleReserve: opts.SettleReserve,
		log: opts.Log, errOut: opts.Stderr, level: opts.Level, now: opts.Now, sweep: opts.Sweep}
	if s.timeout <= 0 {
		s.timeout = 45 * time.Second
	}
	if s.settleReserve <= 0 {
		s.settleReserve = SettleReserve(s.timeout)
	}
	if s.log == nil {
		s.log = io.Discard
	}
	if s.errOut == nil {
		s.errOut = io.Discard
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// SettleReserve is the part of an invocation deadline kept for sending the retry or failure copy after the
// Graph calls: a quarter of it, between 3 and 15 seconds.
func SettleReserve(timeout time.Duration) time.Duration {
	return min(max(timeout/4, 3*time.Second), 15*time.Second)
}

// Handler returns the HTTP handler: GET / for readiness and pings, POST /purge for the queue trigger's
// invocations, POST /sweep for the retention sweep's timer. Every
// answer is a JSON object, also to a route the host never uses, because the host cannot use any other.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	mux.HandleFunc("POST /"+FunctionName, s.invoke)
	mux.HandleFunc("POST /"+SweepFunctionName, s.invokeSweep)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"no such route: this handler serves GET /, POST /`+FunctionName+` and POST /`+SweepFunctionName+`"}`)
	})
	return mux
}

func (s *Server) clock() time.Time { return s.now().UTC() }

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	start := s.clock()
	invocationID := r.Header.Get("X-Azure-Functions-InvocationId")
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()

	inv, err := funcproto.DecodeInvocation(r.Body)
	var msg *message.Delivery
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

	at := msg.Attempt(s.clock())
	var dec purge.Decision
	if req, err := purge.ParseRequest(msg.Body); err != nil {
		dec = s.proc.Invalid(err, at)
	} else {
		graphCtx, cancelGraph := context.WithTimeout(ctx, s.timeout-s.settleReserve)
		dec = s.proc.Decide(graphCtx, req, at)
		cancelGraph()
	}

	settlement := message.Settle(msg, dec, s.queues, s.clock())
	var sendErr error
	if settlement.Kind != purge.SettleNothing {
		sendErr = s.pub.Send(ctx, settlement.Queue, settlement.Copy)
		if settlement.Kind == purge.SettleFailureCopy && errors.Is(sendErr, message.ErrTooLarge) {
			// A body the trigger queue accepted can be too large for the failure queue (a Premium trigger
			// queue, a Standard failure queue): send it cut, and marked, rather than leave it unsecured.
			settlement.Copy = message.CutBody(settlement.Copy)
			sendErr = s.pub.Send(ctx, settlement.Queue, settlement.Copy)
		}
	}

	line := s.logLine(dec, msg, invocationID, settlement, sendErr, s.clock().Sub(start))
	if sendErr != nil {
		s.stderr("entra-purge: message %s for object %s not secured (%s), answering 500 so the host abandons it and Service Bus redelivers it: %v",
			msg.MessageID, dec.Request.ID, dec.Outcome, sendErr)
		funcproto.WriteResponse(w, http.StatusInternalServerError, funcproto.Response{})
		return
	}
	var lines []string
	if line != "" { // empty when PURGE_LOG_LEVEL is above the line's level
		lines = []string{line}
	}
	funcproto.WriteResponse(w, http.StatusOK, funcproto.Response{Logs: lines})
}

// logLine writes the invocation's one JSON line to the log and returns it for the answer's Logs.
func (s *Server) logLine(dec purge.Decision, m *message.Delivery, invocationID string, settlement message.Settlement, sendErr error, took time.Duration) string {
	return s.writeLine(func(lg zerolog.Logger) {
		s.purgeEvent(lg, dec, m, invocationID, settlement, sendErr, took)
	})
}

// purgeEvent builds the purge line's fields on lg: their names are the log contract (docs/contract.md §9).
func (s *Server) purgeEvent(lg zerolog.Logger, dec purge.Decision, m *message.Delivery, invocationID string, settlement message.Settlement, sendErr error, took time.Duration) {
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
		Time(zerolog.TimestampFieldName, s.clock()).
		Str("outcome", string(dec.Outcome)).
		Str("objectId", dec.Request.ID.String()).
		Str("objectType", string(dec.ObjectType)).
		Str("messageId", m.MessageID).
		Str("originalMessageId", m.OriginalMessageID()).
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
		Stringer("settlement", settlement).
		Str("description", dec.Description())
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
}

// writeLine builds one JSON line with build, writes it to the log and returns it ("" when filtered out).
func (s *Server) writeLine(build func(zerolog.Logger)) string {
	buf := linePool.Get().(*bytes.Buffer)
	buf.Reset()
	defer linePool.Put(buf)
	build(zerolog.New(buf).Level(s.level))
	if buf.Len() == 0 {
		return ""
	}
	s.logMu.Lock()
	_, _ = s.log.Write(buf.Bytes())
	s.logMu.Unlock()
	return strings.TrimRight(buf.String(), "\n")
}

// linePool recycles the buffers log lines are built in: one per invocation adds up under load.
var linePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *Server) stderr(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	_, _ = fmt.Fprintf(s.errOut, format+"\n", args...)
}
