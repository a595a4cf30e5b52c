// Package syncio has the goroutine-safe sinks that output from child processes and servers needs: an
// exec.Cmd copies stdout and stderr on goroutines of its own, and a server logs from every request.
package syncio

import (
	"bytes"
	"io"
	"sync"
)

// Buffer is a bytes.Buffer that may be written and read from several goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Writer serialises writes to w, so lines written by several goroutines are never interleaved.
func Writer(w io.Writer) io.Writer { return &lockedWriter{w: w} }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Lines returns a writer that calls fn with each complete line written to it (without the newline).
// Output arrives in arbitrary chunks, so a line may span writes; what follows the last newline waits for
// the next write. It is safe for several goroutines, calls fn under its lock, and never fails.
func Lines(fn func(line []byte)) io.Writer { return &lineWriter{fn: fn} }

type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func([]byte)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.fn(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}
