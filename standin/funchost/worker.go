package funchost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// worker is one run of the handler process.
type worker struct {
	id     string // FUNCTIONS_CUSTOMHANDLER_WORKER_ID
	port   int
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed once the process is reaped
	code   int           // exit code, valid after exited is closed
	// killed is set before the host itself kills the process (function timeout,
	// readiness timeout, shutdown); such an exit is not a worker error, as
	// WorkerProcess ignores exits while it is disposing.
	killed  atomic.Bool
	stderr  tail
	outW    *lineWriter
	errW    *lineWriter
	started time.Time
}

func (w *worker) hasExited() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the process group on the host's own initiative.
func (w *worker) kill() {
	if w.hasExited() {
		return
	}
	w.killed.Store(true)
	_ = signalGroup(w.cmd.Process, syscall.SIGKILL)
}

// freePort asks the kernel for an unused loopback port, as
// WorkerUtilities.GetUnusedTcpPort does.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startWorker launches the handler as HttpWorkerProcess.CreateWorkerProcess
// does: the executable from host.json with the expanded arguments and nothing of
// the host's own, in the working directory, with the host's environment, the app
// settings and the FUNCTIONS_* variables.
func (h *Host) startWorker() (*worker, error) {
	w := &worker{id: uuid.NewString(), port: h.port, exited: make(chan struct{})}
	envMapVars := envMap(os.Environ())
	for k, v := range h.app.settings {
		envMapVars[k] = v
	}
	port := strconv.Itoa(w.port)
	extra := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":      port,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID": w.id,
		"FUNCTIONS_HTTPWORKER_PORT":         port,
		"FUNCTIONS_HTTPWORKER_ID":           w.id,
		"FUNCTIONS_APP_ROOT_PATH":           h.app.root,
	}
	for k, v := range extra {
		envMapVars[k] = v
	}
	env := make([]string, 0, len(envMapVars))
	for k, v := range envMapVars {
		env = append(env, k+"="+v)
	}
	var args []string
	for _, a := range h.app.host.Arguments {
		a = expandWindowsVars(a, envMap(os.Environ()), false)
		if a = expandWindowsVars(a, envMapVars, true); a != "" {
			args = append(args, a)
		}
	}
	cmd := exec.Command(h.app.host.ExecutablePath, args...)
	cmd.Dir = h.app.host.WorkingDirectory
	cmd.Env = env
	setProcAttrs(cmd)
	w.outW = &lineWriter{emit: func(line string) { h.handlerStdout(w, line) }}
	w.errW = &lineWriter{emit: func(line string) { h.handlerStderr(w, line) }}
	cmd.Stdout = w.outW
	cmd.Stderr = w.errW
	// After the process dies, stop copying output from any child still holding
	// the pipes instead of waiting forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.cmd, w.pid, w.started = cmd, cmd.Process.Pid, time.Now()
	go func() {
		_ = cmd.Wait()
		w.outW.flush()
		w.errW.flush()
		w.code = exitCode(cmd.ProcessState)
		close(w.exited)
	}()
	return w, nil
}

func (h *Host) handlerStdout(w *worker, line string) {
	if rest, ok := strings.CutPrefix(line, "LanguageWorkerConsoleLog"); ok {
		h.log.logf(LevelInformation, catWorker, "%s", strings.TrimSpace(rest))
	} else {
		h.log.logf(LevelInformation, catConsole, "%s", line)
	}
	if h.opts.HandlerStdout != nil {
		h.teeMu.Lock()
		_, _ = h.opts.HandlerStdout.Write([]byte(line + "\n"))
		h.teeMu.Unlock()
	}
}

