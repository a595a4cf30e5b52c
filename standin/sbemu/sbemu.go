// Package sbemu starts the local Service Bus emulator (the Node.js + rhea program in
// standin/sbemu/emulator) for Go tests, the local stack and `go run ./standin servicebus`.
//
// The emulator speaks plain AMQP 1.0 on 127.0.0.1, and the real azservicebus client talks to it
// through an emulator connection string:
//
//	e, err := sbemu.Start(ctx, sbemu.Options{Queues: []sbemu.Queue{{Name: "purge-requests", DuplicateDetection: true}}})
//	...
//	defer e.Close()
//	client, err := azservicebus.NewClientFromConnectionString(e.ConnectionString(), nil)
//
// In tests, StartT does the same, fails the test if the emulator cannot start (it never skips:
// a missing Node.js is a broken environment, not a reason to pass), and stops it in Cleanup.
//
// The child process cannot outlive its parent: Close stops it, so does cancelling the context
// given to Start, it exits when its stdin (held by this process) closes, on Linux the kernel
// kills it when the parent dies (Pdeathsig), and the emulator has a maximum lifetime of its own
// (SBEMU_MAX_LIFETIME, 30 minutes by default, inherited from the environment). Nor does it stop
// before its parent says so: on Linux it runs in a process group of its own, so a Ctrl-C at the
// terminal reaches only the parent, which can stop the host and handler first.
package sbemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/entra-purge/entra-purge/standin/syncio"
)

// The shared access key the emulator checks put-tokens against: the emulator's own defaults and
// the sample local settings' key.
const (
	DefaultKeyName = "RootManageSharedAccessKey"
	DefaultKey     = "SAS_KEY_VALUE"
)

// startTimeout bounds the wait for the emulator's LISTENING line.
const startTimeout = 15 * time.Second

// stopTimeout is how long Close waits after SIGTERM before it kills the process.
const stopTimeout = 3 * time.Second

// Queue describes one queue of the emulated namespace. Zero values take the emulator's defaults:
// MaxDeliveryCount 10, LockDuration 30s, no duplicate detection. Each queue also has a
// dead-letter sub-queue, "<Name>/$DeadLetterQueue". Names are case-insensitive.
type Queue struct {
	Name             string
	MaxDeliveryCount int
	LockDuration     time.Duration
	// DuplicateDetection drops (silently, as Service Bus does) a message whose MessageID was
	// already accepted by the queue within the last 10 minutes.
	DuplicateDetection bool
	// MaxMessageSize is the largest message the queue accepts, in bytes (0: 256 KiB, the Standard tier's
	// limit; Premium's default is 1 MiB).
	MaxMessageSize int
}

// Options configures Start. The zero value is usable but has no queues.
type Options struct {
	Queues []Queue
	// Dir is the emulator's directory (standin/sbemu/emulator). Empty: found by walking up from the
	// working directory to the directory holding go.mod.
	Dir string
	// Port is the AMQP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives the emulator's stderr: one JSON event per line ("enqueue", "deliver",
	// "complete", "lock-expired", ...). Nil discards it. Write errors are ignored.
	Log io.Writer
}

// Emulator is a running emulator process.
type Emulator struct {
	cmd   *exec.Cmd
	port  int
	stdin *os.File    // admin commands go to it; closing it tells the emulator to exit
	logs  *tailWriter // recent stderr, for error messages

	adminMu  sync.Mutex // one command written at a time
	adminSeq atomic.Int64
	replies  sync.Map // command id -> chan adminReply

	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed

	closeOnce sync.Once
	closing   chan struct{} // closed when Close starts
	closeErr  error
}

