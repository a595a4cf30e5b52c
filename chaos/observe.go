package chaos

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// teeLines copies everything to out and calls fn with each complete line; several goroutines may write.
func teeLines(out io.Writer, fn func([]byte)) io.Writer {
	return syncio.Writer(io.MultiWriter(out, syncio.Lines(fn)))
}

// busEvent is one line of the Service Bus emulator's event log, the fields the run reads.
type busEvent struct {
	TS        time.Time `json:"ts"`
	Event     string    `json:"event"`
	Queue     string    `json:"queue"`
	MessageID string    `json:"messageId"`
	Target    string    `json:"target"`
	Audience  string    `json:"audience"`
	Status    int       `json:"status"`
	What      string    `json:"what"`
	Scheduled bool      `json:"scheduled"`
}

// busLog keeps the emulator's events and tells the run when an acknowledgement is held. Its Write runs on
// the goroutine copying the emulator's stderr: it must never block, or the emulator stalls on its pipe.
type busLog struct {
	mu     sync.Mutex
	events []busEvent
	held   chan busEvent
}

func newBusLog() *busLog { return &busLog{held: make(chan busEvent, 64)} }

func (b *busLog) line(raw []byte) {
	var ev busEvent
	if json.Unmarshal(raw, &ev) != nil || ev.Event == "" {
		return
	}
	b.mu.Lock()
	b.events = append(b.events, ev)
	b.mu.Unlock()
	if ev.Event == "ack-held" {
		select {
		case b.held <- ev:
		default:
		}
	}
}

func (b *busLog) all() []busEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]busEvent(nil), b.events...)
}

// logLine is the handler's one JSON line per invocation, the fields the run reads.
type logLine struct {
	Time              time.Time `json:"time"`
	Outcome           string    `json:"outcome"`
	ObjectID          string    `json:"objectId"`
	MessageID         string    `json:"messageId"`
	OriginalMessageID string    `json:"originalMessageId"`
	Attempt           int       `json:"attempt"`
	GraphStatus       int       `json:"graphStatus"`
	GraphRequestID    string    `json:"graphRequestId"`
	DeadLetterReason  string    `json:"deadLetterReason"`
	RetryAt           time.Time `json:"retryAt"`
	Description       string    `json:"description"`
	Error             string    `json:"error"`
}

// handlerLog collects the handler's invocation lines from its stdout.
type handlerLog struct {
	mu    sync.Mutex
	lines []logLine
}

func (h *handlerLog) line(raw []byte) {
	var l logLine
	if json.Unmarshal(raw, &l) != nil || l.Outcome == "" {
		return
	}
	h.mu.Lock()
	h.lines = append(h.lines, l)
	h.mu.Unlock()
}

func (h *handlerLog) all() []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logLine(nil), h.lines...)
}

// invocations collects what the host stand-ins report, across host instances.
type invocations struct {
	mu   sync.Mutex
	list []funchost.Invocation
}

func (v *invocations) add(inv funchost.Invocation) {
	v.mu.Lock()
	v.list = append(v.list, inv)
	v.mu.Unlock()
}

func (v *invocations) all() []funchost.Invocation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]funchost.Invocation(nil), v.list...)
}