// handlerStderr logs a stderr line as Error, or Warning when it mentions
// "warn" (WorkerProcess.ParseErrorMessageAndLog with UseStdErrorStreamForErrorsOnly).
func (h *Host) handlerStderr(w *worker, line string) {
	w.stderr.add(line)
	level := LevelError
	if strings.Contains(strings.ToLower(line), "warn") {
		level = LevelWarning
	}
	h.log.logf(level, catConsole, "%s", line)
	if h.opts.HandlerStderr != nil {
		h.teeMu.Lock()
		_, _ = h.opts.HandlerStderr.Write([]byte(line + "\n"))
		h.teeMu.Unlock()
	}
}

var (
	errReadyTimeout error = hostError("Initializing HttpWorker timed out.")
	errExited             = errors.New("handler exited")
)

// waitReady polls GET / every ReadyPollInterval until any HTTP answer arrives
// (DefaultHttpWorkerService.IsWorkerReady): only a refused connection means "not
// yet"; any other error also counts as ready.
func (h *Host) waitReady(ctx context.Context, w *worker) error {
	deadline := time.NewTimer(h.readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(h.opts.ReadyPollInterval)
	defer tick.Stop()
	url := "http://127.0.0.1:" + strconv.Itoa(w.port) + "/"
	for {
		if w.hasExited() {
			return errExited
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		resp, err := h.pingClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.exited:
			return errExited
		case <-deadline.C:
			return errReadyTimeout
		case <-tick.C:
		}
	}
}

// pingLoop sends the periodic GET / the host's performance and concurrency
// managers send while the worker runs. Failures are only logged: the host does
// not act on them either.
func (h *Host) pingLoop(w *worker) {
	if h.opts.PingInterval <= 0 {
		return
	}
	t := time.NewTicker(h.opts.PingInterval)
	defer t.Stop()
	url := "http://127.0.0.1:" + strconv.Itoa(w.port) + "/"
	for {
		select {
		case <-w.exited:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := h.pingClient.Do(req)
		cancel()
		if err != nil {
			if !w.hasExited() {
				h.log.logf(LevelWarning, catWorker, "Ping of the handler (pid %d) failed: %v", w.pid, err)
			}
			continue
		}
		resp.Body.Close()
	}
}

// ErrWorkerErrors is wrapped by Run's error when the handler failed too often
// (the third worker error within 30 minutes) and the host shut down, as the
// real host does; in Azure the platform then starts a new host instance.
var ErrWorkerErrors error = hostError("Exceeded http worker restart retry count. Shutting down Functions Host")

// Thresholds of HttpFunctionInvocationDispatcher: the third worker error within
// 30 minutes stops the host instead of restarting the worker.
const (
	errorEventsThreshold = 3
	errorEventsWindow    = 30 * time.Minute
)

// workerError records an error event; it reports whether the host must stop.
func (h *Host) workerError(reason string) bool {
	now := time.Now()
	h.mu.Lock()
	h.stats.WorkerErrors++
	kept := h.errorTimes[:0]
	for _, t := range h.errorTimes {
		if now.Sub(t) < errorEventsWindow {
			kept = append(kept, t)
		}
	}
	h.errorTimes = append(kept, now)
	n := len(h.errorTimes)
	h.mu.Unlock()
	h.log.logf(LevelError, catWorker, "Http worker error (%d of %d within %s): %s", n, errorEventsThreshold, errorEventsWindow, reason)
	return n >= errorEventsThreshold
}

// supervise runs the handler until ctx ends: start, wait until ready, serve,
// and on exit restart or not as the real host does (docs/functions-host.md §8.1).
func (h *Host) supervise(ctx context.Context) error {
	for first := true; ; first = false {
		if ctx.Err() != nil {
			h.setState(stateStopped, nil)
			return nil
		}
		h.setState(stateStarting, nil)
		w, err := h.startWorker()
		h.mu.Lock()
		if !first {
			h.stats.Restarts++
		}
		if err == nil {
			h.stats.HandlerStarts++
		}
		h.mu.Unlock()
		if err != nil {
			if h.workerError(fmt.Sprintf("starting %s failed: %v", h.app.host.ExecutablePath, err)) {
				h.setState(stateStopped, nil)
				return ErrWorkerErrors
			}
			continue
		}
		h.log.logf(LevelInformation, catWorker, "Started handler %s (pid %d, port %d, worker id %s)", h.app.host.ExecutablePath, w.pid, w.port, w.id)
		h.mu.Lock()
		h.pid = w.pid
		h.mu.Unlock()

		switch err := h.waitReady(ctx, w); {
		case err == nil:
			h.httpTransport.CloseIdleConnections() // connections to a previous process are dead
			h.setState(stateReady, w)
			h.log.logf(LevelInformation, catWorker, "Handler is ready after %s", time.Since(w.started).Round(time.Millisecond))
			go h.pingLoop(w)
			select {
			case <-ctx.Done():
				h.setState(stateStopped, nil)
				h.stopWorker(w)
				return nil
			case <-w.exited:
			}
		case errors.Is(err, errReadyTimeout):
			w.kill()
			<-w.exited
			h.setState(stateStarting, nil)
			h.clearPID(w)
			if h.workerError(fmt.Sprintf("%v The handler did not answer GET / on 127.0.0.1:%d within %s.", errReadyTimeout, w.port, h.readyTimeout)) {
				h.setState(stateStopped, nil)
				return ErrWorkerErrors
			}
			continue
		case errors.Is(err, errExited):
		default: // ctx ended while waiting
			h.setState(stateStopped, nil)
			h.stopWorker(w)
			return nil
		}

		// The process has exited.
		h.setState(stateStarting, nil)
		h.clearPID(w)
		if w.killed.Load() {
			h.log.logf(LevelInformation, catWorker, "Handler (pid %d) was killed by the host; restarting it", w.pid)
			continue
		}
		switch w.code {
		case 0:
			h.log.logf(LevelError, catWorker, "Handler (pid %d) exited with code 0. The host does not restart a worker that exits cleanly; "+
				"the function stays broken until the host restarts.", w.pid)
			h.mu.Lock()
			h.stats.HandlerBroken = true
			h.mu.Unlock()
			h.setState(stateBroken, nil)
			<-ctx.Done()
			h.setState(stateStopped, nil)
			return nil
		case 200:
			h.log.logf(LevelInformation, catWorker, "Handler (pid %d) exited with code 200 (intentional restart); restarting it", w.pid)
			continue
		default:
			msg := fmt.Sprintf("Handler (pid %d) exited with code %d", w.pid, w.code)
			if t := w.stderr.String(); t != "" {
				msg += "; stderr tail:\n" + t
			}
			if h.workerError(msg) {
				h.setState(stateStopped, nil)
				return ErrWorkerErrors
			}
		}
	}
}

func (h *Host) clearPID(w *worker) {
	h.mu.Lock()
	if h.pid == w.pid {
		h.pid = 0
	}
	h.mu.Unlock()
}

// stopWorker ends the handler on shutdown as the real host disposes its worker:
// Process.Kill — SIGKILL, no SIGTERM first (docs/functions-host.md §8.3), so a
// handler can never count on a graceful signal to keep its messages safe. It
// returns once the process is reaped.
func (h *Host) stopWorker(w *worker) {
	if w.hasExited() {
		return
	}
	h.log.logf(LevelInformation, catWorker, "Stopping handler (pid %d): killing it, as the host disposes its worker", w.pid)
	w.kill()
	<-w.exited
	h.clearPID(w)
}

// recycle kills the worker that ran a timed-out invocation, as
// RestartWorkerWithInvocationIdAsync → DisposeAndRestartWorkerChannel does
// (Process.Kill, no graceful signal). Every other invocation on it then fails.
func (h *Host) recycle(w *worker, invocationID string) {
	h.mu.Lock()
	if h.cur == w {
		h.setStateLocked(stateStarting, nil)
	}
	h.mu.Unlock()
	if w.hasExited() {
		return
	}
	h.log.logf(LevelError, catHost, "A function timeout has occurred. Restarting worker process executing invocationId '%s'.", invocationID)
	w.kill()
}