// Start runs `node server.js` in the emulator directory and waits (at most 15 s) until it
// listens. Cancelling ctx stops the emulator, just like Close; it does not need to stay alive
// after Close. Errors name the missing piece: Node.js not on PATH, dependencies not installed
// ("run `make deps`"), a rejected queue spec, or the emulator's last log lines if it exited.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	dir, err := emulatorDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("sbemu: Node.js (20 or later) is needed to run the Service Bus emulator, and `node` is not on PATH: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "rhea")); err != nil {
		return nil, fmt.Errorf("sbemu: the emulator's dependencies are not installed in %s: run `make deps` (npm ci in standin/sbemu/emulator)", dir)
	}
	spec, err := queueSpecs(opts.Queues)
	if err != nil {
		return nil, err
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("sbemu: invalid port %d", opts.Port)
	}
	e := &Emulator{
		logs:    newTailWriter(opts.Log),
		exited:  make(chan struct{}),
		closing: make(chan struct{}),
	}

	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sbemu: %w", err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, fmt.Errorf("sbemu: %w", err)
	}

	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	// Later entries win, so these override anything of the same name in the environment;
	// other SBEMU_* settings (SBEMU_MAX_LIFETIME) pass through.
	cmd.Env = append(os.Environ(),
		"SBEMU_PORT="+strconv.Itoa(opts.Port),
		"SBEMU_QUEUES="+spec,
		"SBEMU_KEY_NAME="+DefaultKeyName,
		"SBEMU_KEY="+DefaultKey,
		"SBEMU_EXIT_ON_STDIN_CLOSE=1",
		"SBEMU_ADMIN_STDIN=1",
	)
	cmd.Stdin = stdinR
	cmd.Stdout = stdoutW
	cmd.Stderr = io.MultiWriter(e.logs, syncio.Lines(e.onEvent))
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	// The child holds its own copies of these ends now.
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		stdinW.Close()
		stdoutR.Close()
		return nil, fmt.Errorf("sbemu: starting node: %w", err)
	}
	e.cmd = cmd
	e.stdin = stdinW

	go func() {
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	go func() {
		select {
		case <-ctx.Done():
			e.Close()
		case <-e.closing:
		case <-e.exited:
		}
	}()

	ports := make(chan int, 1)
	go readStdout(stdoutR, ports)

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case e.port = <-ports:
		return e, nil
	case <-e.exited:
		return nil, fmt.Errorf("sbemu: the emulator exited before listening (%v)%s", e.waitErr, e.logs.excerpt())
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("sbemu: waiting for the emulator to listen: %w", ctx.Err())
	case <-timer.C:
		e.Close()
		return nil, fmt.Errorf("sbemu: the emulator did not print LISTENING within %s%s", startTimeout, e.logs.excerpt())
	}
}

// readStdout reports the port from the first `LISTENING <port>` line, then keeps draining stdout
// so the emulator never blocks on a full pipe.
func readStdout(r *os.File, ports chan<- int) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	reported := false
	for sc.Scan() {
		if reported {
			continue
		}
		if rest, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
			if p, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil && p > 0 {
				ports <- p
				reported = true
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// ConnectionString returns the emulator connection string for azservicebus:
// Endpoint=sb://127.0.0.1:PORT;SharedAccessKeyName=...;SharedAccessKey=...;UseDevelopmentEmulator=true
func (e *Emulator) ConnectionString() string {
	return fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=%s;SharedAccessKey=%s;UseDevelopmentEmulator=true",
		e.port, DefaultKeyName, DefaultKey)
}

// Port returns the AMQP port the emulator listens on.
func (e *Emulator) Port() int { return e.port }

// PID returns the emulator's process id.
func (e *Emulator) PID() int { return e.cmd.Process.Pid }

// Close stops the emulator (SIGTERM, then a kill after 3 s) and waits for it to exit. It is
// safe to call more than once and from several goroutines. It reports an error only if the
// emulator had already died on its own with a failure status.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		close(e.closing)
		select {
		case <-e.exited:
			// It stopped by itself before Close: only a failure exit is worth reporting.
			if e.waitErr != nil {
				e.closeErr = fmt.Errorf("sbemu: the emulator exited unexpectedly (%v)%s", e.waitErr, e.logs.excerpt())
			}
			e.stdin.Close()
			return
		default:
		}
		e.stdin.Close()
		if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = e.cmd.Process.Kill()
		}
		select {
		case <-e.exited:
		case <-time.After(stopTimeout):
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
	})
	return e.closeErr
}

