package funchost

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Level is the severity of a host log line.
type Level string

// The levels the host uses for what it logs itself and for handler output.
const (
	LevelInformation Level = "Information"
	LevelWarning     Level = "Warning"
	LevelError       Level = "Error"
)

// Log categories, named as in the real host so output reads the same.
const (
	catHost    = "Host"
	catConsole = "Host.Function.Console" // handler stdout/stderr
	catWorker  = "Host.Worker"
)

// hostLog writes the host's own log lines: Information and Warning to out,
// Error to errOut, one line each, never interleaved.
type hostLog struct {
	mu     sync.Mutex
	out    io.Writer
	errOut io.Writer
}

func (l *hostLog) logf(level Level, category, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	line := fmt.Sprintf("[%s] %s %s: %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), level, category, msg)
	w := l.out
	if level == LevelError {
		w = l.errOut
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(w, line)
}

// lineWriter splits a process stream into lines for emit; exec.Cmd copies the
// handler's stdout and stderr into one each.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(line string)
}

// maxLine bounds a line without a newline so a handler writing megabytes
// without one cannot grow the buffer without limit.
const maxLine = 1 << 20

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.emit(string(w.buf))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		line := strings.TrimSuffix(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		w.emit(line)
	}
}

// flush emits a final line that had no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// tail keeps the last lines of a stream for error messages, as the host puts the
// stderr tail into its worker-error event.
type tail struct {
	mu    sync.Mutex
	lines []string
}

const tailLines = 8

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