// recentLog returns the last lines the emulator wrote to stderr.
func (e *Emulator) recentLog() string { return e.logs.String() }

// ModuleDir is the emulator's directory relative to the module root (the directory holding go.mod).
const ModuleDir = "standin/sbemu/emulator"

// emulatorDir returns the absolute emulator directory: dir if given, otherwise ModuleDir under the
// directory holding go.mod, searched upwards from the working directory.
func emulatorDir(dir string) (string, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", fmt.Errorf("sbemu: %w", err)
		}
		if _, err := os.Stat(filepath.Join(abs, "server.js")); err != nil {
			return "", fmt.Errorf("sbemu: %s is not the emulator directory (no server.js)", abs)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("sbemu: %w", err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return emulatorDir(filepath.Join(d, filepath.FromSlash(ModuleDir)))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("sbemu: no go.mod above %s; set Options.Dir to the standin/sbemu/emulator directory", wd)
		}
		d = parent
	}
}

// queueSpecs renders queues in the emulator's SBEMU_QUEUES syntax:
// name[:maxDeliveryCount=N][:lockDuration=Nms][:duplicateDetection=true][:maxMessageSize=N],...
func queueSpecs(queues []Queue) (string, error) {
	seen := make(map[string]bool, len(queues))
	specs := make([]string, 0, len(queues))
	for _, q := range queues {
		if q.Name == "" || strings.ContainsAny(q.Name, ",:=$ \t") {
			return "", fmt.Errorf("sbemu: invalid queue name %q", q.Name)
		}
		key := strings.ToLower(q.Name)
		if seen[key] {
			return "", fmt.Errorf("sbemu: queue %q listed twice (names are case-insensitive)", q.Name)
		}
		seen[key] = true
		spec := q.Name
		switch {
		case q.MaxDeliveryCount < 0:
			return "", fmt.Errorf("sbemu: queue %q: negative MaxDeliveryCount", q.Name)
		case q.MaxDeliveryCount > 0:
			spec += ":maxDeliveryCount=" + strconv.Itoa(q.MaxDeliveryCount)
		}
		switch {
		case q.LockDuration < 0 || (q.LockDuration > 0 && q.LockDuration < time.Millisecond):
			return "", fmt.Errorf("sbemu: queue %q: LockDuration must be at least 1ms", q.Name)
		case q.LockDuration > 0:
			spec += ":lockDuration=" + strconv.FormatInt(q.LockDuration.Milliseconds(), 10) + "ms"
		}
		if q.DuplicateDetection {
			spec += ":duplicateDetection=true"
		}
		switch {
		case q.MaxMessageSize < 0:
			return "", fmt.Errorf("sbemu: queue %q: negative MaxMessageSize", q.Name)
		case q.MaxMessageSize > 0:
			spec += ":maxMessageSize=" + strconv.Itoa(q.MaxMessageSize)
		}
		specs = append(specs, spec)
	}
	return strings.Join(specs, ","), nil
}

// tailWriter forwards the emulator's stderr to an optional writer and keeps the last lines for
// error messages. It never returns an error: a failing log writer must not stall the emulator,
// which blocks when its stderr pipe is full.
type tailWriter struct {
	mu    sync.Mutex
	out   io.Writer
	buf   []byte
	limit int
}

func newTailWriter(out io.Writer) *tailWriter {
	return &tailWriter{out: out, limit: 64 << 10}
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out != nil {
		_, _ = w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.limit; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(w.buf)
	if len(w.buf) >= w.limit {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:] // drop the partial first line
		}
	}
	return s
}

// excerpt returns the last few stderr lines, formatted to follow an error message.
func (w *tailWriter) excerpt() string {
	lines := strings.Split(strings.TrimRight(w.String(), "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	text := strings.TrimSpace(strings.Join(lines, "\n"))
	if text == "" {
		return ""
	}
	return ":\n" + text
}

// EntityState is what clients of a queue see: the failure states a real namespace can be in, for tests of
// how a client survives them (SetEntityState).
type EntityState string

const (
	// EntityActive is normal service.
	EntityActive EntityState = "active"
	// EntityMissing is a queue that does not exist (deleted, or never created): its open links are
	// detached and new links and put-tokens are refused with amqp:not-found, which azservicebus reports as
	// CodeNotFound. Unlike a real deletion its messages are kept, so a test can still account for every one
	// once the queue is back.
	EntityMissing EntityState = "missing"
	// EntityUnreachable is a queue nothing reaches: links attach, but sends are neither stored nor
	// answered (the sender times out), $management requests and settlements get no reply and nothing is
	// delivered.
	EntityUnreachable EntityState = "unreachable"
)

// SetEntityState puts queue (and its dead-letter queue) in state, until the next call. It returns once
// the emulator has applied it.
func (e *Emulator) SetEntityState(ctx context.Context, queue string, state EntityState) error {
	_, err := e.admin(ctx, map[string]any{"op": "entity", "queue": queue, "state": string(state)})
	return err
}

// HoldAck arms a hold on queue: the next message stored there (only a scheduled one, with scheduledOnly)
// is kept but its sender is not told until ReleaseAcks. The emulator logs an "ack-held" event when it is
// stored — the moment to crash a client that has sent a message without knowing it.
func (e *Emulator) HoldAck(ctx context.Context, queue string, scheduledOnly bool) error {
	_, err := e.admin(ctx, map[string]any{"op": "hold-ack", "queue": queue, "scheduledOnly": scheduledOnly})
	return err
}

// ReleaseAcks acknowledges every held message whose sender link is still open and disarms unused holds;
// it returns how many acknowledgements were sent.
func (e *Emulator) ReleaseAcks(ctx context.Context) (int, error) {
	r, err := e.admin(ctx, map[string]any{"op": "release-acks"})
	return r.Released, err
}

// ErrAdmin is wrapped by the errors of refused admin commands (an unknown queue, say).
var ErrAdmin = errors.New("sbemu: admin command refused")

// adminReply is the emulator's "admin" event answering one command.
type adminReply struct {
	ID       string `json:"id"`
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Released int    `json:"released"`
}

// admin writes one command on the emulator's stdin and waits for the admin event with its id.
func (e *Emulator) admin(ctx context.Context, cmd map[string]any) (adminReply, error) {
	id := strconv.FormatInt(e.adminSeq.Add(1), 10)
	cmd["id"] = id
	line, err := json.Marshal(cmd)
	if err != nil {
		return adminReply{}, err
	}
	ch := make(chan adminReply, 1)
	e.replies.Store(id, ch)
	defer e.replies.Delete(id)
	e.adminMu.Lock()
	_, err = e.stdin.Write(append(line, '\n'))
	e.adminMu.Unlock()
	if err != nil {
		return adminReply{}, fmt.Errorf("sbemu: writing admin command %s: %w", cmd["op"], err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r, fmt.Errorf("%w: %s: %s", ErrAdmin, cmd["op"], r.Error)
		}
		return r, nil
	case <-e.exited:
		return adminReply{}, fmt.Errorf("sbemu: the emulator exited before answering admin command %s", cmd["op"])
	case <-ctx.Done():
		return adminReply{}, fmt.Errorf("sbemu: admin command %s: %w", cmd["op"], ctx.Err())
	}
}

// onEvent routes the answers to admin commands to their callers.
func (e *Emulator) onEvent(line []byte) {
	if !bytes.Contains(line, []byte(`"event":"admin"`)) {
		return
	}
	var r adminReply
	if json.Unmarshal(line, &r) != nil {
		return
	}
	if ch, ok := e.replies.Load(r.ID); ok {
		select {
		case ch.(chan adminReply) <- r:
		default:
		}
	}
}
